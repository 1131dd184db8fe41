"""Layer-wise allocation: the right tensors, densities that meet the budget, exact counts and masks."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn  # noqa: E402

from sparsehub.errors import ShapeError  # noqa: E402
from sparsehub.mask import Mask, pruned_count  # noqa: E402
from sparsehub.nn.allocation import (  # noqa: E402
    RULES,
    as_keep_tensor,
    global_magnitude_densities,
    layer_counts,
    layer_densities,
    parameter_by_name,
    prunable_parameters,
    random_masks,
)

FAST = settings(max_examples=60, deadline=None)


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, groups=2),
        nn.Flatten(),
        nn.LayerNorm(32),
        nn.Linear(32, 10),
    )


def weighted_density(shapes: dict, densities: dict) -> float:
    sizes = {k: math.prod(v) for k, v in shapes.items()}
    return sum(densities[k] * sizes[k] for k in shapes) / sum(sizes.values())


MLP_SHAPES = {"0.weight": (512, 40), "2.weight": (512, 512), "4.weight": (10, 512)}
CNN_SHAPES = {"c1": (64, 3, 7, 7), "c2": (128, 64, 3, 3), "c3": (256, 128, 3, 3), "fc": (1000, 256)}


# -- prunable_parameters --------------------------------------------------------------------------


def test_prunable_parameters_are_conv_and_linear_weights_in_module_order():
    model = small_cnn()
    params = prunable_parameters(model)
    assert list(params) == ["0.weight", "3.weight", "6.weight"]
    assert params["3.weight"] is model[3].weight
    assert all(not name.endswith("bias") for name in params)


def test_prunable_parameters_count_a_tied_weight_once():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8))
    model[2].weight = model[0].weight
    assert list(prunable_parameters(model)) == ["0.weight"]


def test_prunable_parameters_exclude_by_type_pattern_and_position():
    model = small_cnn()
    assert list(prunable_parameters(model, exclude=("first",))) == ["3.weight", "6.weight"]
    assert list(prunable_parameters(model, exclude=("first", "last"))) == ["3.weight"]
    assert list(prunable_parameters(model, exclude=(nn.Linear,))) == ["0.weight", "3.weight"]
    assert list(prunable_parameters(model, exclude=("3",))) == ["0.weight", "6.weight"]
    assert list(prunable_parameters(model, exclude="*.weight")) == []


def test_prunable_parameters_include_embeddings_only_when_asked():
    model = nn.Sequential(nn.Embedding(20, 8), nn.Linear(8, 4))
    assert list(prunable_parameters(model)) == ["1.weight"]
    assert list(prunable_parameters(model, include=(nn.Embedding, nn.Linear))) == ["0.weight", "1.weight"]


def test_reparametrised_weights_keep_their_plain_name_and_resolve_to_the_trained_tensor():
    from torch.nn.utils import parametrize, prune

    class Masked(nn.Module):
        def __init__(self, keep):
            super().__init__()
            self.register_buffer("mask", keep)

        def forward(self, w):
            return w * self.mask

    model = nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 4))
    parametrize.register_parametrization(model[0], "weight", Masked(torch.ones(5, 6)))
    prune.random_unstructured(model[1], "weight", amount=0.5)
    params = prunable_parameters(model)
    assert list(params) == ["0.weight", "1.weight"]
    assert params["0.weight"] is model[0].parametrizations.weight.original
    assert params["1.weight"] is model[1].weight_orig
    assert parameter_by_name(model, "0.weight") is params["0.weight"]
    assert parameter_by_name(model, "1.weight") is params["1.weight"]
    assert parameter_by_name(model, "1.bias") is model[1].bias
    with pytest.raises(KeyError, match=r"2\.weight"):
        parameter_by_name(model, "2.weight")


def test_prunable_parameters_reject_bad_arguments():
    with pytest.raises(ValueError, match="model="):
        prunable_parameters("not a model")
    with pytest.raises(ValueError, match="include="):
        prunable_parameters(small_cnn(), include=(int,))
    with pytest.raises(ValueError, match="exclude="):
        prunable_parameters(small_cnn(), exclude=(3,))


# -- layer_densities ------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("density", [0.01, 0.05, 0.1, 0.3, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("shapes", [MLP_SHAPES, CNN_SHAPES], ids=["mlp", "cnn"])
def test_every_rule_meets_the_global_density_with_every_layer_at_most_dense(rule, density, shapes):
    if rule == "uniform+" and density <= 0.05:
        pytest.skip("the dense first layer exceeds this budget (test_a_budget_smaller_than_...)")
    d = layer_densities(shapes, density, rule)
    assert list(d) == list(shapes)
    assert weighted_density(shapes, d) == pytest.approx(density, abs=1e-12)
    assert all(0 < v <= 1 for v in d.values())


def test_erk_matches_the_hand_solved_epsilon_including_the_clamp():
    shapes = {"small": (10, 10), "big": (100, 100)}  # r = 0.2 and 0.02
    d = layer_densities(shapes, 0.1, "erk")
    eps = 0.1 * 10100 / (0.2 * 100 + 0.02 * 10000)
    assert d == pytest.approx({"small": 0.2 * eps, "big": 0.02 * eps}, rel=1e-12)
    # at D = 0.5, eps * 0.2 > 1: "small" goes dense and "big" takes the rest of the budget
    d = layer_densities(shapes, 0.5, "erk")
    assert d["small"] == 1.0
    assert d["big"] == pytest.approx((0.5 * 10100 - 100) / 10000, rel=1e-12)


def test_erk_free_layers_share_one_epsilon_and_dense_layers_have_the_largest_scores():
    d = layer_densities(CNN_SHAPES, 0.5, "erk")
    raw = {k: sum(s) / math.prod(s) for k, s in CNN_SHAPES.items()}
    free = [k for k in d if d[k] < 1]
    dense = [k for k in d if d[k] == 1]
    assert dense, "at 50 % density the 7x7 stem must be clamped"
    ratios = [d[k] / raw[k] for k in free]
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-12)
    assert min(raw[k] for k in dense) > max(raw[k] for k in free)


def test_er_uses_the_first_two_dims_and_erk_all_dims():
    shapes = {"conv": (16, 8, 3, 3), "fc": (10, 512)}
    er, erk = layer_densities(shapes, 0.1, "er"), layer_densities(shapes, 0.1, "erk")
    assert er["conv"] / er["fc"] == pytest.approx(((16 + 8) / (16 * 8)) / (522 / 5120), rel=1e-12)
    assert erk["conv"] / erk["fc"] == pytest.approx((30 / 1152) / (522 / 5120), rel=1e-12)


def test_erk_power_scales_the_raw_scores_and_zero_power_is_uniform():
    shapes = {"a": (20, 30), "b": (200, 300)}
    d = layer_densities(shapes, 0.05, "erk", erk_power=0.5)
    assert d["a"] / d["b"] == pytest.approx(math.sqrt((50 / 600) / (500 / 60000)), rel=1e-12)
    assert layer_densities(shapes, 0.05, "erk", erk_power=0.0) == pytest.approx({"a": 0.05, "b": 0.05})


def test_the_clamp_loop_ends_when_all_but_the_largest_layer_go_dense():
    shapes = {f"l{i}": (2**i, 2**i) for i in range(1, 9)}
    d = layer_densities(shapes, 0.999, "erk")
    assert [k for k, v in d.items() if v < 1] == ["l8"]
    assert weighted_density(shapes, d) == pytest.approx(0.999, abs=1e-12)
    assert layer_densities(shapes, 1.0, "erk") == dict.fromkeys(shapes, 1.0)


def test_uniform_plus_keeps_the_first_layer_dense_and_the_last_at_one_fifth():
    d = layer_densities(CNN_SHAPES, 0.1, "uniform+")
    assert d["c1"] == 1.0 and d["fc"] == 0.2
    assert d["c2"] == d["c3"] < 0.1
    assert weighted_density(CNN_SHAPES, d) == pytest.approx(0.1, abs=1e-12)
    above = layer_densities(CNN_SHAPES, 0.3, "uniform+")  # D >= 0.2: the last layer is not held
    assert above["c1"] == 1.0 and above["c2"] == above["c3"] == above["fc"]


def test_dense_first_and_last_and_min_last_apply_to_erk_too():
    d = layer_densities(CNN_SHAPES, 0.2, "erk", dense_first=True, min_last=0.4)
    assert d["c1"] == 1.0 and d["fc"] == pytest.approx(0.4)
    assert weighted_density(CNN_SHAPES, d) == pytest.approx(0.2, abs=1e-12)
    d = layer_densities(MLP_SHAPES, 0.1, "uniform", dense_last=True)
    assert d["4.weight"] == 1.0 and d["0.weight"] == d["2.weight"]


def test_empty_tensors_get_density_one_and_take_no_part():
    shapes = {"a": (0, 5), "b": (10, 10), "c": (20, 10)}
    d = layer_densities(shapes, 0.5, "uniform+")
    assert d["a"] == 1.0 and d["b"] == 1.0  # "b" is the first non-empty layer
    assert d["c"] == pytest.approx((0.5 * 300 - 100) / 200)


def test_layer_densities_accept_tensors_as_shapes():
    model = small_cnn()
    params = prunable_parameters(model)
    shapes = {k: tuple(p.shape) for k, p in params.items()}
    assert layer_densities(params, 0.2, "erk") == layer_densities(shapes, 0.2, "erk")


@pytest.mark.parametrize("density", [0.0, -0.1, 1.5, float("nan"), "0.5", None, True])
def test_density_outside_zero_one_is_rejected(density):
    with pytest.raises(ValueError, match=r"density=.* is not allowed: expected a float in \(0, 1\]"):
        layer_densities(MLP_SHAPES, density, "erk")


def test_unknown_rule_lists_the_allowed_ones():
    with pytest.raises(ValueError, match=r"rule='snip' is not allowed: expected one of .*'erk'"):
        layer_densities(MLP_SHAPES, 0.1, "snip")


def test_a_budget_smaller_than_the_dense_layers_is_rejected():
    with pytest.raises(ValueError, match=r"density=0\.01 is not allowed"):
        layer_densities(MLP_SHAPES, 0.01, "uniform+")
    with pytest.raises(ValueError, match=r"density=0\.5 is not allowed"):
        layer_densities({"only": (10, 10)}, 0.5, "uniform", dense_first=True)


@pytest.mark.parametrize("shapes", [{}, {"a": (3, -1)}, {"a": "ab"}, [(3, 3)]])
def test_malformed_shapes_are_rejected(shapes):
    with pytest.raises(ValueError, match="shapes"):
        layer_densities(shapes, 0.5, "uniform")


# -- global_magnitude_densities -------------------------------------------------------------------


def test_global_magnitude_densities_match_one_threshold_over_all_weights():
    gen = torch.Generator().manual_seed(0)
    params = {
        "a": torch.randn(30, 20, generator=gen) * 3,
        "b": torch.randn(50, 40, generator=gen),
        "c": torch.randn(10, 50, generator=gen) * 0.2,
    }
    d = global_magnitude_densities(params, 0.2)
    flat = torch.cat([p.abs().flatten() for p in params.values()])
    k = round(0.2 * flat.numel())
    threshold = flat.topk(k).values[-1]
    expected = {name: float((p.abs() >= threshold).sum()) / p.numel() for name, p in params.items()}
    assert d == pytest.approx(expected, abs=1e-12)
    assert d["a"] > d["b"] > d["c"]


def test_global_magnitude_densities_reject_bad_density():
    with pytest.raises(ValueError, match="density=0 is not allowed"):
        global_magnitude_densities({"a": np.ones((2, 2))}, 0)


# -- layer_counts ---------------------------------------------------------------------------------


@FAST
@given(
    sizes=st.lists(st.tuples(st.integers(1, 60), st.integers(1, 60)), min_size=1, max_size=6),
    density=st.floats(0.001, 1.0),
)
def test_uniform_counts_total_the_nearest_integer_to_density_times_size(sizes, density):
    shapes = {f"l{i}": s for i, s in enumerate(sizes)}
    counts = layer_counts(shapes, density)
    total = sum(math.prod(s) for s in sizes)
    expected = total - pruned_count(total, float(1 - Fraction(repr(density))))
    if expected >= len(sizes):  # otherwise the keep-one-per-layer floor must exceed the target
        assert sum(counts.values()) == expected
    assert all(1 <= counts[k] <= math.prod(s) for k, s in shapes.items())
    if all(density * math.prod(s) >= 1 for s in sizes):  # no layer needed its floor of one weight
        assert all(abs(counts[k] - density * math.prod(s)) < 1 for k, s in shapes.items())


@pytest.mark.parametrize("density", [0.1, 0.25, 0.3, 0.35, 0.5, 0.95])
def test_a_lone_layer_keeps_what_mask_from_scores_keeps(density):
    shape = (7, 10)
    counts = layer_counts({"w": shape}, density)
    mask = Mask.from_scores(np.random.default_rng(0).random(shape), sparsity=round(1 - density, 12))
    assert counts["w"] == mask.nnz


def test_every_layer_with_positive_density_keeps_a_weight_and_the_total_holds():
    shapes = {"big": (100, 100), "tiny": (2, 2)}
    counts = layer_counts(shapes, 0.01)  # tiny's target is 0.04 weights
    assert counts["tiny"] == 1
    assert sum(counts.values()) == round(0.01 * 10004)
    assert layer_counts(shapes, {"big": 0.5, "tiny": 0.0})["tiny"] == 0


def test_layer_counts_follow_erk_densities_within_one_weight():
    d = layer_densities(CNN_SHAPES, 0.1, "erk")
    counts = layer_counts(CNN_SHAPES, d)
    for name, shape in CNN_SHAPES.items():
        assert abs(counts[name] - d[name] * math.prod(shape)) < 1
    total = sum(math.prod(s) for s in CNN_SHAPES.values())
    assert abs(sum(counts.values()) - 0.1 * total) <= 0.5


def test_layer_counts_reject_mismatched_or_bad_densities():
    with pytest.raises(ValueError, match="densities"):
        layer_counts(MLP_SHAPES, {"0.weight": 0.5})
    with pytest.raises(ValueError, match=r"densities\['0.weight'\]=1.5"):
        layer_counts(MLP_SHAPES, {**dict.fromkeys(MLP_SHAPES, 0.5), "0.weight": 1.5})


# -- random_masks ---------------------------------------------------------------------------------


def test_random_masks_have_exact_counts_and_realise_the_erk_target():
    d = layer_densities(MLP_SHAPES, 0.1, "erk")
    masks = random_masks(MLP_SHAPES, d, seed=0)
    counts = layer_counts(MLP_SHAPES, d)
    total = sum(math.prod(s) for s in MLP_SHAPES.values())
    for name, mask in masks.items():
        assert isinstance(mask, Mask) and mask.shape == MLP_SHAPES[name]
        assert mask.nnz == counts[name]
    assert abs(sum(m.nnz for m in masks.values()) / total - 0.1) < 1e-3


@pytest.mark.parametrize(
    "make_seed",
    [lambda: 3, lambda: np.random.default_rng(3), lambda: torch.Generator().manual_seed(3)],
    ids=["int", "numpy", "torch"],
)
def test_random_masks_are_reproducible_from_the_seed(make_seed):
    a = random_masks(MLP_SHAPES, 0.3, make_seed())
    b = random_masks(MLP_SHAPES, 0.3, make_seed())
    assert all(a[k] == b[k] for k in a)
    other = random_masks(MLP_SHAPES, 0.3, 4)
    assert any(a[k] != other[k] for k in a)


@pytest.mark.parametrize("density", [0.2, 0.8])
def test_random_mask_positions_are_uniform(density):
    # each of 50 positions is kept with probability d; over 2000 draws the frequency is within 5 sigma
    rng = np.random.default_rng(0)
    freq = np.mean([random_masks({"w": (5, 10)}, density, rng)["w"].array for _ in range(2000)], axis=0)
    sigma = math.sqrt(density * (1 - density) / 2000)
    assert np.abs(freq - density).max() < 5 * sigma


def test_random_masks_need_a_seed():
    with pytest.raises(ValueError, match="seed=None"):
        random_masks(MLP_SHAPES, 0.5, None)


# -- as_keep_tensor -------------------------------------------------------------------------------


def test_as_keep_tensor_accepts_masks_tensors_and_arrays_and_checks_shape():
    keep = np.array([[True, False], [False, True]])
    for given_mask in (Mask(keep), torch.tensor(keep), torch.tensor(keep).float(), keep):
        assert torch.equal(as_keep_tensor(given_mask, (2, 2)), torch.tensor(keep))
    with pytest.raises(ShapeError, match=r"mask.shape=\(2, 2\)"):
        as_keep_tensor(keep, (4,))
    with pytest.raises(ValueError, match="values other than 0 and 1"):
        as_keep_tensor(torch.tensor([0.5, 1.0]))
