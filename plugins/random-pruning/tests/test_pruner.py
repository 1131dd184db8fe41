"""RandomPruner: layer densities, exact random masks, fixed masks through training, bad inputs."""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from sparsehub.errors import ShapeError
from sparsehub.nn.allocation import layer_counts
from sparsehub_random_pruning import RandomPruner


def three_layer_mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 20), nn.ReLU(), nn.Linear(20, 5))


def conv_then_linear(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 4, 3, bias=False), nn.Flatten(), nn.Linear(16, 3))


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def realised(masks):
    return sum(m.nnz for m in masks.values()) / sum(m.array.size for m in masks.values())


# --- layer densities ------------------------------------------------------------------------------


def test_erk_densities_match_the_hand_computed_clamp_case():
    # r = (10+20)/200, (20+20)/400, (20+5)/100 = 0.15, 0.1, 0.25; N = 200, 400, 100; D = 0.7.
    # One solve: eps = 490 / 95, so the last layer asks for 0.25 * 5.158 = 1.29 > 1 -> dense;
    # re-solve over the other two: eps = (490 - 100) / 70 = 39/7, d = 0.15 * 39/7, 0.1 * 39/7.
    pruner = RandomPruner(0.7, "erk", seed=0).fit(three_layer_mlp())
    d = pruner.densities_
    assert list(d) == ["0.weight", "2.weight", "4.weight"]
    assert d["0.weight"] == pytest.approx(117 / 140, abs=1e-12)
    assert d["2.weight"] == pytest.approx(39 / 70, abs=1e-12)
    assert d["4.weight"] == 1.0


def test_erk_counts_kernel_dims_and_er_does_not():
    # conv (4, 2, 3, 3): N = 72, r_ERK = 12/72, r_ER = 6/8; linear (3, 16): N = 48, r = 19/48.
    # D = 0.5 -> budget 60; ERK: eps = 60/31; ER: eps = 60/73.
    model = conv_then_linear()
    erk = RandomPruner(0.5, "erk", seed=0).fit(model).densities_
    er = RandomPruner(0.5, "er", seed=0).fit(model).densities_
    assert erk["0.weight"] == pytest.approx(10 / 31, abs=1e-12)
    assert erk["2.weight"] == pytest.approx(19 * 60 / (31 * 48), abs=1e-12)
    assert er["0.weight"] == pytest.approx(45 / 73, abs=1e-12)
    assert er["2.weight"] == pytest.approx(19 * 60 / (73 * 48), abs=1e-12)


def test_erk_without_the_clamp_exceeds_density_one_but_ours_never_does():
    model = three_layer_mlp()
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters() if n.endswith("weight")}
    for density in (0.3, 0.5, 0.7, 0.9):
        sizes = {n: math.prod(s) for n, s in shapes.items()}
        raw = {n: sum(s) / sizes[n] for n, s in shapes.items()}
        eps = density * sum(sizes.values()) / sum(raw[n] * sizes[n] for n in shapes)
        naive_max = eps * max(raw.values())
        pruner = RandomPruner(density, "erk", seed=0).fit(model)
        assert max(pruner.densities_.values()) <= 1.0
        mean = sum(pruner.densities_[n] * sizes[n] for n in shapes) / sum(sizes.values())
        assert mean == pytest.approx(density, abs=1e-12)
        if density >= 0.7:
            assert naive_max > 1.0  # the unclamped solve would ask for more than the layer holds


def test_density_so_high_that_erk_makes_every_layer_dense_terminates():
    pruner = RandomPruner(1.0, "erk", seed=0).fit(three_layer_mlp())
    assert set(pruner.densities_.values()) == {1.0}
    assert all(m.array.all() for m in pruner.masks_.values())
    dense_ish = RandomPruner(0.999, "erk", seed=0).fit(three_layer_mlp())
    assert max(dense_ish.densities_.values()) <= 1.0


def test_uniform_gives_every_layer_the_global_density():
    d = RandomPruner(0.3, "uniform", seed=0).fit(three_layer_mlp()).densities_
    assert all(v == pytest.approx(0.3) for v in d.values())


def test_uniform_plus_keeps_the_first_layer_dense_and_the_last_at_least_a_fifth():
    # N = 160, 1600, 200; at D = 0.15 the middle layer gets (294 - 160 - 40) / 1600.
    model = nn.Sequential(nn.Linear(4, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 5))
    pruner = RandomPruner(0.15, "uniform+", seed=0).fit(model)
    d = pruner.densities_
    assert d["0.weight"] == 1.0
    assert d["4.weight"] == pytest.approx(0.2)
    assert d["2.weight"] == pytest.approx(94 / 1600)
    assert pruner.density_ == pytest.approx(0.15, abs=0.5 / 1960)


# --- masks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("distribution", ["erk", "er", "uniform", "uniform+"])
def test_masks_keep_exact_counts_and_meet_the_global_density(distribution):
    model = three_layer_mlp()
    pruner = RandomPruner(0.35, distribution, seed=3).fit(model)
    expected = layer_counts({n: m.shape for n, m in pruner.masks_.items()}, pruner.densities_)
    assert pruner.counts() == expected
    total = sum(m.array.size for m in pruner.masks_.values())
    assert sum(expected.values()) == round(Fraction("0.35") * total)
    assert abs(pruner.density_ - 0.35) <= 0.5 / total
    assert pruner.density_ == realised(pruner.masks_)


def test_bernoulli_sampling_drifts_from_the_exact_counts():
    model = three_layer_mlp()
    exact = RandomPruner(0.15, "erk", exact=True, seed=0).fit(model)
    drift = RandomPruner(0.15, "erk", exact=False, seed=0).fit(model)
    assert drift.counts() != exact.expected_counts()
    assert exact.counts() == exact.expected_counts()
    # same target densities: only the sampling differs
    assert drift.densities_ == exact.densities_


def test_positions_are_spread_uniformly_at_random():
    # Over many seeds every entry of a layer is kept about d of the time (no positional bias).
    model = nn.Sequential(nn.Linear(8, 8))
    hits = np.zeros((8, 8))
    for seed in range(400):
        hits += RandomPruner(0.25, "uniform", seed=seed).fit(model).masks_["0.weight"].array
    assert hits.sum() == 400 * 16
    assert np.abs(hits / 400 - 0.25).max() < 0.12


def test_same_seed_gives_the_same_masks_and_another_seed_other_masks():
    model = three_layer_mlp()
    a = RandomPruner(0.2, "erk", seed=7).fit(model).masks_
    b = RandomPruner(0.2, "erk", seed=7).fit(model).masks_
    c = RandomPruner(0.2, "erk", seed=8).fit(model).masks_
    assert all(np.array_equal(a[n].array, b[n].array) for n in a)
    assert not all(np.array_equal(a[n].array, c[n].array) for n in a)


def test_seed_none_draws_a_seed_that_reproduces_the_masks():
    model = three_layer_mlp()
    pruner = RandomPruner(0.2, "erk").fit(model)
    again = RandomPruner(0.2, "erk", seed=pruner.seed_).fit(model)
    assert all(np.array_equal(pruner.masks_[n].array, again.masks_[n].array) for n in pruner.masks_)


def test_fit_leaves_the_model_unchanged():
    model = three_layer_mlp()
    before = weights(model)
    RandomPruner(0.1, "erk", seed=0).fit(model)
    after = weights(model)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_exclude_leaves_layers_dense_and_unmasked():
    model = three_layer_mlp()
    pruner = RandomPruner(0.2, "erk", exclude=("last",), seed=0)
    masking = pruner.fit(model).apply(model)
    assert list(pruner.masks_) == ["0.weight", "2.weight"]
    assert masking.names == ("0.weight", "2.weight")
    assert "4.weight_mask" not in model.state_dict()
    assert bool((model[4].weight != 0).all())


def test_prunes_conv_models_with_batchnorm():
    from sparsehub.nn.fixtures import tiny_cnn

    model = tiny_cnn(seed=0)
    pruner = RandomPruner(0.1, "erk", seed=0)
    masking = pruner.fit(model).apply(model)
    assert list(pruner.masks_) == ["0.weight", "4.weight", "9.weight"]
    total = sum(m.array.size for m in pruner.masks_.values())
    assert abs(1 - masking.sparsity() - 0.1) <= 0.5 / total


# --- apply: fixed masks, rescaled init ------------------------------------------------------------


@pytest.mark.parametrize("opt", ["sgd", "adamw"])
def test_masks_and_zeros_survive_optimizer_steps(opt):
    model = three_layer_mlp()
    if opt == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
    pruner = RandomPruner(0.2, "erk", seed=0).fit(model)
    masking = pruner.apply(model, optimizer)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        x, y = torch.randn(16, 10, generator=g), torch.randint(0, 5, (16,), generator=g)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    for name, mask in pruner.masks_.items():
        keep = mask.to_torch()
        w = dict(model.named_parameters())[name]
        assert torch.equal(masking.mask_tensors()[name], keep)
        assert bool((w[~keep] == 0).all())
        if 0 < mask.nnz:
            assert not torch.equal(w[keep], start[name][keep])  # the kept weights did train


def test_rescale_init_divides_the_kept_weights_by_the_sqrt_of_the_layer_density():
    plain, scaled = three_layer_mlp(), three_layer_mlp()
    original = weights(plain)
    RandomPruner(0.2, "erk", rescale_init=False, seed=0).fit(plain).apply(plain)
    pruner = RandomPruner(0.2, "erk", rescale_init=True, seed=0).fit(scaled)
    pruner.apply(scaled)
    for name, mask in pruner.masks_.items():
        keep = mask.to_torch()
        expected = original[name] * keep
        assert torch.equal(plain.state_dict()[name], expected)
        factor = 1 / math.sqrt(mask.nnz / mask.array.size)
        torch.testing.assert_close(scaled.state_dict()[name], expected * factor, rtol=1e-6, atol=0)
    for name in ("0.bias", "2.bias", "4.bias"):  # biases are neither pruned nor scaled
        assert torch.equal(scaled.state_dict()[name], original[name])


def test_masks_fitted_on_one_model_apply_to_a_fresh_one_of_the_same_architecture():
    pruner = RandomPruner(0.2, "erk", seed=0).fit(three_layer_mlp(seed=0))
    other = three_layer_mlp(seed=1)
    masking = pruner.apply(other)
    assert all(np.array_equal(masking.masks()[n].array, pruner.masks_[n].array) for n in pruner.masks_)


def test_masks_live_in_the_state_dict_and_reload_into_a_masked_copy():
    model = three_layer_mlp()
    pruner = RandomPruner(0.2, "erk", seed=0).fit(model)
    pruner.apply(model)
    state = model.state_dict()
    assert torch.equal(state["2.weight_mask"], pruner.masks_["2.weight"].to_torch())
    copy = three_layer_mlp(seed=5)
    RandomPruner(0.2, "erk", seed=0).fit(copy).apply(copy)
    copy.load_state_dict(state)
    assert all(torch.equal(copy.state_dict()[k], v) for k, v in state.items())


# --- bad inputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("density", [0, 0.0, -0.1, 1.5, float("nan"), "0.1", True, None])
def test_density_outside_zero_one_is_rejected_naming_it(density):
    with pytest.raises(ValueError, match="density"):
        RandomPruner(density).fit(three_layer_mlp())


def test_unknown_distribution_is_rejected_with_the_allowed_ones():
    with pytest.raises(ValueError, match=r"distribution='erk\+\+'.*'uniform'"):
        RandomPruner(0.1, "erk++").fit(three_layer_mlp())


@pytest.mark.parametrize(
    "kwargs", [{"seed": -1}, {"seed": 1.5}, {"exact": "yes"}, {"rescale_init": None}, {"erk_power": -1.0}]
)
def test_bad_options_are_rejected_naming_the_argument(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        RandomPruner(0.1, **kwargs).fit(three_layer_mlp())


def test_model_without_prunable_layers_is_rejected():
    with pytest.raises(ValueError, match=r"model=.*prunable"):
        RandomPruner(0.1).fit(nn.Sequential(nn.ReLU(), nn.LayerNorm(4)))
    with pytest.raises(ValueError, match=r"model=.*prunable"):
        RandomPruner(0.1, exclude=("*",)).fit(three_layer_mlp())
    with pytest.raises(ValueError, match="model"):
        RandomPruner(0.1).fit("not a model")


def test_apply_before_fit_is_an_error():
    with pytest.raises(RuntimeError, match="fit"):
        RandomPruner(0.1).apply(three_layer_mlp())


def test_apply_to_another_architecture_fails_and_leaves_it_unchanged():
    pruner = RandomPruner(0.1, seed=0).fit(three_layer_mlp())
    other = nn.Sequential(nn.Linear(10, 30), nn.ReLU(), nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 5))
    before = weights(other)
    with pytest.raises(ShapeError, match="model"):
        pruner.apply(other)
    smaller = nn.Sequential(nn.Linear(10, 20))
    with pytest.raises(ValueError, match=r"2\.weight"):
        pruner.apply(smaller)
    after = weights(other)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_applying_twice_fails_and_does_not_rescale_again():
    model = three_layer_mlp()
    pruner = RandomPruner(0.1, seed=0).fit(model)
    pruner.apply(model)
    before = weights(model)
    with pytest.raises(ValueError, match="already"):
        pruner.apply(model)
    after = weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
