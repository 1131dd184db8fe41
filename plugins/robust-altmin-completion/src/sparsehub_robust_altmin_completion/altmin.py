"""Robust alternating minimisation for low-rank matrix completion (Gu, Song, Yin, Zhang, ICLR 2024).

Given observed entries M_ij, (i, j) ∈ Ω, and a rank k, find U (m, k), V (n, k) with P_Ω(U Vᵀ) ≈ P_Ω(M):

1. initialise U from the top-k SVD of P_Ω(M)/p, trim rows whose norm exceeds c·μ·√(k/m) (they would
   break incoherence) and re-orthonormalise (Alg. 1 lines 2-4);
2. alternate V ← argmin ‖P_Ω(U Vᵀ − M)‖_F², then U ← argmin ‖P_Ω(U Vᵀ − M)‖_F², each a batch of
   independent k-variable least-squares problems (:mod:`.least_squares`), re-orthonormalising the
   fixed factor by QR so that every regression stays well conditioned (Alg. 1 lines 5-9).

The paper's contribution (Thm. 1.2) is that step 2 may be solved approximately, with a relative
error bounded by a constant, and the iteration still contracts the principal angle to the truth
geometrically; with a sketch-preconditioned iterative solver each half-step costs Õ(|Ω| k) instead of
the O(|Ω| k²) of forming normal equations (Jain, Netrapalli, Sanghavi 2013).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from sparsehub.errors import bad_value
from sparsehub.solver import IterationLog, SolverResult, check_positive, warn_if_not_converged

from .blas import single_blas_thread
from .least_squares import SOLVERS, CountSketchPreconditioner, HalfStep, default_sketch_size, solve_grouped
from .observations import GroupedEntries, Observations, as_observations

__all__ = ["altmin_complete", "check_rank", "spectral_init"]


def check_rank(rank: Any, shape: tuple[int, int]) -> int:
    """``rank`` as an int in [1, min(m, n)) (a rank of min(m, n) leaves nothing to complete)."""
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 1 <= rank < min(shape):
        raise bad_value(
            "rank", rank, f"an int in [1, min(m, n)) = [1, {min(shape)}) for a {shape[0]} x {shape[1]} matrix"
        )
    return int(rank)


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise bad_value(name, value, f"an int >= {low}")
    return int(value)


def spectral_init(
    obs: Observations,
    rank: int,
    *,
    trim: float | None = 2.0,
    incoherence: float | None = None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int]:
    """(U₀ (m, k) orthonormal, the matching warm start for V (n, k), rows trimmed): Alg. 1 lines 2-4.

    U₀ spans the top-k left singular vectors of P_Ω(M)/p; rows with ‖u_i‖ > trim·μ·√(k/m) are
    zeroed before the QR. ``incoherence`` μ defaults to √(log max(m, n)), the coherence of random
    subspaces, so that only rows of adversarially coherent inputs are trimmed.
    """
    from scipy.sparse.linalg import svds

    m, n = obs.shape
    p = obs.fraction
    v0 = rng.standard_normal(min(m, n))
    U, s, Vt = svds(obs.by_row.matrix(), k=rank, v0=v0)
    trimmed = 0
    if trim:
        mu = math.sqrt(math.log(max(m, n, 3))) if incoherence is None else incoherence
        limit = trim * mu * math.sqrt(rank / m)
        big = np.linalg.norm(U, axis=1) > limit
        trimmed = int(big.sum())
        U = np.where(big[:, None], 0.0, U)
    Q, R = np.linalg.qr(U)
    # X₀ = U diag(s) Vᵀ / p = Q R diag(s) Vᵀ / p, so V's warm start in the basis Q is V diag(s) Rᵀ / p
    return Q, (Vt.T * s) @ R.T / p, trimmed


def _inject_error(step: HalfStep, x0: np.ndarray, delta: float, rng: np.random.Generator) -> None:
    """Move each solution x_t by δ·‖x_t − x0_t‖ in a random direction (a relative error δ in the update)."""
    direction = rng.standard_normal(step.x.shape)
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-300)
    step.x += delta * np.linalg.norm(step.x - x0, axis=1, keepdims=True) * direction


def _warn_about_sampling(obs: Observations, rank: int) -> None:
    m, n = obs.shape
    dof = (m + n - rank) * rank
    if obs.nnz < dof:
        warnings.warn(
            f"|Ω| = {obs.nnz} observed entries is below the (m + n - k) k = {dof} degrees of freedom of a "
            f"rank-{rank} {m} x {n} matrix: the completion is not determined by the data",
            UserWarning,
            stacklevel=3,
        )
    for what, entries in (("rows", obs.by_row), ("columns", obs.by_col)):
        short = np.flatnonzero(entries.counts < rank)
        if short.size:
            shown = ", ".join(map(str, short[:10])) + (", ..." if short.size > 10 else "")
            warnings.warn(
                f"{short.size} {what} have fewer than rank={rank} observations ({what} {shown}): their "
                "least-squares problems are underdetermined and are solved with a small ridge",
                UserWarning,
                stacklevel=3,
            )


def _balanced(Q_left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X = Q_left rightᵀ as (U, V, σ) with U = Q_left A√Σ, V = Q_right B√Σ (equal scales)."""
    Q_right, R = np.linalg.qr(right)
    A, sigma, Bt = np.linalg.svd(R.T)
    root = np.sqrt(sigma)
    return (Q_left @ A) * root, (Q_right @ Bt.T) * root, sigma


def altmin_complete(
    X_obs: Any,
    rank: int,
    *,
    solver: str = "cg",
    max_iter: int = 100,
    tol: float = 1e-6,
    inner_iter: int = 2,
    inner_tol: float = 0.0,
    sketch_size: int | None = None,
    init: str = "svd",
    trim: float | None = 2.0,
    incoherence: float | None = None,
    split_samples: bool = False,
    ridge: float = 1e-10,
    warm_start: bool = True,
    solver_error: float = 0.0,
    callback: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    seed: int | np.random.Generator | None = None,
) -> SolverResult:
    """Complete a rank-``rank`` matrix from the stored entries of ``X_obs`` by robust AltMin (Alg. 1).

    Parameters
    ----------
    X_obs : scipy.sparse matrix/array or SparseTensor, shape (m, n)
        Its stored entries are Ω and their values (an explicit zero is an observed zero).
    rank : int in [1, min(m, n))
    solver : "sketched" (CountSketch-preconditioned CG, the paper's solver), "cg" (Jacobi-preconditioned
        CG) or "exact" (normal equations: exact AltMin). The iterative solvers start from the previous
        iterate and take at most ``inner_iter`` steps per half-step (fewer once the CG residual fell by
        ``inner_tol``).
    max_iter, tol : stop when the relative observed residual ‖P_Ω(UVᵀ − M)‖/‖P_Ω(M)‖ or the relative
        gradient ‖P_Ω(UVᵀ − M)ᵀU‖/‖P_Ω(M)ᵀU‖ is below ``tol``; else converged=False and a ConvergenceWarning.
    sketch_size : CountSketch rows per regression (default 4k).
    init : "svd" (spectral initialisation with trimming) or "random" (a random orthonormal U).
    trim, incoherence : trim rows of U₀ with norm above trim·μ·√(k/m); None or 0 disables trimming.
    split_samples : use a fresh, disjoint part of Ω for every half-step (2·max_iter + 2 parts), as in
        the theorem; off by default because reusing all of Ω converges faster in practice.
    ridge : relative ridge λ that keeps rows with fewer than k observations solvable.
    warm_start : start every iterative solve from the previous iterate (True). False restarts CG from
        zero, an ablation: truncated solves whose error does not shrink with the step stall.
    solver_error : analysis device for Thm 1.2: every per-row solution is moved by
        solver_error·‖x − x_warm‖ in a random direction after it is computed.
    callback : ``callback(U, V)`` after every iteration with X = U Vᵀ; returning True stops (converged).
    seed : int, Generator or None — the SVD start vector, sketches, sample split and random init.

    BLAS runs on one thread during the call (:mod:`.blas`): its only dense work is thin QRs.

    Returns
    -------
    SolverResult with x = (U (m, k), V (n, k)) balanced so that U Vᵀ = X; history "residual",
    "gradient", "flops" (cumulative) and "seconds" per iterate (index 0 = the initialisation);
    info: singular_values, flops, trimmed, solver, inner_steps.
    """
    obs = as_observations(X_obs)
    rank = check_rank(rank, obs.shape)
    if solver not in SOLVERS:
        raise bad_value("solver", solver, f"one of {SOLVERS}")
    if init not in ("svd", "random"):
        raise bad_value("init", init, "'svd' or 'random'")
    max_iter = _check_int("max_iter", max_iter, 1)
    inner_iter = _check_int("inner_iter", inner_iter, 1)
    tol = check_positive("tol", tol)
    check_positive("inner_tol", inner_tol, allow_zero=True)
    check_positive("ridge", ridge, allow_zero=True)
    check_positive("solver_error", solver_error, allow_zero=True)
    if trim is not None:
        check_positive("trim", trim, allow_zero=True)
    if incoherence is not None:
        check_positive("incoherence", incoherence)
    if sketch_size is not None:
        sketch_size = _check_int("sketch_size", sketch_size, rank)
    if callback is not None and not callable(callback):
        raise bad_value("callback", callback, "a callable callback(U, V) or None")
    _warn_about_sampling(obs, rank)
    rng = np.random.default_rng(seed)
    with single_blas_thread():
        result = _alternate(
            obs,
            rank,
            rng,
            solver=solver,
            max_iter=max_iter,
            tol=tol,
            inner_iter=inner_iter,
            inner_tol=inner_tol,
            sketch_size=sketch_size,
            init=init,
            trim=trim,
            incoherence=incoherence,
            split_samples=split_samples,
            ridge=ridge,
            warm_start=warm_start,
            solver_error=solver_error,
            callback=callback,
        )
    return warn_if_not_converged(result, f"altmin_complete(solver={solver!r})")


def _alternate(
    obs: Observations,
    rank: int,
    rng: np.random.Generator,
    *,
    solver: str,
    max_iter: int,
    tol: float,
    inner_iter: int,
    inner_tol: float,
    sketch_size: int | None,
    init: str,
    trim: float | None,
    incoherence: float | None,
    split_samples: bool,
    ridge: float,
    warm_start: bool,
    solver_error: float,
    callback: Callable[[np.ndarray, np.ndarray], Any] | None,
) -> SolverResult:
    """The iteration of :func:`altmin_complete` on validated arguments."""
    m = obs.shape[0]

    log = IterationLog()
    parts = _split(obs, 2 * max_iter + 2, rng) if split_samples else None
    init_obs = parts[0] if parts else obs
    if init == "svd":
        U, V_warm, trimmed = spectral_init(init_obs, rank, trim=trim, incoherence=incoherence, rng=rng)
    else:
        U, V_warm, trimmed = np.linalg.qr(rng.standard_normal((m, rank)))[0], None, 0
    flops = 0.0
    size = sketch_size or default_sketch_size(rank)
    sketches: dict[tuple[int, str], CountSketchPreconditioner] = {}

    def half_step(
        index: int, side: str, F: np.ndarray, x0: np.ndarray | None, sampled0: np.ndarray | None
    ) -> tuple[HalfStep, Observations]:
        part = parts[index] if parts else obs
        entries: GroupedEntries = part.by_col if side == "col" else part.by_row
        sketch = None
        if solver == "sketched":
            key = (index if parts else 0, side)
            if key not in sketches:
                sketches[key] = CountSketchPreconditioner(entries, size, rng)
            sketch = sketches[key]
        step = solve_grouped(
            entries,
            F,
            solver=solver,
            x0=x0,
            sampled0=sampled0,
            inner_iter=inner_iter,
            inner_tol=inner_tol,
            ridge=ridge,
            sketch=sketch,
            warm=warm_start,
        )
        if solver_error and x0 is not None:
            _inject_error(step, x0, solver_error, rng)
            step.sampled = None
        return step, part

    converged, message, inner_steps = False, "", 0
    sampled_by_row = None  # U Vᵀ at Ω in by_row order, when the last half-step tracked it
    t = 0
    while True:
        # V-step; its warm start is the current iterate, so its residual and gradient grade it
        sampled_by_col = None if sampled_by_row is None or parts else sampled_by_row[obs.perm]
        step, part = half_step(2 * t + 1, "col", U, V_warm, sampled_by_col)
        flops += step.flops
        inner_steps += step.steps
        V = step.x
        y_norm = float(np.linalg.norm(part.by_col.values))
        residual = step.residual / y_norm if y_norm > 0 else 0.0
        gradient = step.gradient / y_norm if y_norm > 0 else 0.0
        if V_warm is None:  # a random start has no iterate to grade yet
            residual = gradient = np.nan
        log.record(residual=residual, gradient=gradient, flops=flops)
        if residual <= tol or gradient <= tol:
            converged, message = (
                True,
                f"relative residual {residual:.3g} or gradient {gradient:.3g} <= tol={tol:g}",
            )
            break
        if t == max_iter:
            message = f"relative residual {residual:.3g} and gradient {gradient:.3g} above tol={tol:g}"
            break
        Qv, Rv = np.linalg.qr(V)
        sampled_by_row = None
        if step.sampled is not None and not parts:
            sampled_by_row = np.empty_like(step.sampled)
            sampled_by_row[obs.perm] = step.sampled
        step, _ = half_step(2 * t + 2, "row", Qv, U @ Rv.T, sampled_by_row)
        flops += step.flops
        inner_steps += step.steps
        sampled_by_row = None if parts else step.sampled
        Qu, Ru = np.linalg.qr(step.x)
        U, V_warm = Qu, Qv @ Ru.T
        t += 1
        if callback is not None and callback(U, V_warm):
            V, converged, message = V_warm, True, "stopped by callback"
            break
    U_out, V_out, sigma = _balanced(U, V)
    return log.result(
        (U_out, V_out),
        converged=converged,
        message=message,
        n_iter=t,
        singular_values=sigma,
        flops=flops,
        trimmed=trimmed,
        solver=solver,
        inner_steps=inner_steps,
    )


def _split(obs: Observations, parts: int, rng: np.random.Generator) -> list[Observations]:
    """Ω cut into ``parts`` disjoint random parts of (nearly) equal size (the theorem's sample splitting)."""
    label = rng.permutation(obs.nnz) % parts
    return [obs.subset(label == i) for i in range(parts)]
