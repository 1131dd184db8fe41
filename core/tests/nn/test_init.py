"""Rescaling by 1/sqrt(density) gives a randomly masked network the output variance of the dense one."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from sparsehub.errors import ShapeError  # noqa: E402
from sparsehub.nn.allocation import prunable_parameters, random_masks  # noqa: E402
from sparsehub.nn.init import sparse_init_rescale_  # noqa: E402


def deep_mlp(seed: int, width: int = 256, depth: int = 3) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width, bias=False), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def apply_masks(model: nn.Module, masks: dict) -> None:
    with torch.no_grad():
        for name, mask in masks.items():
            mask.apply_(model.get_parameter(name))


def test_rescaled_random_masks_preserve_the_output_variance_of_the_dense_net():
    density, depth = 0.25, 3
    x = torch.randn(1000, 256, generator=torch.Generator().manual_seed(0))
    dense_var, scaled_var, unscaled_var = [], [], []
    with torch.no_grad():
        for seed in range(6):
            dense = deep_mlp(seed)
            dense_var.append(dense(x).pow(2).mean())
            masks = random_masks(prunable_parameters(dense), density, seed)
            unscaled = deep_mlp(seed)
            apply_masks(unscaled, masks)
            unscaled_var.append(unscaled(x).pow(2).mean())
            scaled = deep_mlp(seed)
            sparse_init_rescale_(scaled, masks)
            apply_masks(scaled, masks)
            scaled_var.append(scaled(x).pow(2).mean())
    ratio = float(sum(scaled_var) / sum(dense_var))
    shrink = float(sum(unscaled_var) / sum(dense_var))
    assert 0.8 < ratio < 1.25
    assert density**depth / 2 < shrink < density**depth * 2  # without the rescale: d per layer


def test_factors_are_one_over_sqrt_density_and_only_masked_weights_change():
    model = nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 10))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    keep = torch.zeros(10, 10, dtype=torch.bool)
    keep[:, :4] = True
    factors = sparse_init_rescale_(model, {"0.weight": keep})
    assert factors == {"0.weight": pytest.approx(1 / math.sqrt(0.4))}
    assert torch.allclose(model[0].weight, before["0.weight"] / math.sqrt(0.4))
    for key in ("0.bias", "1.weight", "1.bias"):
        assert torch.equal(model.state_dict()[key], before[key])


def test_a_reparametrised_weight_is_rescaled_under_its_plain_name():
    from torch.nn.utils import prune

    model = nn.Sequential(nn.Linear(8, 8))
    prune.random_unstructured(model[0], "weight", amount=0.75)
    original = model[0].weight_orig.detach().clone()
    sparse_init_rescale_(model, {"0.weight": model[0].weight_mask})
    assert torch.allclose(model[0].weight_orig, original * 2.0)


def test_a_mask_that_keeps_nothing_leaves_its_weight_alone():
    model = nn.Linear(3, 3)
    w = model.weight.detach().clone()
    assert sparse_init_rescale_(model, {"weight": torch.zeros(3, 3, dtype=torch.bool)}) == {"weight": 1.0}
    assert torch.equal(model.weight, w)


def test_a_bad_mask_raises_before_any_weight_changes():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    half = torch.rand(4, 4) > 0.5
    with pytest.raises(ValueError, match=r"masks='2\.weight' is not allowed"):
        sparse_init_rescale_(model, {"0.weight": half, "2.weight": half})
    with pytest.raises(ShapeError, match=r"mask.shape=\(2, 8\)"):
        sparse_init_rescale_(model, {"0.weight": half, "1.weight": torch.ones(2, 8, dtype=torch.bool)})
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
