"""SparseModelSoup and IMP end to end on a tiny CNN: exact sparsity, untouched inputs, clear errors."""

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from sparsehub.mask import pruned_count
from sparsehub.nn.fixtures import digits, evaluate, mlp, tiny_cnn, train
from sparsehub.nn.masking import attach
from sparsehub.nn.schedule import imp_phase_fractions
from sparsehub_sparse_model_soups import IterativeMagnitudePruning, SparseModelSoup

FAST = {"n_phases": 2, "retrain_epochs": 1, "lr": 0.05}


@pytest.fixture(scope="module")
def task():
    X, y, X_test, y_test = digits(image=True)
    model = tiny_cnn(channels=(4, 8), seed=0)
    train(model, (X[:512], y[:512]), epochs=3, lr=0.1, seed=0)  # a trained dense start, as the method assumes
    return model, (X[:256], y[:256]), (X_test[:128], y_test[:128])


def _prunable_total(model):
    return sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1)


def test_soup_keeps_exactly_round_one_minus_s_weights_and_nothing_outside_its_mask(task):
    model, data, val = task
    sms = SparseModelSoup(0.8, n_ingredients=2, **FAST)
    soup = sms.fit(model, data, val)
    total = _prunable_total(model)
    assert sum(m.nnz for m in sms.masks_.values()) == total - pruned_count(total, 0.8)
    for name, mask in sms.masks_.items():
        weight = dict(soup.named_parameters())[name].detach()
        assert (weight[~mask.to_torch()] == 0).all()
    assert sms.sparsity_ == pytest.approx(pruned_count(total, 0.8) / total)


def test_every_phase_reaches_the_imp_schedule_sparsity_exactly(task):
    model, data, _ = task
    est = IterativeMagnitudePruning(0.9, n_phases=3, retrain_epochs=1, lr=0.05)
    est.fit(model, data)
    total = _prunable_total(model)
    _, sparsities = imp_phase_fractions(0.9, 3)
    for entry, s in zip(est.history_, sparsities):
        assert entry["n_kept"] == total - pruned_count(total, s)


def test_history_records_ingredient_and_soup_scores_and_zero_mask_mismatches(task):
    model, data, val = task
    sms = SparseModelSoup(0.8, n_ingredients=3, **FAST)
    soup = sms.fit(model, data, val)
    assert len(sms.history_) == 2
    last = sms.history_[-1]
    assert last["mask_mismatches"] == 0
    assert len(last["ingredient_scores"]) == 3
    assert last["mean_ingredient_score"] == pytest.approx(sum(last["ingredient_scores"]) / 3)
    assert last["soup_score"] == pytest.approx(evaluate(soup, *val))
    assert last["bn_stat_change"] > 0


def test_fit_leaves_the_given_model_untouched(task):
    model, data, val = task
    before = {k: v.clone() for k, v in model.state_dict().items()}
    SparseModelSoup(0.8, n_ingredients=2, **FAST).fit(model, data, val)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_batchnorm_of_the_soup_is_recalibrated_on_the_first_fraction_of_the_calibration_inputs(task):
    model, data, _ = task
    calib = data[0][:100]  # 20 % of it is 20 rows: one batch, so the running mean is their plain mean
    soup = SparseModelSoup(0.5, n_ingredients=2, **FAST).fit(model, data, calib_data=calib)
    with torch.no_grad():
        conv_out = soup[0](calib[:20])
    torch.testing.assert_close(soup[1].running_mean, conv_out.mean(dim=(0, 2, 3)), rtol=1e-5, atol=1e-6)


def test_greedy_soup_records_which_ingredients_it_kept(task):
    model, data, val = task
    sms = SparseModelSoup(0.8, n_ingredients=3, soup="greedy", **FAST)
    sms.fit(model, data, val)
    for entry in sms.history_:
        assert 1 <= len(entry["selected"]) == len(set(entry["selected"])) <= 3
        assert set(entry["selected"]) <= {0, 1, 2}
    assert sms.history_[-1]["soup_score"] == pytest.approx(evaluate(sms.model_, *val))


def test_uniform_pruner_gives_every_layer_the_target_sparsity(task):
    model, data, _ = task
    sms = SparseModelSoup(0.75, n_ingredients=2, pruner="uniform", **FAST)
    sms.fit(model, data)
    for mask in sms.masks_.values():
        assert mask.array.size - mask.nnz == pruned_count(mask.array.size, 0.75)


def test_excluded_layers_stay_dense(task):
    model, data, _ = task
    sms = SparseModelSoup(0.8, n_ingredients=2, exclude=("first",), **FAST)
    soup = sms.fit(model, data)
    assert "0.weight" not in sms.masks_
    assert math.isclose(float((soup[0].weight != 0).float().mean()), 1.0)


def test_a_model_without_batchnorm_needs_no_calibration_data():
    X, y, _, _ = digits()
    model = mlp(64, 16, 10, seed=0)
    soup = SparseModelSoup(0.7, n_ingredients=2, **FAST).fit(model, (X[:200], y[:200]))
    assert isinstance(soup, nn.Sequential)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target_sparsity": 1.0}, "target_sparsity=1.0"),
        ({"n_ingredients": 1}, "n_ingredients=1"),
        ({"pruner": "random"}, "pruner='random'"),
        ({"vary": "dropout"}, "vary='dropout'"),
        ({"soup": "mean"}, "soup='mean'"),
        ({"soup": "greedy"}, "soup='greedy'.*validation"),
        ({"lr_schedule": "step"}, "lr_schedule='step'"),
        ({"bn_recalibration_frac": 1.5}, "bn_recalibration_frac=1.5"),
        ({"n_jobs": 0}, "n_jobs=0"),
        ({"n_phases": 0}, "n_phases=0"),
        ({"lr": 0.0}, "lr=0.0"),
        ({"values": [1, 2, 3]}, "values="),
    ],
)
def test_bad_parameters_are_rejected_at_fit_with_their_name(task, kwargs, match):
    model, data, _ = task
    params = {"target_sparsity": 0.8, "n_ingredients": 2, **FAST, **kwargs}
    with pytest.raises(ValueError, match=match):
        SparseModelSoup(**params).fit(model, data)


def test_bad_fit_arguments_are_rejected_with_their_name(task):
    model, data, val = task
    sms = SparseModelSoup(0.8, n_ingredients=2, **FAST)
    with pytest.raises(ValueError, match="data=None"):
        sms.fit(model)
    with pytest.raises(ValueError, match="calib_data=None"):
        sms.fit(model, train_fn=lambda *a: None)
    with pytest.raises(ValueError, match="val_fn="):
        sms.fit(model, data, val, val_fn=lambda m: 0.0)
    with pytest.raises(ValueError, match="data="):
        sms.fit(model, (data[0], data[1][:10]))
    with pytest.raises(ValueError, match="model="):
        sms.fit("not a model", data)
    masked = tiny_cnn(channels=(4, 8), seed=0)
    attach(masked)
    with pytest.raises(ValueError, match=r"model=.*MaskedTraining"):
        sms.fit(masked, data)
    torch_pruned = tiny_cnn(channels=(4, 8), seed=0)
    prune.l1_unstructured(torch_pruned[0], "weight", amount=0.5)
    with pytest.raises(ValueError, match=r"model=.*re-parametrised"):
        sms.fit(torch_pruned, data)


def _failing_train_fn(model, masking, setting, data):
    raise RuntimeError("retraining diverged")


def test_a_failure_during_retraining_propagates_and_leaves_the_model_untouched(task):
    model, data, val = task
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="diverged"):
        SparseModelSoup(0.8, n_ingredients=2, **FAST).fit(model, data, val, train_fn=_failing_train_fn)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
