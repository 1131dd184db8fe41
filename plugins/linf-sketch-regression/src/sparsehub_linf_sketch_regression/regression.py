"""Sketch-and-solve least squares, x' = argmin ||S A x - S b||_2, and its l_infinity error.

:func:`sketch_lstsq` is the solver (paper, Sec. 1: sketch A and b with an m x n S, then solve the
m x d problem exactly). :func:`linf_reference` / :func:`linf_error` measure a solution against
the paper's guarantee ||x' - x*||_inf <= eps / sqrt(d) * ||A x* - b||_2 * ||A^+||, reporting the
effective eps_eff = ||x' - x*||_inf sqrt(d) / (||A x* - b|| ||A^+||) that a run achieved.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from sparsehub.errors import ShapeError, bad_value
from sparsehub.solver import IterationLog, SolverResult, check_finite

from .rows import default_rows, linf_rows
from .sketches import KINDS, _is_sparse, make_sketch

__all__ = ["LinfReference", "RankDeficiencyWarning", "linf_error", "linf_reference", "sketch_lstsq"]


class RankDeficiencyWarning(UserWarning):
    """S A has rank < d: A is rank deficient (x* is not unique) or the sketch lost a direction."""


def _check_problem(A: Any, b: Any) -> tuple[Any, np.ndarray]:
    if _is_sparse(A):
        check_finite("A", A)
        if np.iscomplexobj(A.data):
            raise bad_value("A.dtype", A.dtype, "a real dtype (split complex data into parts)")
    else:
        A = check_finite("A", A, ndim=2)
    if len(A.shape) != 2 or min(A.shape) < 1:
        raise bad_value("A.shape", A.shape, "a non-empty 2-D (n, d) array", ShapeError)
    b = check_finite("b", b, ndim=1)
    if b.shape[0] != A.shape[0]:
        raise bad_value("b.shape", b.shape, f"({A.shape[0]},) to match A's {A.shape[0]} rows", ShapeError)
    return A, b


def _choose_rows(m: Any, eps: Any, delta: float, kind: str, n: int, d: int) -> int:
    if m is not None and eps is not None:
        raise bad_value("eps", eps, "None when m is given (give the row count m or the accuracy eps, not both)")
    if eps is not None:
        m = linf_rows(d, n, eps, delta, kind)
        if m > n:
            raise bad_value(
                "eps", eps, f"a value whose row count is <= n = {n}: eps={eps} needs m = {m} rows "
                "(paper's count, constant 1); pass m directly or solve exactly with numpy.linalg.lstsq"
            )
        return m
    if m is None:
        return default_rows(n, d)
    if not isinstance(m, (int, np.integer)) or isinstance(m, bool) or not d <= m <= n:
        raise bad_value("m", m, f"an int in [d, n] = [{d}, {n}] (m < d leaves S A rank deficient)")
    return int(m)


def sketch_lstsq(
    A: Any,
    b: Any,
    m: int | None = None,
    kind: str = "srht",
    *,
    eps: float | None = None,
    delta: float = 0.01,
    s: int = 4,
    random_state: Any = None,
) -> SolverResult:
    """Least squares by sketch-and-solve: x' = (S A)^+ S b with an m x n sketch S of ``kind``.

    A is (n, d) dense or scipy.sparse with n >= d, b is (n,). The row count is ``m``, or the
    paper's l_infinity row count for (``eps``, ``delta``) (:func:`~.rows.linf_rows`, SRHT or
    Gaussian), or :func:`~.rows.default_rows` = 4 d ceil(log2 n). ``s`` is OSNAP's non-zeros per
    column. Returns a :class:`~sparsehub.solver.SolverResult` (n_iter = 1: a direct method) whose
    ``info`` holds ``m``, ``kind``, ``rank`` (of S A), ``sketch_time``, ``solve_time``,
    ``sketched_residual`` = ||S A x' - S b|| and the drawn ``sketch``.
    Emits :class:`RankDeficiencyWarning` when S A has rank < d.
    """
    if kind not in KINDS:
        raise bad_value("kind", kind, f"one of {', '.join(KINDS)}")
    A, b = _check_problem(A, b)
    n, d = A.shape
    if n < d:
        raise bad_value("A.shape", A.shape, "n >= d (an overdetermined system: sketching reduces n)", ShapeError)
    m = _choose_rows(m, eps, delta, kind, n, d)
    log = IterationLog()
    sketch = make_sketch(kind, n=n, m=m, s=s, random_state=random_state)
    start = time.perf_counter()
    SA, Sb = sketch.apply_system(A, b)
    sketch_time = time.perf_counter() - start
    start = time.perf_counter()
    x, _, rank, _ = np.linalg.lstsq(SA, Sb, rcond=None)
    solve_time = time.perf_counter() - start
    sketched = float(np.linalg.norm(SA @ x - Sb))
    if rank < d:
        warnings.warn(
            f"S A has rank {rank} < d = {d}: A is rank deficient (x* is not unique; the minimum-norm "
            f"x' is returned) or m = {m} rows lost a direction",
            RankDeficiencyWarning,
            stacklevel=2,
        )
    log.record(sketched_residual=sketched)
    return log.result(
        x, converged=True, n_iter=1, message=f"sketch-and-solve with {kind}, m = {m}",
        m=m, kind=kind, rank=int(rank), sketch_time=sketch_time, solve_time=solve_time,
        sketched_residual=sketched, sketch=sketch,
    )


@dataclass
class LinfReference:
    """The exact solution of min ||A x - b|| and the scale of the paper's l_infinity bound.

    ``bound_scale`` = ||A x* - b|| ||A^+|| / sqrt(d): the bound reads ||x' - x*||_inf <= eps * bound_scale.
    """

    x_star: np.ndarray
    residual: float
    pinv_norm: float
    bound_scale: float
    A: Any
    b: np.ndarray

    def error(self, x_hat: Any) -> dict[str, float]:
        """linf, l2 (of x' - x*), eps_eff = linf / bound_scale and cost_ratio = ||A x' - b|| / ||A x* - b||."""
        x_hat = check_finite("x_hat", x_hat, ndim=1)
        if x_hat.shape != self.x_star.shape:
            raise bad_value("x_hat.shape", x_hat.shape, f"{self.x_star.shape} (one value per column of A)",
                            ShapeError)
        diff = x_hat - self.x_star
        linf = float(np.abs(diff).max())
        cost = float(np.linalg.norm(self.A @ x_hat - self.b))
        return {
            "linf": linf,
            "l2": float(np.linalg.norm(diff)),
            "bound_scale": self.bound_scale,
            "eps_eff": _ratio(linf, self.bound_scale),
            "cost_ratio": _ratio(cost, self.residual),
        }


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 0.0 if num == 0 else math.inf


def linf_reference(A: Any, b: Any) -> LinfReference:
    """x* by ``numpy.linalg.lstsq`` in float64 and ||A^+|| = 1 / (smallest non-zero singular value of A)."""
    A, b = _check_problem(A, b)
    dense = np.asarray(A.toarray() if _is_sparse(A) else A, dtype=np.float64)
    x_star, _, _, sv = np.linalg.lstsq(dense, b.astype(np.float64), rcond=None)
    tol = sv.max(initial=0.0) * max(dense.shape) * np.finfo(np.float64).eps
    kept = sv[sv > tol]
    pinv_norm = 1.0 / kept.min() if kept.size else math.inf
    residual = float(np.linalg.norm(dense @ x_star - b))
    scale = residual * pinv_norm / math.sqrt(dense.shape[1]) if residual > 0 else 0.0
    return LinfReference(x_star, residual, pinv_norm, scale, dense, b)


def linf_error(x_hat: Any, A: Any, b: Any) -> dict[str, float]:
    """How x_hat compares with x* in the paper's terms (see :meth:`LinfReference.error`)."""
    return linf_reference(A, b).error(x_hat)
