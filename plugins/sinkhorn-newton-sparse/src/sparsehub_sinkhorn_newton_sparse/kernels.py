"""The two hot loops of SNS compiled with numba: the plan exp(L + u + v) and CG on the sparsified Hessian.

Forming the plan is one O(nm) pass per Newton step and per line-search trial; numpy needs three
passes (two broadcasts and exp) and a temporary, the loop below one.

The CG steps, hundreds per Newton step, are the cost driver of SNS (paper, Section 4: each
costs O(lambda n^2) = O(n) for the sparsified Hessian). In numpy each step is a dozen small
array calls whose overhead dominates at n ~ 1000; here one step is two passes over P_s and a
few over vectors. Same algorithm as :func:`sparsehub_sinkhorn_newton_sparse.newton.conjugate_gradient`
(which the tests use as the reference). Imported only when SNS runs, never at plugin discovery.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["hessian_cg", "plan_into"]


@numba.njit(cache=True, nogil=True)
def plan_into(L, u, v, out):  # pragma: no cover - compiled
    """out_ij = exp(L_ij + u_i + v_j); overflow gives inf, underflow 0 (no warnings)."""
    n, m = L.shape
    for i in range(n):
        ui = u[i]
        for j in range(m):
            out[i, j] = np.exp(L[i, j] + ui + v[j])
    return out


@numba.njit(cache=True, nogil=True)
def _apply(a, b, indptr, indices, data, p, out):  # pragma: no cover - compiled
    n = a.size
    for j in range(out.size - n):
        out[n + j] = b[j] * p[n + j]
    for i in range(n):
        s = a[i] * p[i]
        pi = p[i]
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            s += data[k] * p[n + j]
            out[n + j] += data[k] * pi
        out[i] = s


@numba.njit(cache=True, nogil=True)
def hessian_cg(a, b, indptr, indices, data, g, x0, inv_diag, rtol, maxiter):  # pragma: no cover - compiled
    """Solve [[diag a, P_s], [P_s^T, diag b]] x = g (P_s in CSR) by Jacobi-preconditioned CG.

    ``inv_diag`` is 1/diagonal (all ones for plain CG). Returns (x, iterations, converged).
    """
    size = g.size
    x = x0.copy()
    Hp = np.empty(size)
    _apply(a, b, indptr, indices, data, x, Hp)
    res = g - Hp
    target = rtol * np.sqrt(np.dot(g, g))
    z = inv_diag * res
    p = z.copy()
    rz = np.dot(res, z)
    for it in range(maxiter):
        if np.sqrt(np.dot(res, res)) <= target:
            return x, it, True
        _apply(a, b, indptr, indices, data, p, Hp)
        curvature = np.dot(p, Hp)
        if curvature <= 0.0:
            return x, it, False
        step = rz / curvature
        rz_new = 0.0
        for k in range(size):
            x[k] += step * p[k]
            res[k] -= step * Hp[k]
            z[k] = inv_diag[k] * res[k]
            rz_new += res[k] * z[k]
        beta = rz_new / rz
        for k in range(size):
            p[k] = z[k] + beta * p[k]
        rz = rz_new
    return x, maxiter, np.sqrt(np.dot(res, res)) <= target
