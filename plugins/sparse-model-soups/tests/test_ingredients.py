"""Ingredient settings and one masked retraining run: what varies, what stays, and the mask holding."""

import pickle

import pytest
import torch

from sparsehub.nn.fixtures import digits, tiny_cnn
from sparsehub_sparse_model_soups import RetrainSetting, ingredient_settings, magnitude_masks
from sparsehub_sparse_model_soups.ingredients import IngredientPool, retrain, setting_seed

BASE = RetrainSetting(seed=setting_seed(0, 2, 0), lr=0.1, epochs=4, weight_decay=1e-4, phase=2)


def test_seed_variation_changes_only_the_seed_and_ingredient_zero_keeps_the_imp_seed():
    settings = ingredient_settings(BASE, "seed", 4, seed=0)
    seeds = [s.seed for s in settings]
    assert len(set(seeds)) == 4 and seeds[0] == BASE.seed
    assert all((s.lr, s.epochs, s.weight_decay, s.schedule) == (0.1, 4, 1e-4, "llr") for s in settings)
    assert [s.index for s in settings] == [0, 1, 2, 3]


def test_weight_decay_variation_is_a_geometric_spread_around_the_base_with_one_seed():
    settings = ingredient_settings(BASE, "weight_decay", 3, seed=0)
    assert [s.weight_decay for s in settings] == pytest.approx([0.5e-4, 1e-4, 2e-4])
    assert len({s.seed for s in settings}) == 1


def test_retrain_length_variation_spreads_epochs_around_the_base():
    settings = ingredient_settings(BASE, "retrain_length", 3, seed=0)
    assert [s.epochs for s in settings] == [2, 4, 6]


def test_lr_schedule_variation_cycles_the_schedules_and_needs_values_beyond_three():
    assert [s.schedule for s in ingredient_settings(BASE, "lr_schedule", 3)] == ["llr", "cosine", "constant"]
    with pytest.raises(ValueError, match="values=None"):
        ingredient_settings(BASE, "lr_schedule", 4)
    given = ingredient_settings(BASE, "lr_schedule", 4, ["llr", "llr", "cosine", "cosine"])
    assert [s.schedule for s in given] == ["llr", "llr", "cosine", "cosine"]


@pytest.mark.parametrize(
    ("vary", "values", "match"),
    [
        ("momentum", None, "vary='momentum'"),
        ("seed", [1, 2], "values="),
        ("weight_decay", [1e-4, -1.0, 0.0], "values="),
        ("retrain_length", [1, 0, 2], "values="),
        ("lr_schedule", ["llr", "step", "cosine"], "values="),
    ],
)
def test_bad_variations_are_rejected_with_their_name(vary, values, match):
    with pytest.raises(ValueError, match=match):
        ingredient_settings(BASE, vary, 3, values)


@pytest.fixture(scope="module")
def small():
    X, y, _, _ = digits(image=True)
    data = (X[:256], y[:256])
    model = tiny_cnn(channels=(4, 8), seed=0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    names = ["0.weight", "4.weight", "9.weight"]
    masks = {n: m.to_torch() for n, m in magnitude_masks({n: state[n] for n in names}, 0.6).items()}
    for n in names:
        state[n] = state[n] * masks[n]
    return model, state, masks, data


def test_retraining_keeps_pruned_weights_exactly_zero_and_returns_the_same_mask(small):
    model, state, masks, data = small
    new_state, new_masks = retrain(model, state, masks, RetrainSetting(seed=3, lr=0.1, epochs=2), data)
    for name, keep in masks.items():
        assert torch.equal(new_masks[name], keep)
        assert (new_state[name][~keep] == 0).all()
        assert not torch.equal(new_state[name][keep], state[name][keep])  # it did train
    assert set(new_state) == set(model.state_dict())


def test_retraining_is_bit_identical_for_the_same_seed_and_differs_for_another(small):
    model, state, masks, data = small
    a, _ = retrain(model, state, masks, RetrainSetting(seed=3, lr=0.1, epochs=1), data, threads=1)
    b, _ = retrain(model, state, masks, RetrainSetting(seed=3, lr=0.1, epochs=1), data, threads=1)
    c, _ = retrain(model, state, masks, RetrainSetting(seed=4, lr=0.1, epochs=1), data, threads=1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["9.weight"], c["9.weight"])


def _scale_last_layer(model, masking, setting, data):
    """A custom train_fn (module level, so workers can import it): one deterministic masked update."""
    with torch.no_grad():
        model[9].weight.mul_(2.0).add_(float(setting.index))
    masking.apply_()


def test_a_custom_train_fn_gets_the_masking_and_the_setting(small):
    model, state, masks, _ = small
    setting = RetrainSetting(seed=0, lr=0.1, epochs=1, index=3)
    new_state, _ = retrain(model, state, masks, setting, None, train_fn=_scale_last_layer)
    keep = masks["9.weight"]
    expected = torch.where(keep, state["9.weight"] * 2 + 3, torch.zeros(()))
    assert torch.equal(new_state["9.weight"], expected)


def test_an_unpicklable_train_fn_is_rejected_before_any_worker_starts(small):
    model, _, _, data = small
    with pytest.raises(ValueError, match=r"train_fn=.*picklable"):
        IngredientPool(model, data, lambda *a: None, n_workers=2)
    pickle.dumps(_scale_last_layer)  # the module-level one is fine
