"""The result type every solver plugin returns, so users can swap solvers (scipy.optimize's idiom).

A solver returns a :class:`SolverResult`: the solution ``x``, the number of iterations, whether
it met its tolerance, a per-iteration ``history`` of named metrics, and the wall time. A solver
that stops at its iteration limit returns ``converged=False`` and emits a
:class:`~sparsehub.errors.ConvergenceWarning` through :func:`warn_if_not_converged` — never a
silent wrong ``x``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConvergenceWarning, ShapeError, bad_value

__all__ = ["IterationLog", "SolverResult", "check_finite", "check_positive", "warn_if_not_converged"]


@dataclass
class SolverResult:
    """What a solver found and how it got there.

    ``history`` maps a metric name (``"objective"``, ``"gap"``, ``"residual"``, ``"seconds"``, ...)
    to one value per recorded iteration. ``info`` holds solver-specific extras (active set,
    learned hyperparameters, ...). ``success``, ``nit`` and ``fun`` are scipy's names for the same.
    """

    x: Any
    n_iter: int
    converged: bool
    history: dict[str, list[float]] = field(default_factory=dict)
    time: float = 0.0
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.converged

    @property
    def nit(self) -> int:
        return self.n_iter

    @property
    def fun(self) -> float | None:
        """The last recorded objective, or None when the solver records none."""
        values = self.history.get("objective")
        return values[-1] if values else None

    def __repr__(self) -> str:
        shape = getattr(self.x, "shape", None)
        what = f"x.shape={shape}" if shape is not None else f"x={self.x!r}"
        return (f"SolverResult({what}, n_iter={self.n_iter}, converged={self.converged}, "
                f"time={self.time:.3g}s, message={self.message!r})")


class IterationLog:
    """Collects per-iteration metrics and the elapsed time, then builds the :class:`SolverResult`.

    >>> log = IterationLog()
    >>> log.record(objective=1.0); log.record(objective=0.5)
    >>> log.result(x=0, converged=True).history["objective"]
    [1.0, 0.5]
    """

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self.history: dict[str, list[float]] = {}
        self.n_iter = 0

    def record(self, **metrics: float) -> None:
        """Append one iteration's metrics (and the seconds since the log started)."""
        self.n_iter += 1
        metrics.setdefault("seconds", time.perf_counter() - self._start)
        for name, value in metrics.items():
            self.history.setdefault(name, []).append(float(value))

    def __iter__(self) -> Iterator[str]:
        return iter(self.history)

    def result(self, x: Any, *, converged: bool, message: str = "", n_iter: int | None = None,
               **info: Any) -> SolverResult:
        """Close the log: the result with the history so far and the total wall time."""
        return SolverResult(x=x, n_iter=self.n_iter if n_iter is None else n_iter, converged=bool(converged),
                            history=self.history, time=time.perf_counter() - self._start,
                            message=message, info=info)


def warn_if_not_converged(result: SolverResult, solver: str, stacklevel: int = 3) -> SolverResult:
    """Emit a :class:`ConvergenceWarning` naming ``solver`` when ``result.converged`` is False."""
    if not result.converged:
        warnings.warn(f"{solver} did not converge after {result.n_iter} iterations: {result.message}",
                      ConvergenceWarning, stacklevel=stacklevel)
    return result


def check_finite(name: str, array: Any, *, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``array`` as a float ndarray after checking it has no NaN/Inf (and ``ndim`` if given).

    The message names the argument and the count of bad entries. scipy.sparse input is checked on
    its stored values and returned unchanged.
    """
    if hasattr(array, "tocsr") and hasattr(array, "data"):  # scipy.sparse
        bad = int(np.size(array.data) - np.isfinite(array.data).sum())
        if bad:
            raise ValueError(f"{name} has {bad} NaN/Inf stored values: expected finite values")
        return array
    arr = np.asarray(array)
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{name} has dtype {arr.dtype}: expected a real numeric array")
    if ndim is not None and arr.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        raise bad_value(f"{name}.ndim", arr.ndim, f"{ndim}", ShapeError)
    if arr.dtype.kind == "f":
        bad = int(arr.size - np.isfinite(arr).sum())
        if bad:
            raise ValueError(f"{name} has {bad} NaN/Inf entries: expected finite values")
    return arr


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float after checking it is a finite number > 0 (>= 0 with ``allow_zero``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise bad_value(name, value, "a positive number") from None
    ok = np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise bad_value(name, value, "a finite number >= 0" if allow_zero else "a finite number > 0")
    return v
