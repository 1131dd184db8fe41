"""GradualMagnitudePruner: exact counts on the cubic schedule, monotone masks, optimizer state, resume."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from sparsehub.errors import PatternError  # noqa: E402
from sparsehub.mask import pruned_count  # noqa: E402
from sparsehub.nn.schedule import PolynomialSchedule  # noqa: E402
from sparsehub_gradual_magnitude_pruning.gradual import GradualMagnitudePruner  # noqa: E402


def _mlp(seed: int = 0, widths=(12, 32, 24, 5)) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    return nn.Sequential(*layers)


def _train(model, optimizer, pruner, steps, seed=0, start=0, on_step=None):
    """``steps`` SGD steps on a fixed random regression-to-class task; the pruner steps after each."""
    gen = torch.Generator().manual_seed(seed)
    x_all = torch.randn(steps + start, 16, 12, generator=gen)
    y_all = torch.randint(0, 5, (steps + start, 16), generator=gen)
    for t in range(start, start + steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x_all[t]), y_all[t]).backward()
        optimizer.step()
        pruner.step(t)
        if on_step is not None:
            on_step(t)


def _schedule(final=0.9, begin=4, end=40, frequency=4, initial=0.0):
    return PolynomialSchedule(final, initial=initial, begin_step=begin, end_step=end, frequency=frequency)


def _pruned(model):
    return {n: int((p == 0).sum()) for n, p in model.named_parameters() if n.endswith("weight")}


# --- the schedule and the counts -------------------------------------------------------------------


def test_cubic_schedule_hits_its_end_points_and_an_eighth_of_the_way_at_the_midpoint():
    s = PolynomialSchedule(0.8, initial=0.2, begin_step=100, end_step=300, frequency=10)
    assert s(100) == 0.2 and s(300) == 0.8 and s(0) == 0.2 and s(10**6) == 0.8
    assert s(200) == pytest.approx(0.8 + (0.2 - 0.8) / 8, abs=1e-15)  # (1 - 1/2)^3 = 1/8
    values = [s(t) for t in range(0, 400)]
    assert all(a <= b for a, b in itertools.pairwise(values))


def test_every_update_prunes_exactly_round_s_t_n_entries_of_each_pruned_layer():
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    schedule = _schedule()
    pruner = GradualMagnitudePruner(schedule).attach(model, optimizer)
    checked = []

    def check(t):
        if schedule.is_update_step(t):
            for name, zeros in pruner.sparsity().items():
                n = dict(model.named_parameters())[name].numel()
                assert round(zeros * n) == pruned_count(n, schedule(t)), (t, name)
            checked.append(t)

    _train(model, optimizer, pruner, 50, on_step=check)
    assert checked == schedule.update_steps()
    assert [h[0] for h in pruner.history_] == schedule.update_steps()
    assert pruner.names == ("2.weight", "4.weight")  # the first layer is left dense by default
    zeros = _pruned(model)
    assert zeros["0.weight"] == 0
    assert zeros["2.weight"] == pruned_count(32 * 24, 0.9) and zeros["4.weight"] == pruned_count(24 * 5, 0.9)


def test_layer_masks_keep_the_largest_magnitudes_like_a_numpy_argsort():
    model = _mlp(1)
    pruner = GradualMagnitudePruner(_schedule(0.7, begin=0, end=1, frequency=1), exclude=()).attach(model)
    before = {
        n: p.detach().abs().numpy().ravel().copy() for n, p in model.named_parameters() if "weight" in n
    }
    pruner.step(1)
    for name, mask in pruner.masks().items():
        n = before[name].size
        keep = n - pruned_count(n, 0.7)
        oracle = np.zeros(n, dtype=bool)
        oracle[np.argsort(-before[name], kind="stable")[:keep]] = True
        np.testing.assert_array_equal(mask.array.ravel(), oracle)


def test_global_scope_keeps_the_largest_magnitudes_over_all_pruned_layers():
    model = _mlp(2)
    pruner = GradualMagnitudePruner(_schedule(0.6, begin=0, end=1, frequency=1), scope="global", exclude=())
    pruner.attach(model)
    weights = {
        n: p.detach().abs().numpy().ravel().copy() for n, p in model.named_parameters() if "weight" in n
    }
    pruner.step(1)
    flat = np.concatenate(list(weights.values()))
    keep = flat.size - pruned_count(flat.size, 0.6)
    oracle = np.zeros(flat.size, dtype=bool)
    oracle[np.argsort(-flat, kind="stable")[:keep]] = True
    got = np.concatenate([m.array.ravel() for m in pruner.masks().values()])
    np.testing.assert_array_equal(got, oracle)


def test_global_scope_never_empties_a_layer_and_keeps_the_exact_total():
    model = _mlp(3)
    with torch.no_grad():
        model[4].weight.mul_(1e-6)  # the classifier's weights rank below everything else
    pruner = GradualMagnitudePruner(_schedule(0.95, begin=0, end=1, frequency=1), scope="global").attach(
        model
    )
    pruner.step(1)
    masks = pruner.masks()
    total = sum(m.array.size for m in masks.values())
    assert sum(m.array.size - m.nnz for m in masks.values()) == pruned_count(total, 0.95)
    assert masks["4.weight"].nnz == 1
    assert int(model[4].weight.abs().argmax()) == int(np.flatnonzero(masks["4.weight"].array.ravel())[0])


def test_a_layer_keeps_one_weight_when_round_s_n_would_prune_all_of_it():
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))  # last layer: N = 16
    pruner = GradualMagnitudePruner(_schedule(0.97, begin=0, end=1, frequency=1)).attach(model)
    assert pruned_count(16, 0.97) == 16
    pruner.step(1)
    assert pruner.masks()["2.weight"].nnz == 1


def test_pruned_weights_are_never_regrown_even_when_kept_weights_are_exactly_zero():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 10))
    pruner = GradualMagnitudePruner(_schedule(0.75, begin=0, end=2, frequency=1)).attach(model)
    with torch.no_grad():  # low-index entries largest, so they survive the first update ...
        model[1].weight.copy_(torch.linspace(4.0, 0.1, 40).reshape(10, 4))
    pruner.step(0)
    pruner.step(1)
    first = pruner.masks()["1.weight"].array.copy()
    with torch.no_grad():  # ... then every kept weight becomes exactly 0, tying with the pruned ones
        model[1].weight.zero_()
    pruner.step(2)
    second = pruner.masks()["1.weight"].array
    assert not np.any(second & ~first)
    assert second.sum() == 40 - pruned_count(40, 0.75)


def test_channel_pattern_prunes_whole_output_rows_by_their_l1_norm():
    model = nn.Sequential(nn.Linear(6, 6), nn.Linear(6, 10))
    pruner = GradualMagnitudePruner(_schedule(0.5, begin=0, end=1, frequency=1), pattern="channel")
    pruner.attach(model)
    norms = model[1].weight.detach().abs().sum(dim=1).numpy()
    pruner.step(1)
    keep = pruner.masks()["1.weight"].array
    rows = keep.all(axis=1)
    assert np.array_equal(rows, keep.any(axis=1))  # rows are all-or-nothing
    np.testing.assert_array_equal(np.flatnonzero(rows), np.sort(np.argsort(-norms)[:5]))


# --- training interplay -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3),
        lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
    ],
    ids=["sgd-momentum", "adamw"],
)
def test_pruned_weights_and_their_optimizer_state_are_exactly_zero_after_every_step(make_optimizer):
    model = _mlp(4)
    optimizer = make_optimizer(model.parameters())
    pruner = GradualMagnitudePruner(_schedule(0.8, begin=2, end=20, frequency=3)).attach(model, optimizer)
    params = dict(model.named_parameters())

    def check(t):
        for name, keep in pruner.masking_.mask_tensors().items():
            assert torch.count_nonzero(params[name][~keep]) == 0, (t, name)
            for value in optimizer.state[params[name]].values():
                if value.shape == keep.shape:
                    assert torch.count_nonzero(value[~keep]) == 0, (t, name)

    _train(model, optimizer, pruner, 25, on_step=check)
    assert pruner.masking_.sparsity() == pytest.approx(0.8, abs=0.01)


def test_masks_are_frozen_after_the_end_step_and_untouched_before_the_begin_step():
    model = _mlp(5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    pruner = GradualMagnitudePruner(_schedule(0.5, initial=0.1, begin=10, end=20, frequency=5))
    pruner.attach(model, optimizer)
    _train(model, optimizer, pruner, 10)
    assert all(s == 0.0 for s in pruner.sparsity().values())  # steps 0..9: before t_0
    _train(model, optimizer, pruner, 11, start=10)
    frozen = {n: m.array.copy() for n, m in pruner.masks().items()}
    assert [h[0] for h in pruner.history_] == [10, 15, 20]
    assert pruner.history_[0][1] == 0.1  # s(t_0) = s_i
    _train(model, optimizer, pruner, 10, start=21)
    assert all(np.array_equal(frozen[n], m.array) for n, m in pruner.masks().items())


def test_a_loop_that_skips_steps_still_applies_the_update_it_passed():
    model = _mlp(6)
    pruner = GradualMagnitudePruner(_schedule(0.9, begin=0, end=40, frequency=10)).attach(model)
    assert pruner.step(3) is False  # update step 0 is due and applied: s = 0 prunes nothing
    assert pruner.last_update_ == 0
    assert pruner.step(27) is True  # passes 10 and 20: applies the latest, s(20)
    assert pruner.last_update_ == 20
    assert pruner.step(28) is False
    assert pruner.step(None) is False and pruner.last_step_ == 29
    pruner.step(1000)
    assert pruner.last_update_ == 40
    n = 32 * 24
    assert round(pruner.sparsity()["2.weight"] * n) == pruned_count(n, 0.9)


def test_the_pruner_plugs_into_the_fixture_training_loop():
    from sparsehub.nn.fixtures import train

    model = _mlp(7)
    pruner = GradualMagnitudePruner(_schedule(0.75, begin=2, end=10, frequency=2)).attach(model)
    gen = torch.Generator().manual_seed(0)
    data = (torch.randn(64, 12, generator=gen), torch.randint(0, 5, (64,), generator=gen))
    out = train(model, data, epochs=3, lr=0.05, batch_size=16, seed=0, masking=pruner)
    assert out["steps"] == 12 and pruner.last_step_ == 11 and pruner.last_update_ == 10
    assert pruner.masking_.sparsity() == pytest.approx(0.75, abs=0.01)


# --- checkpoints and removal --------------------------------------------------------------------------


def _setup(seed=8):
    model = _mlp(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    pruner = GradualMagnitudePruner(_schedule(0.85, begin=2, end=30, frequency=3)).attach(model, optimizer)
    return model, optimizer, pruner


def test_a_checkpoint_taken_mid_schedule_resumes_to_bit_identical_weights_and_masks():
    model, optimizer, pruner = _setup()
    _train(model, optimizer, pruner, 12)
    buffer = io.BytesIO()
    torch.save(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "pruner": pruner.state_dict()},
        buffer,
    )
    _train(model, optimizer, pruner, 25, start=12)

    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    resumed, optimizer2, pruner2 = _setup(seed=99)  # other initial weights: all must come from the checkpoint
    resumed.load_state_dict(checkpoint["model"])
    optimizer2.load_state_dict(checkpoint["optimizer"])
    pruner2.load_state_dict(checkpoint["pruner"])
    assert pruner2.last_step_ == 11
    _train(resumed, optimizer2, pruner2, 25, start=12)
    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert pruner.history_ == pruner2.history_


def test_remove_bakes_the_masks_and_leaves_the_plain_state_dict_keys():
    model, optimizer, pruner = _setup()
    plain_keys = set(_mlp().state_dict())
    _train(model, optimizer, pruner, 31)
    masks = pruner.remove()
    assert set(model.state_dict()) == plain_keys
    for name, mask in masks.items():
        weight = dict(model.named_parameters())[name].detach()
        assert torch.count_nonzero(weight[~mask.to_torch()]) == 0
    optimizer.step()  # no longer hooked, and nothing breaks
    with pytest.raises(RuntimeError, match="not attached"):
        pruner.step(32)
    pruner.attach(model, optimizer)  # a removed pruner can be attached again


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"final": 0.5, "initial": 0.6}, "final"),
        ({"final": 1.0}, "final"),
        ({"final": -0.1}, "final"),
        ({"final": 0.5, "begin_step": 10, "end_step": 10}, "end_step"),
        ({"final": 0.5, "begin_step": 10, "end_step": 5}, "end_step"),
        ({"final": 0.5, "frequency": 0}, "frequency"),
    ],
)
def test_a_bad_schedule_is_rejected_naming_its_argument(kwargs, argument):
    kwargs.setdefault("end_step", 100)
    with pytest.raises(ValueError, match=argument):
        PolynomialSchedule(**kwargs)


@pytest.mark.parametrize(
    "kwargs, argument, error",
    [
        ({"schedule": 0.9}, "schedule", ValueError),
        ({"scope": "model"}, "scope", ValueError),
        ({"pattern": "2:4"}, "pattern", PatternError),
        ({"pattern": "channel", "scope": "global"}, "pattern", PatternError),
        ({"include": ()}, "include", ValueError),
        ({"exclude": (3,)}, "exclude", ValueError),
    ],
)
def test_bad_configuration_is_rejected_naming_the_argument(kwargs, argument, error):
    kwargs.setdefault("schedule", _schedule())
    schedule = kwargs.pop("schedule")
    with pytest.raises(error, match=argument):
        GradualMagnitudePruner(schedule, **kwargs)


def test_attach_rejects_models_it_cannot_prune_and_leaves_them_unchanged():
    single = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="exclude"):
        GradualMagnitudePruner(_schedule()).attach(single)  # its only layer is the excluded first one
    assert set(single.state_dict()) == {"0.weight", "0.bias"}
    with pytest.raises(PatternError, match="pattern"):
        GradualMagnitudePruner(_schedule(), pattern="4x4", exclude=()).attach(nn.Sequential(nn.Linear(3, 6)))
    model, _, pruner = _setup()
    keys = set(model.state_dict())
    with pytest.raises(RuntimeError, match="attached already"):
        pruner.attach(model)
    with pytest.raises(ValueError, match="already"):
        GradualMagnitudePruner(_schedule()).attach(model)  # a second pruner on the same weights
    assert set(model.state_dict()) == keys


def test_a_step_that_does_not_move_forward_is_rejected_and_changes_nothing():
    model, optimizer, pruner = _setup()
    _train(model, optimizer, pruner, 6)
    for bad in (5, 3, -1, 2.5, True):
        with pytest.raises(ValueError, match="global_step"):
            pruner.step(bad)
    assert pruner.last_step_ == 5


def test_nan_weights_are_rejected_at_a_pruning_step_and_nothing_is_pruned():
    model, optimizer, pruner = _setup()
    _train(model, optimizer, pruner, 4)
    masks = {n: m.array.copy() for n, m in pruner.masks().items()}
    with torch.no_grad():
        model[2].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        pruner.step(5)  # update step 5 is due
    assert pruner.last_step_ == 3 and pruner.last_update_ == 2
    assert all(np.array_equal(masks[n], m.array) for n, m in pruner.masks().items())


def test_loading_a_checkpoint_of_another_configuration_or_model_changes_nothing():
    model, optimizer, pruner = _setup()
    _train(model, optimizer, pruner, 10)
    state = pruner.state_dict()
    _, _, fresh = _setup(seed=9)
    other = GradualMagnitudePruner(_schedule(0.5)).attach(_mlp(9))
    with pytest.raises(ValueError, match="config"):
        other.load_state_dict(state)
    wider = GradualMagnitudePruner(_schedule(0.85, begin=2, end=30, frequency=3))
    wider.attach(_mlp(9, widths=(12, 32, 24, 24, 5)))
    with pytest.raises(ValueError, match="masks"):
        wider.load_state_dict(state)
    with pytest.raises(ValueError, match="version"):
        fresh.load_state_dict({"version": 7})
    assert fresh.last_step_ == -1 and all(s == 0.0 for s in fresh.sparsity().values())
    assert other.last_step_ == -1 and wider.last_step_ == -1
