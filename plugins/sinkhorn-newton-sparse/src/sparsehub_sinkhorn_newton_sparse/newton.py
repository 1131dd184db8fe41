"""Stage 2 of SNS: the sparsified Newton step on the Lyapunov potential (paper, Algorithm 1, lines 5-9).

With P the current plan, a = P 1 and b = P^T 1, the Hessian of phi is -H with
H = [[diag(a), P], [P^T, diag(b)]] (positive semidefinite, null vector (1, -1)). SNS replaces P
in the off-diagonal blocks by P_s, its largest entries (the paper's Sparsify(., rho): keep a
fraction rho of the entries), keeps the exact diagonal, solves H_s d = grad phi by conjugate
gradient and moves along d with a backtracking line search. Because the kept diagonal dominates
the kept rows (a_i >= sum_j (P_s)_ij), H_s stays positive semidefinite, and positive definite
as soon as one entry per row is dropped, so CG needs no projection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .potentials import lyapunov, plan

__all__ = ["conjugate_gradient", "line_search", "sparsified_hessian", "top_entries"]


def top_entries(P: np.ndarray, keep: int) -> sp.csr_matrix:
    """P_s: the ``keep`` largest entries of P as CSR, found by a linear-time partition (ties kept)."""
    n, m = P.shape
    flat = P.ravel()
    if keep >= flat.size:
        idx = np.flatnonzero(flat > 0)
    else:
        threshold = _kth_largest(flat, keep)
        idx = np.flatnonzero(flat >= threshold) if threshold > 0 else np.flatnonzero(flat > 0)
    rows = idx // m
    indptr = np.searchsorted(rows, np.arange(n + 1))
    return sp.csr_matrix((flat[idx], idx % m, indptr), shape=(n, m))


def _kth_largest(flat: np.ndarray, k: int) -> float:
    """The k-th largest value of ``flat``, exactly, partitioning only a pre-filtered candidate set.

    A strided sample (deterministic) gives a value that about 4k entries exceed; one comparison
    pass keeps those, and the exact partition runs on them. When the sample misjudges (fewer
    than k candidates), the full partition runs: the answer is always the exact k-th largest.
    """
    size = flat.size
    if k * 64 < size:
        step = max(1, size // 8192)
        sample = flat[::step]
        rank = min(sample.size - 1, int(4 * k * sample.size / size))
        guess = np.partition(sample, sample.size - 1 - rank)[sample.size - 1 - rank]
        candidates = flat[flat >= guess]
        if candidates.size >= k:
            return float(np.partition(candidates, candidates.size - k)[candidates.size - k])
    return float(np.partition(flat, size - k)[size - k])


@dataclass
class SparsifiedHessian:
    """H_s = [[diag(a), P_s], [P_s^T, diag(b)]] applied as a matrix-vector product."""

    a: np.ndarray
    b: np.ndarray
    Ps: sp.csr_matrix

    def __post_init__(self) -> None:
        self.PsT = self.Ps.T.tocsr()
        self.n = self.a.size

    def matvec(self, d: np.ndarray) -> np.ndarray:
        d1, d2 = d[: self.n], d[self.n:]
        return np.concatenate((self.a * d1 + self.Ps @ d2, self.PsT @ d1 + self.b * d2))

    @property
    def diagonal(self) -> np.ndarray:
        return np.concatenate((self.a, self.b))


def sparsified_hessian(P: np.ndarray, keep: int) -> SparsifiedHessian:
    """The sparsified Hessian (sign flipped to be PSD) with the exact diagonal a = P 1, b = P^T 1."""
    return SparsifiedHessian(P.sum(axis=1), P.sum(axis=0), top_entries(P, keep))


def conjugate_gradient(
    matvec: Callable[[np.ndarray], np.ndarray],
    g: np.ndarray,
    x0: np.ndarray,
    *,
    rtol: float,
    maxiter: int,
    diagonal: np.ndarray | None = None,
) -> tuple[np.ndarray, int, bool]:
    """Solve H x = g for PSD H by (Jacobi-preconditioned when ``diagonal`` is given) CG.

    Stops when ||g - H x|| <= rtol ||g||; returns (x, iterations, converged).
    """
    x = x0.copy()
    res = g - matvec(x)
    target = rtol * float(np.linalg.norm(g))
    inv = None if diagonal is None else 1.0 / np.maximum(diagonal, np.finfo(float).tiny)
    z = res if inv is None else inv * res
    p = z.copy()
    rz = float(res @ z)
    for it in range(maxiter):
        if float(np.linalg.norm(res)) <= target:
            return x, it, True
        Hp = matvec(p)
        curvature = float(p @ Hp)
        if curvature <= 0:  # numerically singular direction: stop with what we have
            return x, it, False
        step = rz / curvature
        x += step * p
        res -= step * Hp
        z = res if inv is None else inv * res
        rz_new = float(res @ z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    return x, maxiter, float(np.linalg.norm(res)) <= target


def line_search(
    L: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    du: np.ndarray,
    dv: np.ndarray,
    r: np.ndarray,
    c: np.ndarray,
    phi: float,
    slope: float,
    *,
    armijo: float = 1e-4,
    max_halvings: int = 30,
) -> tuple[float, np.ndarray | None, float]:
    """Backtracking (Armijo) line search on phi along (du, dv), from step 1, halving.

    Accepts t when phi(z + t d) >= phi(z) + armijo * t * slope, up to a few ulps of |phi| (near
    the optimum the increase of phi is below double precision, and then the step that does not
    decrease phi is the Newton step). Returns (t, plan at the accepted point, phi there); t = 0
    and plan None when no step was accepted.
    """
    slack = 8 * np.finfo(float).eps * max(1.0, abs(phi))
    t = 1.0
    for _ in range(max_halvings):
        P = plan(L, u + t * du, v + t * dv)
        value = lyapunov(P, u + t * du, v + t * dv, r, c)
        if value >= phi + armijo * t * slope - slack:
            return t, P, value
        t *= 0.5
    return 0.0, None, phi
