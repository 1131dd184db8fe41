"""The prune step: exact magnitude masks, nested across phases, agreeing with torch's global pruning."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from sparsehub.mask import pruned_count
from sparsehub_sparse_model_soups import magnitude_masks


def _weights(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"a.weight": torch.randn(20, 30, generator=g), "b.weight": torch.randn(10, 20, generator=g) * 0.5}


def test_global_magnitude_prunes_exactly_the_smallest_weights_over_all_tensors():
    w = _weights()
    masks = magnitude_masks(w, 0.7)
    flat = np.concatenate([t.abs().flatten().numpy() for t in w.values()])
    n_pruned = pruned_count(flat.size, 0.7)
    threshold = np.sort(flat)[n_pruned - 1]
    assert sum(m.array.size - m.nnz for m in masks.values()) == n_pruned
    for name, m in masks.items():
        magnitudes = w[name].abs().numpy()
        assert (magnitudes[~m.array] <= threshold).all()
        assert (magnitudes[m.array] > threshold).all()


def test_global_magnitude_masks_match_torch_global_unstructured():
    w = _weights(1)
    model = nn.Module()
    model.a, model.b = nn.Linear(30, 20, bias=False), nn.Linear(20, 10, bias=False)
    with torch.no_grad():
        model.a.weight.copy_(w["a.weight"])
        model.b.weight.copy_(w["b.weight"])
    n_pruned = pruned_count(800, 0.8)
    prune.global_unstructured(
        [(model.a, "weight"), (model.b, "weight")], pruning_method=prune.L1Unstructured, amount=n_pruned
    )
    ours = magnitude_masks(w, 0.8)
    assert torch.equal(ours["a.weight"].to_torch(), model.a.weight_mask.bool())
    assert torch.equal(ours["b.weight"].to_torch(), model.b.weight_mask.bool())


def test_entries_pruned_in_an_earlier_phase_stay_pruned_however_large_they_grow():
    w = _weights()
    first = magnitude_masks(w, 0.5)
    grown = {n: torch.where(m.to_torch(), t, torch.full_like(t, 100.0)) for (n, t), m in zip(w.items(), first.values())}
    second = magnitude_masks(grown, 0.75, previous=first)
    for name in w:
        assert not (second[name].to_torch() & ~first[name].to_torch()).any()
    assert sum(m.array.size - m.nnz for m in second.values()) == pruned_count(800, 0.75)


def test_uniform_pruner_gives_every_tensor_the_target_sparsity_on_its_own():
    w = _weights()
    masks = magnitude_masks(w, 0.9, pruner="uniform")
    for name, m in masks.items():
        assert m.array.size - m.nnz == pruned_count(w[name].numel(), 0.9)


def test_a_sparsity_below_the_previous_phase_is_rejected():
    w = _weights()
    first = magnitude_masks(w, 0.8)
    with pytest.raises(ValueError, match=r"sparsity=0\.5"):
        magnitude_masks(w, 0.5, previous=first)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pruner": "random"}, "pruner='random'"),
        ({"previous": {"a.weight": torch.ones(3, 3, dtype=torch.bool)}}, "previous"),
        ({"sparsity": 1.0}, "sparsity"),
    ],
)
def test_bad_arguments_are_rejected_with_their_name(kwargs, match):
    args = {"weights": _weights(), "sparsity": 0.5, **kwargs}
    with pytest.raises(ValueError, match=match):
        magnitude_masks(**args)
