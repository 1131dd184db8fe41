"""The AltMin half-step: one small least-squares problem per row (or column), solved in a batch.

Fixing the other factor F (p, k), target t of Ω solves  x_t = argmin ‖F[Ω_t] x − y_t‖² + λ‖x‖²,
a k-variable regression on |Ω_t| observations (Gu et al. 2024, Alg. 1, the two update lines).
Three solvers:

* ``"exact"``: the normal equations G_t = F[Ω_t]ᵀF[Ω_t] + λI for all targets, then a batched
  Cholesky solve: O(|Ω| k² + q k³) — Jain-Netrapalli-Sanghavi's exact AltMin.
* ``"cg"``: conjugate gradients on the normal equations, warm-started from the previous iterate,
  a few steps; each step is one fused pass over Ω (sampled product and its transpose), O(|Ω| k).
  No preconditioner: AltMin re-orthonormalises F, so each G_t is close to a multiple of I.
* ``"sketched"``: the paper's sketch-and-precondition regression solver (its Sec. 4): a CountSketch
  S_t of F[Ω_t] with s rows gives R_t with R_tᵀR_t = (S_tF[Ω_t])ᵀ(S_tF[Ω_t]); CG preconditioned by
  (R_tᵀR_t)⁻¹ converges in O(log 1/δ) steps however badly F[Ω_t] is conditioned. The sketch costs
  O(|Ω| k + q s k²), each step O(|Ω| k + q k²).

The paper's point (its Thm. 1.2) is that AltMin keeps its linear rate when each solve is only
accurate to a relative error δ below a constant, so the O(|Ω| k²) Gram matrices are not needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sparsehub.errors import ShapeError, bad_value

from .observations import GroupedEntries, as_observations

__all__ = ["SOLVERS", "CountSketchPreconditioner", "HalfStep", "row_least_squares", "solve_grouped"]

SOLVERS = ("cg", "sketched", "exact")


@dataclass
class HalfStep:
    """One batched solve: the solution X (q, k), the sampled values of F Xᵀ at Ω, and what it cost.

    At the warm start X₀: ``gradient`` = ‖(G + λ)X₀ − b‖_F (zero at the exact solution) and
    ``residual`` = ‖F X₀ᵀ − y‖ over Ω (NaN without a warm start). ``sampled`` (|Ω|,) holds F Xᵀ at
    Ω in this grouping's order (the iterative solvers track it for free; None for "exact").
    ``flops`` counts the floating-point operations of this solve.
    """

    x: np.ndarray
    sampled: np.ndarray | None
    gradient: float
    residual: float
    flops: float
    steps: int


class CountSketchPreconditioner:
    """A fixed CountSketch per target: entry e of target t goes to sketch row h(e) < s with sign σ(e).

    Targets with at most s observations are copied exactly (h = position, σ = +1), so their
    preconditioner is the exact Cholesky factor. Drawn once (``rng``) and reused every half-step.
    """

    def __init__(self, entries: GroupedEntries, size: int, rng: np.random.Generator) -> None:
        counts = entries.counts
        position = np.arange(entries.nnz) - np.repeat(entries.indptr[:-1], counts)
        small = np.repeat(counts <= size, counts)
        self.size = int(size)
        self.bucket = np.where(small, position, rng.integers(0, size, entries.nnz)).astype(
            entries.source.dtype
        )
        self.sign = np.where(small, 1.0, rng.choice((-1.0, 1.0), entries.nnz))
        self.entries = entries

    def factor(self, F: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
        """(lower Cholesky factors R_tᵀ of (S_tF[Ω_t])ᵀ(S_tF[Ω_t]) + λI (q, k, k), flops)."""
        from . import kernels

        e = self.entries
        q, k = e.shape[0], F.shape[1]
        gram = kernels.count_sketch_gram(e.indptr, e.source, self.bucket, self.sign, self.size, F, lam)
        L, ok = kernels.cholesky(gram)
        if not ok.all():  # a numerically singular sketch: fall back to Jacobi for those targets
            bad = np.flatnonzero(~ok)
            diag = np.sqrt(np.maximum(np.diagonal(gram[bad], axis1=1, axis2=2), np.finfo(float).tiny))
            L[bad] = 0.0
            L[bad[:, None], np.arange(k), np.arange(k)] = diag
        flops = 2.0 * e.nnz * k + q * self.size * k * (k + 1) + q * k**3 / 3
        return L, flops


def ridge_for(entries: GroupedEntries, F: np.ndarray, ridge: float) -> float:
    """λ = ridge · mean_t tr(G_t)/k: a scale-free ridge that keeps empty or short targets solvable."""
    col_sq = np.einsum("ij,ij->i", F, F)
    trace_mean = float(entries.source_counts @ col_sq) / entries.shape[0]
    return ridge * max(trace_mean / F.shape[1], np.finfo(float).tiny)


def solve_grouped(
    entries: GroupedEntries,
    F: np.ndarray,
    *,
    solver: str = "cg",
    x0: np.ndarray | None = None,
    sampled0: np.ndarray | None = None,
    inner_iter: int = 2,
    inner_tol: float = 0.0,
    ridge: float = 1e-10,
    sketch: CountSketchPreconditioner | None = None,
    warm: bool = True,
) -> HalfStep:
    """Solve x_t = argmin ‖F[Ω_t] x − y_t‖² + λ‖x‖² for every target t of ``entries`` (q targets).

    ``F`` (p, k) is the fixed factor and ``x0`` (q, k) the warm start (zeros if None); ``sampled0``
    (|Ω|,), if given, must equal F x0ᵀ at Ω and saves recomputing it. ``inner_iter`` caps the CG
    steps of the iterative solvers, which also stop once ‖r‖_F ≤ inner_tol·‖r₀‖_F. ``ridge`` is
    relative (:func:`ridge_for`). ``warm=False`` still grades x0 but starts CG from zero (an
    ablation: truncated solves whose error does not shrink). Returns a :class:`HalfStep` with X (q, k).
    """
    from . import kernels

    if solver not in SOLVERS:
        raise bad_value("solver", solver, f"one of {SOLVERS}")
    q, k = entries.shape[0], F.shape[1]
    F = np.ascontiguousarray(F, dtype=np.float64)
    indptr, source, y = entries.indptr, entries.source, entries.values
    lam = ridge_for(entries, F, ridge)
    graded = x0 is not None
    x = np.zeros((q, k)) if x0 is None else np.array(x0, dtype=np.float64, order="C")
    flops = 2.0 * F.size

    if solver == "exact":
        b = kernels.sparse_times_dense(indptr, source, y, F)
        gram = kernels.gram(indptr, source, F, lam)
        flops += 2.0 * entries.nnz * k + entries.nnz * k * (k + 1) + q * (k**3 / 3 + 2 * k**2)
        residual = np.nan
        if graded:
            # the residual from a sampled product, not from xᵀGx − 2xᵀb + ‖y‖², which cancels to
            # zero once the fit is better than √eps
            sampled = kernels.sample(indptr, source, x, F) if sampled0 is None else sampled0
            residual = float(np.linalg.norm(sampled - y))
            grad = float(np.linalg.norm(b - np.einsum("tij,tj->ti", gram, x)))
            flops += (2.0 * entries.nnz * k if sampled0 is None else 0.0) + 2.0 * q * k**2
        else:
            grad = float(np.linalg.norm(b))
        return HalfStep(kernels.cholesky_solve(gram, b), None, grad, residual, flops, 1)

    if solver == "cg":

        def precondition(r: np.ndarray) -> np.ndarray:
            return r  # F is orthonormal, so each G_t is a multiple of I up to sampling noise

        step_flops = 4.0 * entries.nnz * k + 12.0 * q * k + 2.0 * entries.nnz
    else:
        if sketch is None:
            raise bad_value("sketch", None, "a CountSketchPreconditioner for solver='sketched'")
        L, f = sketch.factor(F, lam)
        flops += f

        def precondition(r: np.ndarray) -> np.ndarray:
            return kernels.cholesky_apply(L, r)

        step_flops = 4.0 * entries.nnz * k + 2.0 * q * k * k + 12.0 * q * k + 2.0 * entries.nnz

    residual = np.nan
    if graded:
        if sampled0 is None:
            sampled0 = kernels.sample(indptr, source, x, F)
            flops += 2.0 * entries.nnz * k
        sampled = np.array(sampled0, dtype=np.float64)
        residual = float(np.linalg.norm(sampled - y))
        r = kernels.sparse_times_dense(indptr, source, y - sampled, F) - lam * x
        flops += 2.0 * entries.nnz * k
    grad = float(np.linalg.norm(r)) if graded else np.nan
    if not (graded and warm):
        x[:] = 0.0
        sampled = np.zeros(entries.nnz)
        r = kernels.sparse_times_dense(indptr, source, y, F)
        flops += 2.0 * entries.nnz * k
        if not graded:
            grad = float(np.linalg.norm(r))
    steps = _pcg(entries, F, x, r, sampled, lam, precondition, inner_iter, inner_tol * grad)
    return HalfStep(x, sampled, grad, residual, flops + steps * step_flops, steps)


def _pcg(
    entries: GroupedEntries,
    F: np.ndarray,
    x: np.ndarray,
    r: np.ndarray,
    sampled: np.ndarray,
    lam: float,
    precondition: Any,
    max_steps: int,
    stop: float,
) -> int:
    """Batched preconditioned CG, one k×k system per row of x.

    Updates x, r and ``sampled`` (F xᵀ at Ω) in place; returns the number of steps taken.
    """
    from . import kernels

    z = precondition(r)
    d = z.copy()
    rz = np.einsum("ti,ti->t", r, z)
    steps = 0
    while steps < max_steps and np.linalg.norm(r) > stop:
        gd, sampled_d = kernels.normal_matvec(entries.indptr, entries.source, d, F, lam)
        dgd = np.einsum("ti,ti->t", d, gd)
        alpha = np.divide(rz, dgd, out=np.zeros_like(rz), where=dgd > 0)
        x += alpha[:, None] * d
        kernels.accumulate_sampled(entries.indptr, alpha, sampled_d, sampled)
        r -= alpha[:, None] * gd
        z = precondition(r)
        rz_new = np.einsum("ti,ti->t", r, z)
        beta = np.divide(rz_new, rz, out=np.zeros_like(rz), where=rz > 0)
        d = z + beta[:, None] * d
        rz = rz_new
        steps += 1
    return steps


def default_sketch_size(k: int) -> int:
    """s = 4k sketch rows: a CountSketch of that size is a constant-distortion embedding in practice."""
    return 4 * k


def row_least_squares(
    X_obs: Any,
    F: Any,
    *,
    solver: str = "exact",
    x0: Any = None,
    inner_iter: int = 3,
    ridge: float = 1e-10,
    sketch_size: int | None = None,
    seed: int | None = 0,
) -> np.ndarray:
    """x_i = argmin_x ‖F[Ω_i] x − X_obs[i, Ω_i]‖² + λ‖x‖² for every row i of X_obs (m, n), as (m, k).

    The AltMin U-update given V = F (n, k) (pass ``X_obs.T`` for the V-update given U). Only stored
    entries of the sparse ``X_obs`` are observations. ``solver`` and ``inner_iter`` as in
    :func:`solve_grouped`; ``x0`` (m, k) is the warm start of the iterative solvers.
    """
    obs = as_observations(X_obs)
    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 2 or F.shape[0] != obs.shape[1]:
        raise bad_value("F.shape", F.shape, f"(n, k) with n = X_obs.shape[1] = {obs.shape[1]}", ShapeError)
    if not np.isfinite(F).all():
        raise ValueError("F has NaN/Inf entries: expected finite values")
    if x0 is not None:
        x0 = np.asarray(x0, dtype=np.float64)
        if x0.shape != (obs.shape[0], F.shape[1]):
            raise bad_value("x0.shape", x0.shape, f"(m, k) = {(obs.shape[0], F.shape[1])}", ShapeError)
    if solver not in SOLVERS:
        raise bad_value("solver", solver, f"one of {SOLVERS}")
    sketch = None
    if solver == "sketched":
        size = sketch_size or default_sketch_size(F.shape[1])
        sketch = CountSketchPreconditioner(obs.by_row, size, np.random.default_rng(seed))
    return solve_grouped(
        obs.by_row, F, solver=solver, x0=x0, inner_iter=inner_iter, ridge=ridge, sketch=sketch
    ).x
