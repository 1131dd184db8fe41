"""numba kernels for the batched per-target least squares: one pass over Ω per product, O(|Ω| k).

Every kernel loops over targets t (rows of a CSR-grouped Ω, ``indptr``/``source``) in parallel and
over the target's entries inside, so each observed entry touches its k-vector F[source[e]] once.
numpy would materialise |Ω| x k gathers for the sampled product (10x slower than this loop); scipy
has no sampled dense-dense product at all. Compiled on first call and cached on disk, never at
import of the package.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "accumulate_sampled",
    "cholesky_solve",
    "count_sketch_gram",
    "gram",
    "normal_matvec",
    "sample",
    "sparse_times_dense",
]

# Serial on purpose: targets are independent (prange is safe with parallel=True), but the parallel
# build compiles 3x slower and the benchmarks compare one thread with one thread.
_jit = numba.njit(parallel=False, cache=True, nogil=True)
# Reassociation lets the k-term dot products vectorise (2x on the products over Ω, measured); no
# "nnan"/"ninf", so NaN and Inf still propagate as IEEE says.
_fast = numba.njit(parallel=False, cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz", "arcp"})


@_fast
def sample(indptr, source, X, F):
    """out[e] = ⟨X[t], F[source[e]]⟩ for every entry e of target t: the sampled product F Xᵀ at Ω."""
    q, k = X.shape
    out = np.empty(source.shape[0])
    for t in numba.prange(q):
        for e in range(indptr[t], indptr[t + 1]):
            f = F[source[e]]
            s = 0.0
            for j in range(k):
                s += X[t, j] * f[j]
            out[e] = s
    return out


@_fast
def sparse_times_dense(indptr, source, data, F):
    """out[t] = Σ_e data[e] F[source[e]]: the grouped sparse matrix (q, p) times F (p, k)."""
    q = indptr.shape[0] - 1
    k = F.shape[1]
    out = np.zeros((q, k))
    for t in numba.prange(q):
        for e in range(indptr[t], indptr[t + 1]):
            f = F[source[e]]
            a = data[e]
            for j in range(k):
                out[t, j] += a * f[j]
    return out


@_fast
def normal_matvec(indptr, source, D, F, lam):
    """((G_t + λ) d_t for every target, the sampled values F Dᵀ at Ω) in one pass (4|Ω|k flops)."""
    q, k = D.shape
    out = np.empty((q, k))
    sampled = np.empty(source.shape[0])
    for t in numba.prange(q):
        acc = np.zeros(k)
        for e in range(indptr[t], indptr[t + 1]):
            f = F[source[e]]
            s = 0.0
            for j in range(k):
                s += D[t, j] * f[j]
            sampled[e] = s
            for j in range(k):
                acc[j] += s * f[j]
        for j in range(k):
            out[t, j] = acc[j] + lam * D[t, j]
    return out, sampled


@_fast
def accumulate_sampled(indptr, alpha, sampled_d, sampled):
    """sampled[e] += alpha[t] sampled_d[e]: F xᵀ at Ω follows the CG update x_t += alpha_t d_t."""
    q = indptr.shape[0] - 1
    for t in numba.prange(q):
        a = alpha[t]
        for e in range(indptr[t], indptr[t + 1]):
            sampled[e] += a * sampled_d[e]


@_jit
def gram(indptr, source, F, lam):
    """G_t = F[Ω_t]ᵀF[Ω_t] + λI for every target (q, k, k): the O(|Ω| k²) step of exact AltMin.

    Gathers the target's rows and calls BLAS on the |Ω_t| x k block: 1.5-3x faster than a fused
    loop at k = 10-50 (measured), so the exact baseline gets its best implementation.
    """
    q = indptr.shape[0] - 1
    k = F.shape[1]
    out = np.empty((q, k, k))
    for t in numba.prange(q):
        start = indptr[t]
        rows = np.empty((indptr[t + 1] - start, k))
        for i in range(rows.shape[0]):
            rows[i] = F[source[start + i]]
        g = rows.T @ rows
        for a in range(k):
            g[a, a] += lam
        out[t] = g
    return out


@_fast
def count_sketch_gram(indptr, source, bucket, sign, size, F, lam):
    """(S_t F[Ω_t])ᵀ(S_t F[Ω_t]) + λI for every target t.

    S_t is the CountSketch with ``size`` rows given by ``bucket`` and ``sign`` per entry.
    """
    q = indptr.shape[0] - 1
    k = F.shape[1]
    out = np.empty((q, k, k))
    for t in numba.prange(q):
        rows = min(size, indptr[t + 1] - indptr[t])
        sa = np.zeros((size, k))
        for e in range(indptr[t], indptr[t + 1]):
            f = F[source[e]]
            r = bucket[e]
            sg = sign[e]
            for j in range(k):
                sa[r, j] += sg * f[j]
        acc = np.zeros((k, k))
        for r in range(rows):
            for a in range(k):
                v = sa[r, a]
                for b in range(k):
                    acc[a, b] += v * sa[r, b]
        for a in range(k):
            acc[a, a] += lam
        out[t] = acc
    return out


@_jit
def cholesky(G):
    """Lower Cholesky factors of a stack of SPD matrices (q, k, k); ok[t] is False where G_t is not SPD."""
    q, k, _ = G.shape
    L = np.zeros((q, k, k))
    ok = np.ones(q, dtype=np.bool_)
    for t in numba.prange(q):
        for j in range(k):
            s = G[t, j, j]
            for p in range(j):
                s -= L[t, j, p] * L[t, j, p]
            if not s > 0.0:
                ok[t] = False
                break
            d = np.sqrt(s)
            L[t, j, j] = d
            for i in range(j + 1, k):
                s = G[t, i, j]
                for p in range(j):
                    s -= L[t, i, p] * L[t, j, p]
                L[t, i, j] = s / d
    return L, ok


@_jit
def cholesky_apply(L, B):
    """x_t = (L_t L_tᵀ)⁻¹ b_t for every target: two triangular solves, 2k² flops each."""
    q, k = B.shape
    out = np.empty((q, k))
    for t in numba.prange(q):
        z = np.empty(k)
        for i in range(k):
            s = B[t, i]
            for p in range(i):
                s -= L[t, i, p] * z[p]
            z[i] = s / L[t, i, i]
        for i in range(k - 1, -1, -1):
            s = z[i]
            for p in range(i + 1, k):
                s -= L[t, p, i] * out[t, p]
            out[t, i] = s / L[t, i, i]
    return out


def cholesky_solve(G: np.ndarray, B: np.ndarray) -> np.ndarray:
    """x_t = G_t⁻¹ b_t for a stack of SPD systems (q, k, k), (q, k).

    A G_t that is not numerically SPD gets the minimum-norm least-squares solution instead.
    """
    L, ok = cholesky(G)
    x = cholesky_apply(L, B) if ok.all() else np.zeros_like(B)
    if not ok.all():
        good = np.flatnonzero(ok)
        x[good] = cholesky_apply(np.ascontiguousarray(L[good]), np.ascontiguousarray(B[good]))
        for t in np.flatnonzero(~ok):
            x[t] = np.linalg.lstsq(G[t], B[t], rcond=None)[0]
    return x
