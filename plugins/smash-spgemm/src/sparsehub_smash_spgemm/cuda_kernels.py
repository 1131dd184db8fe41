"""SMASH's atomic hashing on a GPU (numba.cuda): the ``spgemm`` kernel of backend ``"cuda"``.

SMASH V1 on PIUMA inserts each partial product with an atomic compare-and-swap on the key slot
and an atomic add on the value (thesis §5.1). Here one thread block hashes one row of A: its
threads take the row's stored a_ik in turn, walk row k of B and insert key j into the row's
table in global memory with ``cuda.atomic.cas`` (claim an empty slot, or find j already there;
linear probing otherwise) and ``cuda.atomic.add``. Tables are sized per row at load <= 0.5
(next power of two >= 2 * min(ub_i, n)). Write-back, as phase (c): one thread per row counts
its non-zero slots, the host prefix-sums the counts, then one thread per row copies its slots
out and insertion-sorts them.

Float atomics add in no fixed order, so values equal scipy's up to rounding (exactly for
integer-valued data); the pattern is exact. Under ``NUMBA_ENABLE_CUDASIM=1`` (set before numba
is imported) the same code runs on numba's CPU simulator, which is how the tests check it.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .rowwise import HASH_MULTIPLIER, index_dtype, row_upper_bounds

__all__ = ["BLOCK_THREADS", "hash_spgemm", "row_tables"]

#: Threads per block of the insertion kernel (one block per row of A).
BLOCK_THREADS = 64


@cuda.jit
def _insert(a_indptr, a_indices, a_values, b_indptr, b_indices, b_values, t_off, keys,
            vals):  # pragma: no cover - compiled for the GPU
    i = cuda.blockIdx.x
    off = t_off[i]
    mask = t_off[i + 1] - off - 1
    p = a_indptr[i] + cuda.threadIdx.x
    while p < a_indptr[i + 1]:
        k = a_indices[p]
        a = a_values[p]
        for q in range(b_indptr[k], b_indptr[k + 1]):
            c = b_indices[q]
            h = (c * HASH_MULTIPLIER) & mask
            while True:
                old = cuda.atomic.cas(keys, off + h, -1, c)  # claim the slot, or read its key
                if old == -1 or old == c:
                    cuda.atomic.add(vals, off + h, a * b_values[q])
                    break
                h = (h + 1) & mask
        p += cuda.blockDim.x


@cuda.jit
def _count(t_off, keys, vals, counts):  # pragma: no cover - compiled for the GPU
    i = cuda.grid(1)
    if i < counts.shape[0]:
        c = 0
        for s in range(t_off[i], t_off[i + 1]):
            if keys[s] != -1 and vals[s] != 0:  # exact cancellations are dropped, as scipy does
                c += 1
        counts[i] = c


@cuda.jit
def _write(t_off, keys, vals, indptr, out_idx, out_val):  # pragma: no cover - compiled for the GPU
    i = cuda.grid(1)
    if i < indptr.shape[0] - 1:
        lo = indptr[i]
        w = lo
        for s in range(t_off[i], t_off[i + 1]):
            if keys[s] != -1 and vals[s] != 0:
                out_idx[w] = keys[s]
                out_val[w] = vals[s]
                w += 1
        for a in range(lo + 1, w):  # insertion sort of the row by column
            kc = out_idx[a]
            kv = out_val[a]
            b = a - 1
            while b >= lo and out_idx[b] > kc:
                out_idx[b + 1] = out_idx[b]
                out_val[b + 1] = out_val[b]
                b -= 1
            out_idx[b + 1] = kc
            out_val[b + 1] = kv


def row_tables(ub: np.ndarray, n_cols: int) -> np.ndarray:
    """Offsets (m + 1,) int64 of each row's table: next power of two >= 2 * min(ub_i, n), 0 if ub_i = 0."""
    need = 2 * np.minimum(ub, max(int(n_cols), 1))
    sizes = np.where(need > 0, 1 << np.ceil(np.log2(np.maximum(need, 1))).astype(np.int64), 0)
    sizes = np.where((sizes > 0) & (sizes < need), sizes * 2, sizes)  # guard log2 rounding
    offsets = np.zeros(len(ub) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return offsets


def hash_spgemm(a_indptr, a_indices, a_values, a_shape, b_indptr, b_indices, b_values, b_shape):
    """C = A @ B by atomic hashing on the GPU; the ``spgemm`` kernel contract (host arrays in and out).

    Shapes: A (m, k), B (k, n) CSR -> ``(indptr (m + 1,), indices (nnz,), values (nnz,))`` of C,
    rows sorted, exact zeros dropped.
    """
    m, n = int(a_shape[0]), int(b_shape[1])
    dtype = np.result_type(a_values.dtype, b_values.dtype)
    ub = row_upper_bounds(a_indptr, a_indices, b_indptr)
    t_off = row_tables(ub, n)
    total = int(t_off[-1])
    if m == 0 or total == 0:
        dt = index_dtype(n)
        return np.zeros(m + 1, dtype=dt), np.zeros(0, dtype=dt), np.zeros(0, dtype=dtype)
    d_off = cuda.to_device(t_off)
    d_keys = cuda.to_device(np.full(total, -1, dtype=b_indices.dtype))
    d_vals = cuda.to_device(np.zeros(total, dtype=dtype))
    _insert[m, BLOCK_THREADS](
        cuda.to_device(a_indptr), cuda.to_device(a_indices), cuda.to_device(a_values.astype(dtype)),
        cuda.to_device(b_indptr), cuda.to_device(b_indices), cuda.to_device(b_values.astype(dtype)),
        d_off, d_keys, d_vals,
    )
    rows_grid = ((m + 127) // 128,)
    d_counts = cuda.device_array(m, dtype=np.int64)
    _count[rows_grid, 128](d_off, d_keys, d_vals, d_counts)
    counts = d_counts.copy_to_host()
    nnz = int(counts.sum())
    idt = index_dtype(max(nnz, n))
    indptr = np.zeros(m + 1, dtype=idt)
    np.cumsum(counts, out=indptr[1:])
    d_idx = cuda.device_array(max(nnz, 1), dtype=idt)
    d_val = cuda.device_array(max(nnz, 1), dtype=dtype)
    _write[rows_grid, 128](d_off, d_keys, d_vals, cuda.to_device(indptr), d_idx, d_val)
    return indptr, d_idx.copy_to_host()[:nnz], d_val.copy_to_host()[:nnz]
