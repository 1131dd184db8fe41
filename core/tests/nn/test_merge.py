"""Same-mask averaging keeps the mask exactly; BatchNorm recalibration recomputes the data's statistics."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from sparsehub.errors import ShapeError  # noqa: E402
from sparsehub.nn.allocation import prunable_parameters, random_masks  # noqa: E402
from sparsehub.nn.merge import (  # noqa: E402
    MaskMismatchError,
    average_models,
    average_state_dicts,
    recalibrate_batchnorm,
)


def net(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Linear(12, 3))


def ingredients(masks: dict, n: int = 3) -> list[nn.Sequential]:
    """n models from one start, moved apart by noise, all pruned with ``masks``."""
    base = net(0)
    models = []
    for i in range(n):
        model = copy.deepcopy(base)
        gen = torch.Generator().manual_seed(100 + i)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
            for name, mask in masks.items():
                mask.apply_(model.get_parameter(name))
            model[1].running_mean.normal_(generator=gen)
        model[1].num_batches_tracked.fill_(10 * (i + 1))
        models.append(model)
    return models


def shared_masks(seed: int = 0) -> dict:
    return random_masks(prunable_parameters(net(0)), 0.3, seed)


def test_averaging_models_that_share_a_mask_keeps_the_mask_and_its_exact_sparsity():
    masks = shared_masks()
    models = ingredients(masks)
    soup = average_models(models, masks=[masks] * 3)
    for name, mask in masks.items():
        w = soup.get_parameter(name)
        assert torch.equal(w != 0, mask.to_torch())
        expected = sum(m.get_parameter(name) for m in models) / 3
        assert torch.allclose(w, expected, atol=1e-7)
    assert soup is not models[0]


def test_mask_mismatch_raises_naming_the_first_differing_parameter():
    masks = shared_masks()
    other = dict(masks, **{"3.weight": random_masks({"3.weight": (3, 12)}, 0.3, 99)["3.weight"]})
    models = ingredients(masks, 2)
    with pytest.raises(MaskMismatchError, match=r"masks differ at '3\.weight': model 1 and model 0"):
        average_models(models, masks=[masks, other])
    assert isinstance(MaskMismatchError("x"), ValueError)


def test_without_the_check_averaging_different_masks_gives_their_union():
    a, b = shared_masks(0), shared_masks(1)
    models = ingredients(a, 1) + ingredients(b, 1)
    soup = average_models(models, masks=[a, b], check_masks=False)
    for name in a:
        union = a[name].to_torch() | b[name].to_torch()
        assert torch.equal(soup.get_parameter(name) != 0, union)


def test_torch_prune_masks_in_the_state_dict_are_checked_copied_and_never_resurrect_weights():
    from torch.nn.utils import prune

    keep = torch.rand(12, 6, generator=torch.Generator().manual_seed(0)) > 0.5
    models = []
    for seed in range(3):
        model = net(seed)
        prune.custom_from_mask(model[0], "weight", keep)  # weight_orig keeps its pruned values
        models.append(model)
    soup = average_models(models)
    assert torch.equal(soup[0].weight_mask, keep.float())
    assert torch.equal(soup[0].weight_orig != 0, keep)  # pruned entries averaged as zeros
    different = net(5)
    prune.custom_from_mask(different[0], "weight", ~keep)
    with pytest.raises(MaskMismatchError, match=r"'0\.weight_mask'"):
        average_models([*models, different])


def test_integer_buffers_are_copied_from_the_first_model_and_float_buffers_averaged():
    masks = shared_masks()
    models = ingredients(masks)
    state = average_state_dicts([m.state_dict() for m in models], masks=[masks] * 3)
    assert state["1.num_batches_tracked"].dtype == torch.int64
    assert int(state["1.num_batches_tracked"]) == 10
    assert torch.allclose(state["1.running_mean"], sum(m[1].running_mean for m in models) / 3)


def test_weights_give_the_weighted_average():
    models = [net(s) for s in range(3)]
    w = [0.5, 0.3, 0.2]
    state = average_state_dicts([m.state_dict() for m in models], weights=w)
    expected = sum(wi * m[3].weight for wi, m in zip(w, models))
    assert torch.allclose(state["3.weight"], expected, atol=1e-7)


@pytest.mark.parametrize("weights", [[0.5, 0.5], [0.6, 0.6, -0.2], [0.2, 0.2, 0.2], [float("nan"), 0.5, 0.5]])
def test_bad_weights_are_rejected(weights):
    sds = [net(s).state_dict() for s in range(3)]
    with pytest.raises(
        ValueError, match=r"weights=.* is not allowed: expected 3 non-negative floats summing to 1"
    ):
        average_state_dicts(sds, weights=weights)


def test_state_dicts_with_different_keys_or_shapes_are_rejected():
    a = net(0).state_dict()
    b = dict(a)
    b.pop("3.bias")
    with pytest.raises(ValueError, match=r"state_dicts\[1\]=.*missing \['3\.bias'\]"):
        average_state_dicts([a, b])
    c = dict(a, **{"3.bias": torch.zeros(4)})
    with pytest.raises(ShapeError, match=r"state_dicts\[1\]\['3\.bias'\]\.shape=\(4,\)"):
        average_state_dicts([a, c])
    with pytest.raises(ValueError, match="state_dicts"):
        average_state_dicts([])


def test_inputs_are_not_modified():
    models = [net(s) for s in range(2)]
    before = [copy.deepcopy(m.state_dict()) for m in models]
    average_models(models)
    for m, sd in zip(models, before):
        assert all(torch.equal(m.state_dict()[k], v) for k, v in sd.items())


# -- BatchNorm recalibration -----------------------------------------------------------------------


def batch_stats(h: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The cumulative average over batches of the batch mean and unbiased batch variance."""
    chunks = h.split(batch_size)
    mean = sum(c.mean(0) for c in chunks) / len(chunks)
    var = sum(c.var(0, unbiased=True) for c in chunks) / len(chunks)
    return mean, var


def test_recalibration_sets_running_stats_to_the_statistics_of_the_data():
    model = net(0).eval()
    x = torch.randn(200, 6, generator=torch.Generator().manual_seed(1)) * 2 + 1
    old_mean = model[1].running_mean.clone()
    recalibrate_batchnorm(model, x, fraction=0.5, batch_size=50)
    with torch.no_grad():
        mean, var = batch_stats(model[0](x[:100]), 50)
    assert not torch.allclose(model[1].running_mean, old_mean)
    assert torch.allclose(model[1].running_mean, mean, atol=1e-5)
    assert torch.allclose(model[1].running_var, var, atol=1e-5)
    assert int(model[1].num_batches_tracked) == 2
    assert model[1].momentum == 0.1 and not model.training and not model[1].training


def test_recalibration_with_a_loader_uses_the_first_fraction_of_its_batches():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).train()
    gen = torch.Generator().manual_seed(2)
    loader = [(torch.randn(8, 1, 6, 6, generator=gen) + i, torch.zeros(8)) for i in range(10)]
    recalibrate_batchnorm(model, loader, fraction=0.2)
    assert int(model[1].num_batches_tracked) == 2
    with torch.no_grad():
        per_batch = [model[0](x).transpose(0, 1).flatten(1) for x, _ in loader[:2]]
    mean = sum(h.mean(1) for h in per_batch) / 2
    var = sum(h.var(1, unbiased=True) for h in per_batch) / 2
    assert torch.allclose(model[1].running_mean, mean, atol=1e-5)
    assert torch.allclose(model[1].running_var, var, atol=1e-4)
    assert model.training and model[1].momentum == 0.1


def test_a_failed_recalibration_restores_the_old_statistics():
    model = net(0)
    model[1].running_mean.fill_(3.0)
    with pytest.raises(ValueError, match="data"):
        recalibrate_batchnorm(model, [torch.randn(4, 6), "not a batch"], fraction=1.0)
    assert torch.equal(model[1].running_mean, torch.full((12,), 3.0))
    assert int(model[1].num_batches_tracked) == 0 and model[1].momentum == 0.1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"fraction": 0}, "fraction"), ({"fraction": 1.5}, "fraction"), ({"batch_size": 0}, "batch_size")],
)
def test_recalibration_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"{name}="):
        recalibrate_batchnorm(net(0), torch.randn(10, 6), **kwargs)
    with pytest.raises(ValueError, match="data"):
        recalibrate_batchnorm(net(0), torch.randn(0, 6))


def test_recalibration_weighs_every_calibration_row_alike():
    # 270 rows with batches of at most 256: a 256 + 14 split would weigh the 14 rows like the 256
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4))
    x = torch.randn(270, 6)
    recalibrate_batchnorm(model, x, fraction=1.0, batch_size=256)
    with torch.no_grad():
        expected = model[0](x).mean(dim=0)
    torch.testing.assert_close(model[1].running_mean, expected, rtol=1e-5, atol=1e-6)
