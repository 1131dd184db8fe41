"""numba kernels for backend ``"numba"``: CSR spmm, N:M matmul and sddmm, parallel over rows.

Each public function follows the kernel contract of :mod:`sparsehub.reference` (validated,
contiguous, canonical arrays from :mod:`sparsehub.ops`) and returns a fresh array. Each kernel is
one compiled row function driven by a ``prange`` loop over output rows (threads never write the
same memory and need no reduction) or, for small products and when numba has one thread, by a
plain loop on the calling thread: both loops sit in one ``parallel=True`` function, so each
dtype combination compiles once. ``fastmath=False`` keeps IEEE
semantics: NaN/Inf propagate and each output sums its terms in storage order, as scipy does.
Compilation happens on the first call for each dtype combination and is cached on disk
(``cache=True``). Threads: ``numba.set_num_threads`` or ``NUMBA_NUM_THREADS``.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from sparsehub.arrays import readonly

__all__ = ["nm_matmul", "sddmm", "spmm"]


@njit(fastmath=False, cache=True)
def _spmm_row(i, indptr, indices, values, B, out):  # pragma: no cover - compiled
    # Row i of the output accumulates a_ik * B[k, :] over its stored entries: contiguous rows of
    # B and of out, so the j loop vectorises. Four entries per pass over the output row cut its
    # loads and stores by 4x while still adding in storage order, as scipy does.
    n = B.shape[1]
    orow = out[i]
    p = indptr[i]
    end = indptr[i + 1]
    while p + 3 < end:
        a0, a1, a2, a3 = values[p], values[p + 1], values[p + 2], values[p + 3]
        b0, b1, b2, b3 = B[indices[p]], B[indices[p + 1]], B[indices[p + 2]], B[indices[p + 3]]
        for j in range(n):
            orow[j] = (((orow[j] + a0 * b0[j]) + a1 * b1[j]) + a2 * b2[j]) + a3 * b3[j]
        p += 4
    while p < end:
        a0, b0 = values[p], B[indices[p]]
        for j in range(n):
            orow[j] += a0 * b0[j]
        p += 1


@njit(parallel=True, fastmath=False, cache=True)
def _spmm_rows(indptr, indices, values, B, out, parallel):  # pragma: no cover - compiled
    if parallel:
        for i in prange(out.shape[0]):
            _spmm_row(i, indptr, indices, values, B, out)
    else:  # the thread pool is woken only when the prange loop runs
        for i in range(out.shape[0]):
            _spmm_row(i, indptr, indices, values, B, out)


@njit(fastmath=False, cache=True)
def _nm_row(i, values, indices, group_start, B, out):  # pragma: no cover - compiled
    # slot s of a row lies in the group starting at column group_start[s] (= (s // n) * m)
    ncols = B.shape[1]
    per_row = values.shape[1]
    orow = out[i]
    s = 0
    while s + 3 < per_row:  # four slots per pass over the output row, as in _spmm_row
        a0, a1, a2, a3 = values[i, s], values[i, s + 1], values[i, s + 2], values[i, s + 3]
        b0 = B[group_start[s] + indices[i, s]]
        b1 = B[group_start[s + 1] + indices[i, s + 1]]
        b2 = B[group_start[s + 2] + indices[i, s + 2]]
        b3 = B[group_start[s + 3] + indices[i, s + 3]]
        for j in range(ncols):
            orow[j] = (((orow[j] + a0 * b0[j]) + a1 * b1[j]) + a2 * b2[j]) + a3 * b3[j]
        s += 4
    while s < per_row:
        a0, b0 = values[i, s], B[group_start[s] + indices[i, s]]
        for j in range(ncols):
            orow[j] += a0 * b0[j]
        s += 1


@njit(parallel=True, fastmath=False, cache=True)
def _nm_rows(values, indices, group_start, B, out, parallel):  # pragma: no cover - compiled
    if parallel:
        for i in prange(out.shape[0]):
            _nm_row(i, values, indices, group_start, B, out)
    else:  # the thread pool is woken only when the prange loop runs
        for i in range(out.shape[0]):
            _nm_row(i, values, indices, group_start, B, out)


@njit(fastmath=False, cache=True)
def _sddmm_row(i, indptr, indices, values, X, Yt, out):  # pragma: no cover - compiled
    depth = X.shape[1]
    for p in range(indptr[i], indptr[i + 1]):
        c = indices[p]
        acc = out[p]  # zero of the output dtype: out starts zeroed
        for t in range(depth):
            acc += X[i, t] * Yt[c, t]
        out[p] = values[p] * acc


@njit(parallel=True, fastmath=False, cache=True)
def _sddmm_rows(indptr, indices, values, X, Yt, out, parallel):  # pragma: no cover - compiled
    if parallel:
        for i in prange(X.shape[0]):
            _sddmm_row(i, indptr, indices, values, X, Yt, out)
    else:  # the thread pool is woken only when the prange loop runs
        for i in range(X.shape[0]):
            _sddmm_row(i, indptr, indices, values, X, Yt, out)


#: Below this many multiply-adds a kernel runs on the calling thread: waking the thread pool
#: costs 20 us to over 1 ms (OpenMP workers that spin, then sleep, on a busy or virtual machine),
#: more than the whole product.
PARALLEL_MIN_WORK = 1 << 18


def _parallel(work: int) -> bool:
    return work >= PARALLEL_MIN_WORK and numba.get_num_threads() > 1


def spmm(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, int], B: np.ndarray
) -> np.ndarray:
    """Sparse @ dense ``A @ B`` for CSR ``A``: each thread owns whole output rows.

    ``out[i, :] = sum_p values[p] * B[indices[p], :]``.
    Shapes: A (m, k), B (k, n) -> out (m, n), dtype of values.
    """
    out = np.zeros((shape[0], B.shape[1]), dtype=values.dtype)
    if out.size and values.size:
        indptr, indices, values, B = map(readonly, (indptr, indices, values, B))
        _spmm_rows(indptr, indices, values, B, out, _parallel(values.size * B.shape[1]))
    return out


def nm_matmul(
    values: np.ndarray, indices: np.ndarray, shape: tuple[int, int], n: int, m: int, B: np.ndarray
) -> np.ndarray:
    """N:M sparse @ dense, reading the compressed values and in-group indices directly.

    ``out[i, :] = sum_s values[i, s] * B[(s // n) * m + indices[i, s], :]``.
    Shapes: values, indices (rows, cols // m * n); B (cols, k) -> out (rows, k), dtype of values.
    """
    out = np.zeros((shape[0], B.shape[1]), dtype=values.dtype)
    if out.size and values.size:
        group_start = readonly((np.arange(values.shape[1], dtype=np.int64) // n) * m)
        values, indices, B = map(readonly, (values, indices, B))
        _nm_rows(values, indices, group_start, B, out, _parallel(values.size * B.shape[1]))
    return out


def sddmm(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    shape: tuple[int, int],
    X: np.ndarray,
    Y: np.ndarray,
) -> np.ndarray:
    """Sampled dense-dense matmul ``out_p = s_p * (X[i, :] @ Y[:, j])`` over S's stored entries.

    Y is transposed once so that both dot-product operands are contiguous rows.
    Shapes: S (m, n) with nnz entries, X (m, k), Y (k, n) -> values (nnz,), dtype of values.
    """
    out = np.zeros(indices.size, dtype=values.dtype)
    if out.size:
        parallel = _parallel(out.size * X.shape[1])
        args = map(readonly, (indptr, indices, values, X, np.ascontiguousarray(Y.T)))
        _sddmm_rows(*args, out, parallel)
    return out
