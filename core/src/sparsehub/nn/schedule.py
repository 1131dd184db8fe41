"""Sparsity schedules: the polynomial (cubic) schedule of gradual pruning and the phases of IMP.

Both are pure functions of the step or phase: no internal counter, so a resumed run asks the
schedule the same question and gets the same answer.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from sparsehub.errors import bad_value

__all__ = ["IMPSchedule", "PolynomialSchedule", "imp_phase_fractions"]


def _check_sparsity(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) < 1.0:
        raise bad_value(name, value, "a float in [0, 1)")
    return float(value)


def _check_int(name: str, value: object, allowed: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise bad_value(name, value, allowed)
    return int(value)


@dataclass(frozen=True)
class PolynomialSchedule:
    """Sparsity at training step t: the polynomial decay of gradual magnitude pruning (paper 31).

        s_t = s_f + (s_i - s_f) * (1 - (t - t_0) / (t_end - t_0)) ** power   for t_0 <= t <= t_end,

    s_i before t_0 and s_f after t_end (power 3 is the paper's cubic schedule; with
    t_end = t_0 + n * dt it is torch.ao.pruning's ``CubicSL``). The mask is updated only on the
    steps where :meth:`is_update_step` holds: t_0, t_0 + frequency, ... up to t_end, and t_end itself
    even when ``frequency`` does not divide t_end - t_0, so the final sparsity is always reached.

    ``final`` (s_f) and ``initial`` (s_i) in [0, 1) with final >= initial; ``begin_step`` >= 0;
    ``end_step`` > ``begin_step``; ``frequency`` >= 1 steps; ``power`` > 0.
    """

    final: float
    initial: float = 0.0
    begin_step: int = 0
    end_step: int | None = None
    frequency: int = 100
    power: float = 3.0

    def __post_init__(self) -> None:
        final = _check_sparsity("final", self.final)
        initial = _check_sparsity("initial", self.initial)
        if final < initial:
            raise bad_value("final", self.final, f"a sparsity >= initial={initial!r} (sparsity only grows)")
        begin = _check_int("begin_step", self.begin_step, "an int >= 0", 0)
        if self.end_step is None:
            raise bad_value("end_step", None, f"an int > begin_step={begin}")
        end = _check_int("end_step", self.end_step, f"an int > begin_step={begin}", begin + 1)
        frequency = _check_int("frequency", self.frequency, "an int >= 1", 1)
        if (
            isinstance(self.power, bool)
            or not isinstance(self.power, numbers.Real)
            or not 0 < self.power < math.inf
        ):
            raise bad_value("power", self.power, "a finite float > 0")
        for field, value in (
            ("final", final),
            ("initial", initial),
            ("begin_step", begin),
            ("end_step", end),
            ("frequency", frequency),
            ("power", float(self.power)),
        ):
            object.__setattr__(self, field, value)

    def _step(self, step: object) -> int:
        return _check_int("step", step, "an int >= 0", 0)

    def __call__(self, step: int) -> float:
        """The target sparsity s_t at ``step`` (an int >= 0)."""
        t = self._step(step)
        if t <= self.begin_step:
            return self.initial
        if t >= self.end_step:
            return self.final
        remaining = 1.0 - (t - self.begin_step) / (self.end_step - self.begin_step)
        return self.final + (self.initial - self.final) * remaining**self.power

    def is_update_step(self, step: int) -> bool:
        """Whether the mask is recomputed at ``step``: t_0 <= t <= t_end and (t - t_0) % frequency == 0, or t == t_end."""
        t = self._step(step)
        if t < self.begin_step or t > self.end_step:
            return False
        return (t - self.begin_step) % self.frequency == 0 or t == self.end_step

    def update_steps(self) -> list[int]:
        """Every step at which :meth:`is_update_step` is true, in order."""
        steps = list(range(self.begin_step, self.end_step + 1, self.frequency))
        if steps[-1] != self.end_step:
            steps.append(self.end_step)
        return steps


def imp_phase_fractions(target: float, n_phases: int) -> tuple[list[float], list[float]]:
    """The per-phase prune fraction of iterative magnitude pruning and the sparsity after each phase.

    Paper 12 (Sparse Model Soups): to reach sparsity S in P prune-retrain phases, every phase prunes
    the same fraction p = 1 - (1 - S) ** (1 / P) of the weights that remain, so after phase k the
    sparsity is 1 - (1 - p) ** k. Returns ``([p] * P, [s_1, ..., s_P])`` with s_P == target exactly
    (the float is returned, not 1 - (1 - p) ** P, which can miss it by an ulp).
    """
    target = _check_sparsity("target", target)
    n = _check_int("n_phases", n_phases, "an int >= 1", 1)
    fraction = 1.0 - (1.0 - target) ** (1.0 / n)
    sparsities = [1.0 - (1.0 - fraction) ** k for k in range(1, n)] + [target]
    return [fraction] * n, sparsities


@dataclass(frozen=True)
class IMPSchedule:
    """The sparsity targets of P prune-retrain phases of iterative magnitude pruning (paper 12).

    ``schedule(k)`` is the sparsity after phase k (0 before the first phase, ``target`` after the
    last); ``schedule.fraction`` is p = 1 - (1 - S) ** (1 / P), the fraction of the remaining weights
    that each phase prunes. Iterating yields the P sparsities in order.
    """

    target: float
    n_phases: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", _check_sparsity("target", self.target))
        object.__setattr__(self, "n_phases", _check_int("n_phases", self.n_phases, "an int >= 1", 1))

    @property
    def fraction(self) -> float:
        """p: the fraction of the remaining weights pruned in every phase."""
        return imp_phase_fractions(self.target, self.n_phases)[0][0]

    @property
    def sparsities(self) -> list[float]:
        """Sparsity after phases 1..P (the last is ``target``)."""
        return imp_phase_fractions(self.target, self.n_phases)[1]

    def __call__(self, phase: int) -> float:
        """Sparsity after ``phase`` phases (0 <= phase <= n_phases)."""
        k = _check_int("phase", phase, f"an int in [0, {self.n_phases}]", 0)
        if k > self.n_phases:
            raise bad_value("phase", phase, f"an int in [0, {self.n_phases}]")
        return 0.0 if k == 0 else self.sparsities[k - 1]

    def __len__(self) -> int:
        return self.n_phases

    def __iter__(self):
        return iter(self.sparsities)
