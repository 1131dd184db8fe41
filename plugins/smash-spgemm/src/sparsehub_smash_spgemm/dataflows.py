"""The two dataflows SMASH is compared against (thesis ch. 2 and 5): outer product and inner product.

Outer product (OuterSPACE, ESC): C = sum_k A[:, k] (x) B[k, :]. The multiply phase writes every
partial product a_ik * b_kj to memory, grouped by output row i (flops entries of column index and
value); the merge phase reads them back, sorts each row's list by column (stably, so that equal
columns add in k order) and sums duplicates. B is read once, but the partial-product matrix is
written and re-read: the traffic SMASH removes.

Inner product: C[i, j] = A[i, :] . B[:, j] for every (i, j), a merge of row i of A with column j
of B (both sorted). Nothing is written but C, but row i of A is re-read n times and B m times,
and m * n dot products are attempted whatever nnz(C) is.

Both run in numba on one thread (they are comparison methods, not products to use) and follow
the ``spgemm`` kernel contract of :mod:`.rowwise`; results are sorted by column and equal
scipy's bit for bit (same summation order, exact zeros dropped).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .rowwise import assemble, index_dtype, readonly_all, row_upper_bounds

__all__ = ["inner_spgemm", "outer_spgemm", "transpose_csr"]


@njit(cache=True)
def _transpose(indptr, indices, values, n_cols, t_indptr, t_indices, t_values):  # pragma: no cover
    # counting sort by column; rows stay ascending inside each column (stable)
    for p in range(indices.shape[0]):
        t_indptr[indices[p] + 1] += 1
    for j in range(n_cols):
        t_indptr[j + 1] += t_indptr[j]
    fill = t_indptr[:-1].copy()
    for i in range(indptr.shape[0] - 1):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            t_indices[fill[j]] = i
            t_values[fill[j]] = values[p]
            fill[j] += 1


def transpose_csr(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray,
                  shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR of the transpose (= CSC of the matrix), rows ascending within each column; int64 indices.

    Shapes: (m, n) -> ``(indptr (n + 1,), indices (nnz,), values (nnz,))`` of the (n, m) transpose.
    """
    n = int(shape[1])
    t_indptr = np.zeros(n + 1, dtype=np.int64)
    t_indices = np.empty(indices.size, dtype=np.int64)
    t_values = np.empty(values.size, dtype=values.dtype)
    if indices.size:
        _transpose(*readonly_all(indptr, indices, values), n, t_indptr, t_indices, t_values)
    return t_indptr, t_indices, t_values


@njit(cache=True)
def _outer_multiply(at_indptr, at_rows, at_values, b_indptr, b_indices, b_values, fill, pp_col,
                    pp_val):  # pragma: no cover - compiled
    # outer product k: column k of A times row k of B; each partial product goes to its row's list
    for k in range(at_indptr.shape[0] - 1):
        for p in range(at_indptr[k], at_indptr[k + 1]):
            i = at_rows[p]
            a = at_values[p]
            for q in range(b_indptr[k], b_indptr[k + 1]):
                pp_col[fill[i]] = b_indices[q]
                pp_val[fill[i]] = a * b_values[q]
                fill[i] += 1


@njit(cache=True)
def _outer_merge(offsets, pp_col, pp_val, counts):  # pragma: no cover - compiled
    # per row: stable insertion sort of its partial products by column, then sum equal columns
    # (in k order: the sort is stable), drop exact zeros, and compact the row in place
    for i in range(offsets.shape[0] - 1):
        lo, hi = offsets[i], offsets[i + 1]
        for a in range(lo + 1, hi):
            kc, kv = pp_col[a], pp_val[a]
            b = a - 1
            while b >= lo and pp_col[b] > kc:
                pp_col[b + 1] = pp_col[b]
                pp_val[b + 1] = pp_val[b]
                b -= 1
            pp_col[b + 1] = kc
            pp_val[b + 1] = kv
        w = lo
        p = lo
        while p < hi:
            c = pp_col[p]
            s = pp_val[p]
            p += 1
            while p < hi and pp_col[p] == c:
                s += pp_val[p]
                p += 1
            if s != 0:
                pp_col[w] = c
                pp_val[w] = s
                w += 1
        counts[i] = w - lo


def outer_spgemm(a_indptr, a_indices, a_values, a_shape, b_indptr, b_indices, b_values, b_shape):
    """C = A @ B by the outer-product dataflow: write all flops partial products, then merge rows.

    Partial products are written row-grouped (a counting sort on the output row, as
    OuterSPACE's multiply phase) and merged by a stable per-row sort. Sorted rows, exact zeros
    dropped. Shapes: A (m, k), B (k, n) CSR -> ``(indptr, indices, values)`` of C (m, n).
    """
    m, n = int(a_shape[0]), int(b_shape[1])
    dtype = np.result_type(a_values.dtype, b_values.dtype)
    ub = row_upper_bounds(a_indptr, a_indices, b_indptr)
    offsets = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(ub, out=offsets[1:])
    at_indptr, at_rows, at_values = transpose_csr(a_indptr, a_indices, a_values.astype(dtype), a_shape)
    pp_col = np.empty(int(offsets[-1]), dtype=index_dtype(max(n - 1, 0)))
    pp_val = np.empty(int(offsets[-1]), dtype=dtype)
    counts = np.zeros(m, dtype=np.int64)
    if pp_col.size:
        _outer_multiply(*readonly_all(at_indptr, at_rows, at_values, b_indptr, b_indices, b_values.astype(dtype)),
                        offsets[:-1].copy(), pp_col, pp_val)
        _outer_merge(offsets, pp_col, pp_val, counts)
    # each row was compacted in place at its offset: move rows down one by one
    bounds = np.arange(m + 1, dtype=np.int64)
    return assemble(bounds, offsets, counts, pp_col, pp_val, n)


@njit(cache=True)
def _inner(a_indptr, a_indices, a_values, bt_indptr, bt_indices, bt_values, n, offsets, out_col,
           out_val, counts, zero):  # pragma: no cover - compiled
    # ``zero`` carries the value dtype, so float32 products add in float32 as scipy's do
    for i in range(a_indptr.shape[0] - 1):
        a_lo, a_hi = a_indptr[i], a_indptr[i + 1]
        w = offsets[i]
        if a_lo == a_hi:
            continue
        for j in range(n):  # every output entry is attempted: the inner product's defining cost
            p, q = a_lo, bt_indptr[j]
            q_hi = bt_indptr[j + 1]
            hit = False
            s = zero
            while p < a_hi and q < q_hi:
                ka, kb = a_indices[p], bt_indices[q]
                if ka == kb:
                    if hit:
                        s += a_values[p] * bt_values[q]
                    else:
                        s = a_values[p] * bt_values[q]
                        hit = True
                    p += 1
                    q += 1
                elif ka < kb:
                    p += 1
                else:
                    q += 1
            if hit and s != 0:
                out_col[w] = j
                out_val[w] = s
                w += 1
        counts[i] = w - offsets[i]


def inner_spgemm(a_indptr, a_indices, a_values, a_shape, b_indptr, b_indices, b_values, b_shape):
    """C = A @ B by the inner-product dataflow: C[i, j] = A[i, :] . B[:, j] for all m * n pairs.

    Each dot product merges row i of A with column j of B (B transposed once, CSC). O(m * n)
    work whatever the sparsity; sorted rows, exact zeros dropped.
    Shapes: A (m, k), B (k, n) CSR -> ``(indptr, indices, values)`` of C (m, n).
    """
    m, n = int(a_shape[0]), int(b_shape[1])
    dtype = np.result_type(a_values.dtype, b_values.dtype)
    ub = np.minimum(row_upper_bounds(a_indptr, a_indices, b_indptr), n)
    offsets = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(ub, out=offsets[1:])
    bt_indptr, bt_indices, bt_values = transpose_csr(b_indptr, b_indices, b_values.astype(dtype), b_shape)
    out_col = np.empty(int(offsets[-1]), dtype=index_dtype(max(n - 1, 0)))
    out_val = np.empty(int(offsets[-1]), dtype=dtype)
    counts = np.zeros(m, dtype=np.int64)
    if out_col.size:
        _inner(*readonly_all(a_indptr, a_indices, a_values.astype(dtype), bt_indptr, bt_indices, bt_values), n,
               offsets, out_col, out_val, counts, dtype.type(0))
    return assemble(np.arange(m + 1, dtype=np.int64), offsets, counts, out_col, out_val, n)
