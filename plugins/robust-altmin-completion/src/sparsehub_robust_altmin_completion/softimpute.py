"""SoftImpute (Mazumder, Hastie, Tibshirani, JMLR 2010): the nuclear-norm baseline for completion.

Minimises ½‖P_Ω(Z − M)‖_F² + λ‖Z‖_* by the iteration (MHT Alg. 1)

    Z ← S_λ(P_Ω(M) + P_Ω⊥(Z)) = S_λ(P_Ω(M − Z) + Z),

S_λ soft-thresholding the singular values. The matrix inside is sparse plus low-rank, so its
top singular triplets come from ``scipy.sparse.linalg.svds`` on a LinearOperator whose products
cost O(|Ω| + (m + n) r): the m x n matrix is never formed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sparsehub.errors import ShapeError, bad_value
from sparsehub.solver import IterationLog, SolverResult, check_positive, warn_if_not_converged

from .blas import single_blas_thread
from .factors import factor_distance
from .observations import as_observations

__all__ = ["lambda_max", "soft_impute"]


def lambda_max(X_obs: Any, *, seed: int | None = 0) -> float:
    """‖P_Ω(M)‖₂, the smallest λ for which SoftImpute returns Z = 0 (the start of a λ path)."""
    from scipy.sparse.linalg import svds

    obs = as_observations(X_obs)
    rng = np.random.default_rng(seed)
    mat = obs.by_row.matrix()
    if min(obs.shape) == 1:
        return float(np.linalg.norm(obs.by_row.values))
    return float(svds(mat, k=1, return_singular_vectors=False, v0=rng.standard_normal(min(obs.shape)))[0])


def soft_impute(
    X_obs: Any,
    lam: float,
    *,
    max_rank: int | None = None,
    max_iter: int = 100,
    tol: float = 1e-5,
    x0: tuple[Any, Any] | None = None,
    svd_solver: str = "arpack",
    callback: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    seed: int | np.random.Generator | None = None,
) -> SolverResult:
    """SoftImpute for the stored entries of ``X_obs`` (m, n) with nuclear-norm weight ``lam`` > 0.

    ``max_rank`` caps the singular triplets computed per iteration (default min(m, n) − 1; the
    iteration is exact SoftImpute while the solution's rank stays below it, rank-restricted
    SoftImpute otherwise). Stops when ‖Z_new − Z_old‖_F² / ‖Z_old‖_F² < ``tol`` (MHT eq. 9).
    ``x0`` = (U, V) starts from Z = U Vᵀ (warm starts along a λ path). ``svd_solver`` is passed to
    svds ("arpack" or "propack"). ``callback(U, V)`` after each iteration; True stops.

    Returns a SolverResult with x = (U (m, r), V (n, r)), U Vᵀ = Z; history "objective"
    (½‖P_Ω(Z − M)‖² + λ‖Z‖_*), "change", "rank"; info: singular_values, matvecs, rank_capped.
    """
    obs = as_observations(X_obs)
    m, n = obs.shape
    lam = check_positive("lam", lam)
    tol = check_positive("tol", tol)
    if min(m, n) < 2:
        raise bad_value("X_obs.shape", (m, n), "at least 2 rows and 2 columns", ShapeError)
    if max_rank is None:
        max_rank = min(m, n) - 1
    if (
        isinstance(max_rank, bool)
        or not isinstance(max_rank, (int, np.integer))
        or not 1 <= max_rank < min(m, n)
    ):
        raise bad_value("max_rank", max_rank, f"an int in [1, min(m, n)) = [1, {min(m, n)})")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise bad_value("max_iter", max_iter, "an int >= 1")
    if svd_solver not in ("arpack", "propack"):
        raise bad_value("svd_solver", svd_solver, "'arpack' or 'propack'")
    rng = np.random.default_rng(seed)

    if x0 is None:
        left, d, right = np.zeros((m, 0)), np.zeros(0), np.zeros((n, 0))
    else:
        U0, V0 = (np.asarray(a, dtype=np.float64) for a in x0)
        if U0.ndim != 2 or V0.ndim != 2 or U0.shape[0] != m or V0.shape[0] != n or U0.shape[1] != V0.shape[1]:
            raise bad_value(
                "x0 shapes", (U0.shape, V0.shape), f"(U (m, r), V (n, r)) with m, n = {m}, {n}", ShapeError
            )
        if not (np.isfinite(U0).all() and np.isfinite(V0).all()):
            raise ValueError("x0 has NaN/Inf entries: expected finite factors")
        left, d, right = _svd_of_product(U0, V0)

    with single_blas_thread():
        result = _iterate(
            obs,
            lam,
            left,
            d,
            right,
            max_rank=max_rank,
            max_iter=max_iter,
            tol=tol,
            svd_solver=svd_solver,
            callback=callback,
            rng=rng,
        )
    return warn_if_not_converged(result, "soft_impute")


def _iterate(
    obs: Any,
    lam: float,
    left: np.ndarray,
    d: np.ndarray,
    right: np.ndarray,
    *,
    max_rank: int,
    max_iter: int,
    tol: float,
    svd_solver: str,
    callback: Any,
    rng: np.random.Generator,
) -> SolverResult:
    """MHT's iteration from Z = left diag(d) rightᵀ on validated arguments."""
    from scipy.sparse.linalg import LinearOperator, svds

    from . import kernels

    m, n = obs.shape
    entries = obs.by_row
    y = entries.values
    matvecs = [0]
    log = IterationLog()
    converged, capped, message = False, False, ""
    for _ in range(max_iter):
        sampled = (
            kernels.sample(
                entries.indptr, entries.source, np.ascontiguousarray(left * d), np.ascontiguousarray(right)
            )
            if d.size
            else np.zeros_like(y)
        )
        gap = y - sampled
        sparse = entries.matrix(gap)
        sparse_t = obs.by_col.matrix(gap[obs.perm])  # the transpose, already grouped by column
        Ld, R = left * d, right

        def mv(v: np.ndarray, S=sparse, Ld=Ld, R=R) -> np.ndarray:
            matvecs[0] += 1 if v.ndim == 1 else v.shape[1]
            return S @ v + Ld @ (R.T @ v)

        def rmv(v: np.ndarray, St=sparse_t, Ld=Ld, R=R) -> np.ndarray:
            matvecs[0] += 1 if v.ndim == 1 else v.shape[1]
            return St @ v + R @ (Ld.T @ v)

        op = LinearOperator((m, n), matvec=mv, rmatvec=rmv, matmat=mv, rmatmat=rmv, dtype=np.float64)
        # warm start the Krylov method with the previous leading directions; ARPACK iterates on the
        # smaller Gram matrix (length min(m, n)), PROPACK on the left side (length m)
        left_side = svd_solver == "propack" or m < n
        if d.size:
            v0 = left @ d if left_side else right @ d
        else:
            v0 = rng.standard_normal(m if left_side else n)
        k_svd = min(max_rank, min(m, n) - 1)
        u, s, vt = svds(op, k=k_svd, v0=v0 if np.any(v0) else None, solver=svd_solver, random_state=rng)
        keep = s > lam
        capped = capped or bool(keep.all())
        new_left, new_d, new_right = u[:, keep], s[keep] - lam, vt[keep].T
        old_norm = float(np.linalg.norm(d))
        change = (
            factor_distance(new_left * new_d, new_right, left * d, right, relative=False) ** 2 / old_norm**2
            if old_norm > 0
            else np.inf
        )
        left, d, right = new_left, new_d, new_right
        fit = (
            kernels.sample(
                entries.indptr, entries.source, np.ascontiguousarray(left * d), np.ascontiguousarray(right)
            )
            if d.size
            else np.zeros_like(y)
        ) - y
        log.record(objective=0.5 * float(fit @ fit) + lam * float(d.sum()), change=change, rank=d.size)
        if callback is not None and callback(left * np.sqrt(d), right * np.sqrt(d)):
            converged, message = True, "stopped by callback"
            break
        if change < tol:
            converged, message = True, f"relative change {change:.3g} < tol={tol:g}"
            break
        if d.size == 0 and old_norm == 0:
            converged, message = True, f"Z = 0: lam={lam:g} is at or above lambda_max"
            break
    else:
        message = f"relative change {change:.3g} >= tol={tol:g}"
    root = np.sqrt(d)
    return log.result(
        (left * root, right * root),
        converged=converged,
        message=message,
        singular_values=d,
        matvecs=matvecs[0],
        rank_capped=capped,
    )


def _svd_of_product(U: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """U Vᵀ = L diag(d) Rᵀ with orthonormal L, R, from QRs and a small SVD."""
    Qu, Ru = np.linalg.qr(U)
    Qv, Rv = np.linalg.qr(V)
    a, d, bt = np.linalg.svd(Ru @ Rv.T)
    keep = d > 0
    return Qu @ a[:, keep], d[keep], Qv @ bt[keep].T
