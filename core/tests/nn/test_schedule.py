"""The cubic schedule of gradual pruning and the phases of IMP are pure, exact and validated."""

from __future__ import annotations

import itertools
import math

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sparsehub.nn.schedule import IMPSchedule, PolynomialSchedule, imp_phase_fractions  # noqa: E402

FAST = settings(max_examples=60, deadline=None)


def test_schedule_starts_at_initial_and_ends_at_final():
    s = PolynomialSchedule(0.9, initial=0.1, begin_step=100, end_step=1100, frequency=50)
    assert s(0) == s(99) == s(100) == 0.1
    assert s(1100) == s(5000) == 0.9


def test_cubic_midpoint_is_final_plus_an_eighth_of_the_gap():
    s = PolynomialSchedule(0.95, initial=0.2, begin_step=10, end_step=210)
    assert s(110) == pytest.approx(0.95 + (0.2 - 0.95) / 8, abs=1e-15)


@FAST
@given(
    final=st.floats(0.0, 0.999),
    initial=st.floats(0.0, 0.999),
    begin=st.integers(0, 50),
    length=st.integers(1, 500),
    power=st.floats(0.5, 5.0),
)
def test_schedule_is_monotone_and_stays_between_initial_and_final(final, initial, begin, length, power):
    initial, final = min(initial, final), max(initial, final)
    s = PolynomialSchedule(final, initial=initial, begin_step=begin, end_step=begin + length, power=power)
    values = [s(t) for t in range(0, begin + length + 3)]
    assert all(b >= a for a, b in itertools.pairwise(values))
    assert all(initial - 1e-15 <= v <= final + 1e-15 for v in values)


def test_schedule_is_a_pure_function_of_the_step():
    s = PolynomialSchedule(0.8, end_step=1000, frequency=10)
    forward = [s(t) for t in range(0, 1001, 7)]
    backward = [s(t) for t in reversed(range(0, 1001, 7))]
    assert forward == backward[::-1]


def test_schedule_matches_torch_cubic_sl_where_they_coincide():
    from torch.ao.pruning import CubicSL

    # CubicSL: s = s_f + (s_0 - s_f)(1 - (t - t_0)/(n dt))^3, clamped to [s_0, s_f]; ours with end = t_0 + n dt
    s0, sf, t0, dt, n = 0.1, 0.9, 20, 10, 30
    ours = PolynomialSchedule(sf, initial=s0, begin_step=t0, end_step=t0 + n * dt, frequency=dt)
    for t in range(t0, t0 + n * dt + 1):
        theirs = CubicSL.sparsity_compute_fn(s0, sf, t, t0, dt, n)
        assert ours(t) == pytest.approx(theirs, abs=1e-12)


def test_update_steps_follow_the_frequency_and_always_include_the_end():
    s = PolynomialSchedule(0.5, begin_step=10, end_step=100, frequency=25)
    updates = [t for t in range(0, 200) if s.is_update_step(t)]
    assert updates == [10, 35, 60, 85, 100] == s.update_steps()
    aligned = PolynomialSchedule(0.5, begin_step=0, end_step=100, frequency=20)
    assert aligned.update_steps() == [0, 20, 40, 60, 80, 100]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"final": 0.5, "initial": 0.6, "end_step": 10},
            r"final=0\.5 is not allowed: expected a sparsity >= initial",
        ),
        ({"final": 1.0, "end_step": 10}, r"final=1\.0 is not allowed: expected a float in \[0, 1\)"),
        ({"final": 0.5, "initial": -0.1, "end_step": 10}, r"initial=-0\.1 is not allowed"),
        (
            {"final": 0.5, "begin_step": 10, "end_step": 10},
            r"end_step=10 is not allowed: expected an int > begin_step=10",
        ),
        ({"final": 0.5, "begin_step": 10, "end_step": 5}, r"end_step=5 is not allowed"),
        ({"final": 0.5}, r"end_step=None is not allowed"),
        ({"final": 0.5, "end_step": 10, "frequency": 0}, r"frequency=0 is not allowed: expected an int >= 1"),
        ({"final": 0.5, "end_step": 10, "power": 0}, r"power=0 is not allowed"),
        ({"final": 0.5, "begin_step": -1, "end_step": 10}, r"begin_step=-1 is not allowed"),
    ],
)
def test_bad_schedules_are_rejected_with_the_argument_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PolynomialSchedule(**kwargs)


@pytest.mark.parametrize("step", [-1, 2.5, "3", None])
def test_steps_must_be_non_negative_ints(step):
    s = PolynomialSchedule(0.5, end_step=10)
    with pytest.raises(ValueError, match="step="):
        s(step)
    with pytest.raises(ValueError, match="step="):
        s.is_update_step(step)


@pytest.mark.parametrize(("target", "phases"), [(0.9, 1), (0.9, 3), (0.97, 3), (0.98, 7), (0.5, 2), (0.0, 4)])
def test_imp_phases_prune_a_constant_fraction_of_the_remaining_weights(target, phases):
    fractions, sparsities = imp_phase_fractions(target, phases)
    p = 1 - (1 - target) ** (1 / phases)
    assert fractions == pytest.approx([p] * phases, abs=1e-15)
    assert sparsities[-1] == target
    remaining = 1.0
    for k in range(phases):
        remaining *= 1 - fractions[k]
        assert sparsities[k] == pytest.approx(1 - remaining, abs=1e-12)
    assert all(b > a for a, b in itertools.pairwise(sparsities)) or target == 0.0


def test_imp_schedule_gives_zero_before_the_first_phase_and_the_target_after_the_last():
    sched = IMPSchedule(0.9, 2)
    assert len(sched) == 2
    assert sched(0) == 0.0 and sched(2) == 0.9
    assert sched(1) == pytest.approx(1 - math.sqrt(0.1), abs=1e-15)
    assert list(sched) == sched.sparsities
    assert sched.fraction == pytest.approx(1 - math.sqrt(0.1), abs=1e-15)
    with pytest.raises(ValueError, match=r"phase=3 is not allowed: expected an int in \[0, 2\]"):
        sched(3)


@pytest.mark.parametrize(("target", "phases"), [(1.0, 3), (-0.1, 3), (0.9, 0), (0.9, 1.5)])
def test_imp_phase_fractions_reject_bad_input(target, phases):
    with pytest.raises(ValueError, match="is not allowed"):
        imp_phase_fractions(target, phases)
