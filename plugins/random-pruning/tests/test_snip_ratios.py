"""SNIP ratios: layer densities of a global |w * dL/dw| top-k, positions re-drawn at random."""

import pytest
import torch
from torch import nn

from sparsehub.nn.fixtures import tiny_cnn
from sparsehub_random_pruning import RandomPruner, snip_densities


def model_and_batch(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    return model, (torch.randn(32, 12), torch.randint(0, 4, (32,)))


def test_snip_densities_are_the_layer_shares_of_a_brute_force_global_top_k():
    model, (X, y) = model_and_batch()
    params = {n: p for n, p in model.named_parameters() if n.endswith("weight")}
    loss = nn.functional.cross_entropy(model(X), y)
    grads = torch.autograd.grad(loss, list(params.values()))
    scores = [(p * g).abs().detach().flatten() for p, g in zip(params.values(), grads)]
    flat = torch.cat(scores)
    k = round(0.2 * flat.numel())
    keep = torch.zeros(flat.numel(), dtype=torch.bool)
    keep[torch.topk(flat, k).indices] = True
    expected, start = {}, 0
    for name, s in zip(params, scores):
        expected[name] = int(keep[start : start + s.numel()].sum()) / s.numel()
        start += s.numel()
    got = snip_densities(model, params, (X, y), 0.2)
    assert got == expected


def test_snip_pruner_keeps_the_ratios_but_draws_positions_at_random():
    model, batch = model_and_batch()
    pruner = RandomPruner(0.2, "snip", seed=0).fit(model, batch)
    for name, mask in pruner.masks_.items():
        assert mask.nnz == round(pruner.densities_[name] * mask.array.size)
    assert abs(pruner.density_ - 0.2) <= 0.5 / sum(m.array.size for m in pruner.masks_.values())
    other = RandomPruner(0.2, "snip", seed=1).fit(model, batch)
    assert other.densities_ == pruner.densities_
    assert any((other.masks_[n].array != pruner.masks_[n].array).any() for n in pruner.masks_)


def test_snip_scoring_leaves_weights_grads_and_batchnorm_statistics_unchanged():
    model = tiny_cnn(seed=0)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = (torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,)))
    RandomPruner(0.1, "snip", seed=0).fit(model, batch)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert model.training


def test_snip_without_data_is_rejected():
    model, _ = model_and_batch()
    with pytest.raises(ValueError, match="data"):
        RandomPruner(0.2, "snip").fit(model)
    with pytest.raises(ValueError, match="data"):
        RandomPruner(0.2, "snip").fit(model, (torch.randn(4, 12), torch.zeros(3, dtype=torch.long)))
