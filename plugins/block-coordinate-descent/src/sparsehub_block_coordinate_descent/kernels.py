"""numba kernels for the inner loops: coordinate descent sweeps, block QPs and forest solves.

Imported only when a solver runs (never by the package ``__init__``); each kernel compiles on
its first call and is cached on disk where numba allows it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "forest_eliminate",
    "forest_order",
    "grow_forest",
    "lasso_working_set",
    "lasso_working_set_csc",
    "qp_cd",
]


@njit(cache=True, nogil=True)
def _soft(v, t):
    if v > t:
        return v - t
    if v < -t:
        return v + t
    return 0.0


@njit(cache=True, nogil=True)
def qp_cd(H, q, z, lam, lower, max_sweeps, tol):
    """Minimise 1/2 z^T H z + q^T z + sum lam_i |z_i| subject to z_i >= lower_i, in place on ``z``.

    Cyclic coordinate descent keeping the gradient H z + q exact; the block subproblem of the
    proximal matrix and Newton updates. Returns the number of sweeps done.
    """
    m = z.shape[0]
    grad = H @ z + q
    done = 0
    for _ in range(max_sweeps):
        done += 1
        max_dz = 0.0
        max_z = 0.0
        for i in range(m):
            h = H[i, i]
            if h <= 0.0:
                continue
            new = _soft(z[i] - grad[i] / h, lam[i] / h)
            if new < lower[i]:
                new = lower[i]
            dz = new - z[i]
            if dz != 0.0:
                for j in range(m):
                    grad[j] += H[j, i] * dz
                z[i] = new
                if abs(dz) > max_dz:
                    max_dz = abs(dz)
            if abs(new) > max_z:
                max_z = abs(new)
        if max_dz <= tol * max(max_z, 1e-300):
            break
    return done


@njit(cache=True, nogil=True)
def forest_order(block, indptr, indices, data, pos):
    """Breadth-first order of the subgraph of a symmetric CSR matrix induced by ``block``.

    Returns (order, parent, weight, diag, ok): ``order`` lists local node ids root-first per tree,
    ``parent[v]`` is v's parent (-1 for a root), ``weight[v]`` the matrix entry on the edge to it,
    ``diag`` the diagonal entries; ok = 0 when the induced graph has a cycle. ``pos`` is a
    workspace of length p filled with -1; it is restored before returning.
    """
    m = block.shape[0]
    for t in range(m):
        pos[block[t]] = t
    parent = -np.ones(m, dtype=np.int64)
    weight = np.zeros(m)
    diag = np.zeros(m)
    seen = np.zeros(m, dtype=np.bool_)
    order = np.empty(m, dtype=np.int64)
    head = 0
    tail = 0
    ok = 1
    for root in range(m):
        if seen[root]:
            continue
        seen[root] = True
        order[tail] = root
        tail += 1
        while head < tail:
            v = order[head]
            head += 1
            gv = block[v]
            for q in range(indptr[gv], indptr[gv + 1]):
                gu = indices[q]
                u = pos[gu]
                if gu == gv:
                    diag[v] = data[q]
                    continue
                if u < 0 or data[q] == 0.0 or u == parent[v]:
                    continue
                if seen[u]:
                    ok = 0  # a second path to u: the induced graph has a cycle
                    continue
                seen[u] = True
                parent[u] = v
                weight[u] = data[q]
                order[tail] = u
                tail += 1
    for t in range(m):
        pos[block[t]] = -1
    return order, parent, weight, diag, ok


@njit(cache=True, nogil=True)
def forest_eliminate(order, parent, weight, diag, rhs):
    """Solve H d = rhs for a forest-structured H (Gaussian elimination leaves -> roots, then back).

    The message-passing solve of the paper's Section 5: O(|b|) time. Returns (d, ok) with ok = 0
    when a pivot is not positive (H not positive definite).
    """
    m = order.shape[0]
    piv = diag.copy()
    h = rhs.copy()
    ok = 1
    for t in range(m - 1, -1, -1):
        v = order[t]
        if piv[v] <= 0.0:
            ok = 0
            piv[v] = 1e-300
        u = parent[v]
        if u >= 0:
            piv[u] -= weight[v] * weight[v] / piv[v]
            h[u] -= weight[v] * h[v] / piv[v]
    d = np.empty(m)
    for t in range(m):
        v = order[t]
        u = parent[v]
        if u < 0:
            d[v] = h[v] / piv[v]
        else:
            d[v] = (h[v] - weight[v] * d[u]) / piv[v]
    return d, ok


@njit(cache=True, nogil=True)
def grow_forest(candidates, indptr, indices, cap, comp):
    """Greedily add ``candidates`` (in order) while the induced graph stays a forest (GS-Tree).

    Union-find on the added nodes: a candidate joins only if its added neighbours all lie in
    different trees. ``comp`` is a workspace of length p filled with -1 (restored on return).
    Returns the chosen node ids.
    """
    chosen = np.empty(min(cap, candidates.shape[0]), dtype=np.int64)
    count = 0
    roots = np.empty(64, dtype=np.int64)
    for t in range(candidates.shape[0]):
        if count >= cap:
            break
        v = candidates[t]
        n_roots = 0
        cycle = False
        for q in range(indptr[v], indptr[v + 1]):
            u = indices[q]
            if u == v or comp[u] < 0:
                continue
            r = u
            while comp[r] != r:
                r = comp[r]
            for s in range(n_roots):
                if roots[s] == r:
                    cycle = True
                    break
            if cycle:
                break
            if n_roots == roots.shape[0]:
                bigger = np.empty(2 * n_roots, dtype=np.int64)
                bigger[:n_roots] = roots
                roots = bigger
            roots[n_roots] = r
            n_roots += 1
        if cycle:
            continue
        comp[v] = v
        for s in range(n_roots):
            comp[roots[s]] = v
        chosen[count] = v
        count += 1
    for t in range(count):
        comp[chosen[t]] = -1
    return chosen[:count]


@njit(cache=True, nogil=True, fastmath=True)
def _col_dot(A, j, v):
    acc = 0.0
    for i in range(A.shape[0]):
        acc += A[i, j] * v[i]
    return acc


@njit(cache=True, nogil=True, fastmath=True)
def lasso_working_set(A, b, r, x, L, ws, lam, target_gap, max_sweeps, check_every):
    """Solve the Lasso restricted to the working set ``ws`` to duality gap ``target_gap``.

    Cyclic coordinate descent on 1/2||A x - b||^2 + sum lam_j |x_j| over ws (every non-zero of x
    must lie in ws), r = b - A x kept exact. Every ``check_every`` sweeps the gap of the
    restricted problem is computed with the dual point theta = r / max(1, max_ws |A_j^T r| / lam_j).
    A is Fortran-ordered (n, p). Returns (sweeps, gap).
    """
    n = A.shape[0]
    gap = np.inf
    sweeps = 0
    for _ in range(max_sweeps):
        sweeps += 1
        for t in range(ws.shape[0]):
            j = ws[t]
            if L[j] <= 0.0:
                continue
            old = x[j]
            new = _soft(old + _col_dot(A, j, r) / L[j], lam[j] / L[j])
            if new != old:
                dx = new - old
                for i in range(n):
                    r[i] -= dx * A[i, j]
                x[j] = new
        if sweeps % check_every == 0 or sweeps == max_sweeps:
            dual = 0.0
            l1 = 0.0
            for t in range(ws.shape[0]):
                j = ws[t]
                dual = max(dual, abs(_col_dot(A, j, r)) / lam[j])
                l1 += lam[j] * abs(x[j])
            gap = _gap(r, b, l1, dual)
            if gap <= target_gap:
                break
    return sweeps, gap


@njit(cache=True, nogil=True, fastmath=True)
def lasso_working_set_csc(indptr, indices, data, b, r, x, L, ws, lam, target_gap, max_sweeps, check_every):
    """:func:`lasso_working_set` for a CSC matrix given by its three arrays."""
    gap = np.inf
    sweeps = 0
    for _ in range(max_sweeps):
        sweeps += 1
        for t in range(ws.shape[0]):
            j = ws[t]
            if L[j] <= 0.0:
                continue
            g = 0.0
            for q in range(indptr[j], indptr[j + 1]):
                g += data[q] * r[indices[q]]
            old = x[j]
            new = _soft(old + g / L[j], lam[j] / L[j])
            if new != old:
                dx = new - old
                for q in range(indptr[j], indptr[j + 1]):
                    r[indices[q]] -= dx * data[q]
                x[j] = new
        if sweeps % check_every == 0 or sweeps == max_sweeps:
            dual = 0.0
            l1 = 0.0
            for t in range(ws.shape[0]):
                j = ws[t]
                g = 0.0
                for q in range(indptr[j], indptr[j + 1]):
                    g += data[q] * r[indices[q]]
                dual = max(dual, abs(g) / lam[j])
                l1 += lam[j] * abs(x[j])
            gap = _gap(r, b, l1, dual)
            if gap <= target_gap:
                break
    return sweeps, gap


@njit(cache=True, nogil=True, fastmath=True)
def _gap(r, b, l1, dual_norm):
    """P(x) - D(theta) with theta = r / max(1, dual_norm): 1/2 r.r + l1 - r.b / s + 1/2 r.r / s^2."""
    rr = 0.0
    rb = 0.0
    for i in range(r.shape[0]):
        rr += r[i] * r[i]
        rb += r[i] * b[i]
    s = max(1.0, dual_norm)
    return 0.5 * rr + l1 - rb / s + 0.5 * rr / (s * s)
