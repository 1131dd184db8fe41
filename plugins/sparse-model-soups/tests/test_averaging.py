"""Soups: the uniform soup is the mean and keeps the shared mask; the greedy soup adds only what helps."""

import warnings

import pytest
import torch
from torch import nn

from sparsehub.nn.merge import MaskMismatchError
from sparsehub_sparse_model_soups import average_sparse, greedy_soup, support_masks


def _net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def _pruned(seed, keep):
    """A model whose prunable weights are zero outside the fixed masks ``keep``."""
    model = _net(seed)
    with torch.no_grad():
        model[0].weight.mul_(keep["0.weight"])
        model[3].weight.mul_(keep["3.weight"])
        model[1].running_mean.normal_()
        model[1].num_batches_tracked.fill_(seed + 1)
    return model


def _keep(seed):
    g = torch.Generator().manual_seed(100 + seed)
    return {"0.weight": torch.rand(8, 6, generator=g) > 0.6, "3.weight": torch.rand(3, 8, generator=g) > 0.6}


def test_uniform_soup_is_the_elementwise_mean_and_keeps_the_shared_mask():
    keep = _keep(0)
    models = [_pruned(s, keep) for s in range(3)]
    soup = average_sparse(models)
    for name, value in soup.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        expected = sum(m.state_dict()[name] for m in models) / 3
        torch.testing.assert_close(value, expected, rtol=0, atol=1e-6)
    for name, mask in support_masks(soup).items():
        assert torch.equal(mask, keep[name])


def test_weighted_soup_uses_the_given_weights():
    keep = _keep(0)
    models = [_pruned(s, keep) for s in range(2)]
    soup = average_sparse(models, [0.25, 0.75])
    expected = 0.25 * models[0][3].weight + 0.75 * models[1][3].weight
    torch.testing.assert_close(soup[3].weight, expected, rtol=0, atol=1e-6)


def test_integer_buffers_are_copied_not_averaged():
    keep = _keep(0)
    models = [_pruned(s, keep) for s in range(3)]
    soup = average_sparse(models)
    assert soup[1].num_batches_tracked.dtype == torch.int64
    assert int(soup[1].num_batches_tracked) == int(models[0][1].num_batches_tracked)


def test_ingredients_with_different_masks_raise_naming_the_parameter():
    keep_a, keep_b = _keep(0), dict(_keep(0))
    keep_b["3.weight"] = ~keep_b["3.weight"]
    with pytest.raises(MaskMismatchError, match=r"'3\.weight'"):
        average_sparse([_pruned(0, keep_a), _pruned(1, keep_b)])


def test_allowing_mismatched_masks_keeps_their_union_and_warns_about_the_density():
    a, b = _pruned(0, _keep(0)), _pruned(1, _keep(1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        soup = average_sparse([a, b], check_masks=False)
    assert any("density" in str(w.message) for w in caught)
    union = {n: _keep(0)[n] | _keep(1)[n] for n in ("0.weight", "3.weight")}
    for name, mask in support_masks(soup).items():
        assert torch.equal(mask, union[name])


def test_explicit_masks_override_the_support_of_the_weights():
    keep = _keep(0)
    models = [_pruned(s, keep) for s in range(2)]
    with torch.no_grad():
        models[1][0].weight[keep["0.weight"]] = 0.0  # a kept entry can be 0: supports differ, masks do not
    average_sparse(models, masks=[keep, keep])
    with pytest.raises(MaskMismatchError):
        average_sparse(models)


def test_inputs_are_left_untouched():
    keep = _keep(0)
    models = [_pruned(s, keep) for s in range(2)]
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    average_sparse(models)
    for m, state in zip(models, before):
        assert all(torch.equal(m.state_dict()[k], v) for k, v in state.items())


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda ms: average_sparse(ms[:1]), "at least 2 ingredients"),
        (lambda ms: average_sparse(ms, [0.5, 0.6]), "weights="),
        (lambda ms: average_sparse(ms[0]), "models="),
        (lambda ms: greedy_soup(ms, None), "val_fn=None"),
        (lambda ms: greedy_soup(ms, lambda m: 0.0, bn_recalibration_frac=1.5), "bn_recalibration_frac"),
    ],
)
def test_bad_soup_arguments_are_rejected_with_their_name(call, match):
    keep = _keep(0)
    with pytest.raises(ValueError, match=match):
        call([_pruned(s, keep) for s in range(2)])


def _score_fn(target):
    """A validation score with a known optimum: minus the distance of the last layer to ``target``."""
    return lambda model: -float((model[3].weight.detach() - target).norm())


def test_greedy_soup_starts_from_the_best_and_skips_an_ingredient_that_lowers_the_score():
    keep = {"0.weight": torch.ones(8, 6, dtype=torch.bool), "3.weight": torch.ones(3, 8, dtype=torch.bool)}
    target = torch.zeros(3, 8)
    models = [_pruned(s, keep) for s in range(3)]
    with torch.no_grad():
        models[0][3].weight.fill_(0.2)  # good alone
        models[1][3].weight.fill_(-0.3)  # worse alone, but averaging with 0.2 lands at -0.05: better
        models[2][3].weight.fill_(5.0)  # far off: averaging it in only hurts
    soup, chosen = greedy_soup(models, _score_fn(target))
    assert chosen == [0, 1]
    torch.testing.assert_close(soup[3].weight, torch.full((3, 8), -0.05), rtol=0, atol=1e-6)


def test_greedy_soup_recalibrates_batchnorm_when_given_calibration_data():
    keep = _keep(0)
    models = [_pruned(s, keep) for s in range(2)]
    x = torch.randn(50, 6)
    soup, _ = greedy_soup(models, lambda m: 1.0, calib_data=x, bn_recalibration_frac=1.0)
    with torch.no_grad():
        expected = soup[0](x).mean(dim=0)
    torch.testing.assert_close(soup[1].running_mean, expected, rtol=1e-5, atol=1e-5)
