"""Greedy variable-block BCD for the Lasso, with numba inner loops: ``bcd_lasso``.

min_x 1/2 ||A x - b||^2 + sum_j lam_j |x_j|. Each outer iteration is one proximal BCD step of the
paper (Section 6): compute the gradient -A^T r, select a variable block by the GS-q rule (the
decrease of the diagonal proximal model, (|A_j^T r| - lam_j)_+^2 / (2 L_j) for a zero
coordinate), always keeping the current non-zeros in the block (the block-size condition
τ >= |support| of the superlinear-convergence result), and update the block exactly: the block
Lasso is solved by coordinate descent to a fraction of the current duality gap. Once the block
holds the final support this is the finite-termination regime of Section 6.3.

The stopping rule is scikit-learn's: duality gap <= tol * ||b||^2 with the dual point
theta = r / max(1, ||A^T r / lam||_inf), so both solvers stop at the same certified accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparsehub.errors import ShapeError, bad_value
from sparsehub.solver import IterationLog, SolverResult, check_finite, check_positive, warn_if_not_converged

from .problems import _is_sparse

__all__ = ["bcd_lasso", "lasso_duality_gap"]


def lasso_duality_gap(A: Any, b: np.ndarray, x: np.ndarray, lam: Any) -> float:
    """P(x) - D(theta) for the Lasso with theta = r / max(1, ||A^T r / lam||_inf), r = b - A x.

    A: (n, p) ndarray or scipy.sparse; b: (n,); x: (p,); lam: float or (p,) > 0.
    """
    r = b - np.asarray(A @ x).reshape(-1)
    c = np.asarray(A.T @ r).reshape(-1)
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), x.shape)
    s = max(1.0, float(np.max(np.abs(c) / lam)))
    rr, rb = float(r @ r), float(r @ b)
    return 0.5 * rr + float(lam @ np.abs(x)) - rb / s + 0.5 * rr / s**2


def _lam(lam: Any, p: int) -> np.ndarray:
    if np.ndim(lam) == 0:
        return np.full(p, check_positive("lam", lam))
    arr = np.asarray(check_finite("lam", lam, ndim=1), dtype=np.float64)
    if arr.shape != (p,):
        raise bad_value("lam.shape", arr.shape, f"({p},) or a scalar", ShapeError)
    if arr.min() <= 0:
        raise bad_value("lam", f"an array with min {arr.min():g}", "entries > 0 (the duality gap needs them)")
    return arr


def bcd_lasso(
    A: Any,
    b: Any,
    lam: Any,
    *,
    x0: Any = None,
    tol: float = 1e-6,
    block_size: int = 64,
    max_iter: int = 200,
    max_sweeps: int = 10_000,
    gap_fraction: float = 0.3,
    check_input: bool = True,
) -> SolverResult:
    """Lasso by greedy (GS-q) variable-block BCD with exact block updates; numba inner loops.

    Paper Section 6 (proximal greedy BCD, active-set identification, finite termination).

    A: (n, p) ndarray (copied to Fortran order if needed) or scipy.sparse; b: (n,);
    lam: float > 0 or (p,) array > 0. x0: (p,) start (zeros by default).
    tol: stop when the duality gap <= tol * ||b||^2 (scikit-learn's rule).
    block_size: the smallest block; a block holds max(block_size, 2 |support|) coordinates.
    max_iter: outer iterations (one full gradient each). gap_fraction: each block solve runs
    until its own gap is below gap_fraction * the current gap. check_input=False skips the NaN/Inf
    scan of A and b (for callers that validated them already, as scikit-learn's Lasso allows).

    Returns a SolverResult: ``x`` (p,), ``history['objective']`` and ``history['gap']`` per outer
    iteration, ``info``: ``coordinate_updates`` (inner coordinate steps), ``gradient_evaluations``
    (full A^T r products), ``active_set_iter`` (the outer iteration after which the support no
    longer changed), ``support_size``, ``block_sizes``.
    """

    def checked(name: str, value: Any, ndim: int) -> Any:
        return check_finite(name, value, ndim=ndim) if check_input else value

    sparse = _is_sparse(A)
    if sparse:
        A = checked("A", A, 2).tocsc().astype(np.float64)
        A.sort_indices()
    else:
        A = np.asfortranarray(checked("A", A, 2), dtype=np.float64)
    if A.ndim != 2:
        raise bad_value("A.ndim", A.ndim, "2", ShapeError)
    n, p = A.shape
    b = np.asarray(checked("b", b, 1), dtype=np.float64)
    if b.ndim != 1:
        raise bad_value("b.ndim", b.ndim, "1", ShapeError)
    if b.shape != (n,):
        raise bad_value("b.shape", b.shape, f"({n},) to match A.shape={A.shape}", ShapeError)
    lam_arr = _lam(lam, p)
    tol = check_positive("tol", tol)
    for name, value in (("block_size", block_size), ("max_iter", max_iter), ("max_sweeps", max_sweeps)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise bad_value(name, value, "an int >= 1")
    if not 0 < gap_fraction < 1:
        raise bad_value("gap_fraction", gap_fraction, "a number in (0, 1)")
    from .kernels import lasso_working_set, lasso_working_set_csc

    L = np.asarray(A.multiply(A).sum(axis=0)).reshape(-1) if sparse else np.einsum("ij,ij->j", A, A)
    x = np.zeros(p) if x0 is None else np.array(check_finite("x0", x0, ndim=1), dtype=np.float64)
    if x.shape != (p,):
        raise bad_value("x0.shape", x.shape, f"({p},)", ShapeError)
    x[L == 0] = 0.0  # an all-zero feature only pays its penalty
    r = b - np.asarray(A @ x).reshape(-1)
    target = tol * float(b @ b)
    log = IterationLog()
    updates, support, last_change = 0, x != 0, 0
    block_sizes: list[int] = []
    converged, gap = False, np.inf
    for it in range(max_iter + 1):
        c = np.asarray(A.T @ r).reshape(-1)  # -grad f
        s = max(1.0, float(np.max(np.abs(c) / lam_arr)))
        rr = float(r @ r)
        primal = 0.5 * rr + float(lam_arr @ np.abs(x))
        gap = primal - float(r @ b) / s + 0.5 * rr / s**2
        log.record(objective=primal, gap=gap)
        if gap <= target:
            converged = True
            break
        if it == max_iter:
            break
        # GS-q score of each zero coordinate; the current support is always kept in the block
        score = np.maximum(np.abs(c) - lam_arr, 0.0) ** 2 / (2.0 * np.where(L > 0, L, np.inf))
        nz = np.flatnonzero(x)
        score[nz] = np.inf
        size = min(p, max(block_size, 2 * nz.size))
        candidates = np.flatnonzero(score > 0)
        if candidates.size > size:
            candidates = candidates[np.argpartition(-score[candidates], size - 1)[:size]]
        ws = np.sort(candidates).astype(np.int64)
        block_sizes.append(int(ws.size))
        inner_target = max(gap_fraction * gap, 0.5 * target)
        if sparse:
            sweeps, _ = lasso_working_set_csc(
                A.indptr, A.indices, A.data, b, r, x, L, ws, lam_arr, inner_target, max_sweeps, 5
            )
        else:
            sweeps, _ = lasso_working_set(A, b, r, x, L, ws, lam_arr, inner_target, max_sweeps, 5)
        updates += int(sweeps) * ws.size
        now = x != 0
        if not np.array_equal(now, support):
            support, last_change = now, it + 1
        r = b - np.asarray(A @ x).reshape(-1) if (it + 1) % 10 == 0 else r  # drift control
    message = (
        f"duality gap {gap:.3g} <= tol * ||b||^2 = {target:.3g}"
        if converged
        else f"duality gap {gap:.3g} > tol * ||b||^2 = {target:.3g} after max_iter={max_iter}"
    )
    result = log.result(
        x,
        converged=converged,
        message=message,
        n_iter=len(block_sizes),
        coordinate_updates=updates,
        gradient_evaluations=len(log.history["gap"]),
        active_set_iter=last_change,
        support_size=int(np.count_nonzero(x)),
        block_sizes=block_sizes,
        gap=gap,
    )
    return warn_if_not_converged(result, "bcd_lasso")
