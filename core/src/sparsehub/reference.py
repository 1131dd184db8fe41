"""The reference backend's kernels (numpy/scipy, torch for torch inputs), and the kernel contract.

Every backend's kernels take the same arguments as the functions here. :mod:`sparsehub.ops`
validates the user's inputs once and calls a kernel with clean arrays:

* CSR operands as ``indptr, indices, values, shape``: canonical (column indices sorted within
  each row, no duplicates), C-contiguous; ``indptr`` and ``indices`` share one dtype (int32 or
  int64).
* Values and dense operands share one float dtype (float32 or float64), C-contiguous, 2-D.
* Kernels never write into their inputs (they may be the caller's own arrays).

This backend is the oracle: scipy.sparse where it is installed, pure numpy otherwise (the
``*_numpy`` functions, which the tests check against scipy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["csr_rows", "masked_matmul", "nm_columns", "nm_matmul", "sddmm", "spgemm", "spmm"]


def _scipy_sparse() -> Any | None:
    try:
        import scipy.sparse as sp
    except ImportError:
        return None
    return sp


def csr_rows(indptr: np.ndarray, n_rows: int) -> np.ndarray:
    """The row of every stored entry of a CSR matrix: ``rows[p] = i`` for ``indptr[i] <= p < indptr[i+1]``.

    Shapes: indptr (n_rows + 1,) -> rows (nnz,), dtype of indptr.
    """
    return np.repeat(np.arange(n_rows, dtype=indptr.dtype), np.diff(indptr))


def nm_columns(indices: np.ndarray, n: int, m: int) -> np.ndarray:
    """Absolute column of every slot of an N:M compressed matrix.

    Slot ``s`` of a row belongs to group ``s // n``, which covers columns ``[g*m, (g+1)*m)``;
    the stored in-group index ``indices[:, s]`` picks the column within it.
    Shapes: indices (rows, cols // m * n), uint8 -> columns (rows, cols // m * n), int64.
    """
    groups = np.arange(indices.shape[1], dtype=np.int64) // n
    return groups * m + indices.astype(np.int64)


# -- spmm ------------------------------------------------------------------------------------
def spmm(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, int], B: np.ndarray
) -> np.ndarray:
    """Sparse @ dense: ``out = A @ B`` for CSR ``A``.

    ``out[i, :] = sum_p values[p] * B[indices[p], :]`` over the stored entries ``p`` of row ``i``.
    Shapes: A (m, k) with nnz entries, B (k, n) -> out (m, n), dtype of values.
    """
    sp = _scipy_sparse()
    if sp is None:
        return spmm_numpy(indptr, indices, values, shape, B)
    A = sp.csr_array((values, indices, indptr), shape=shape, copy=False)
    return np.ascontiguousarray(A @ B, dtype=values.dtype)


def spmm_numpy(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, int], B: np.ndarray
) -> np.ndarray:
    """:func:`spmm` in numpy only: the products of each row's entries summed by ``np.add.reduceat``."""
    m, n = shape[0], B.shape[1]
    out = np.zeros((m, n), dtype=values.dtype)
    lengths = np.diff(indptr)
    nonempty = np.flatnonzero(lengths)
    if nonempty.size and n:
        products = values[:, None] * B[indices]
        out[nonempty] = np.add.reduceat(products, indptr[nonempty], axis=0)
    return out


# -- spgemm ----------------------------------------------------------------------------------
def spgemm(
    a_indptr: np.ndarray,
    a_indices: np.ndarray,
    a_values: np.ndarray,
    a_shape: tuple[int, int],
    b_indptr: np.ndarray,
    b_indices: np.ndarray,
    b_values: np.ndarray,
    b_shape: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse @ sparse: ``C = A @ B`` for CSR ``A`` and ``B``, as canonical CSR arrays.

    ``C[i, j] = sum_k A[i, k] * B[k, j]`` over stored ``A[i, k]`` and ``B[k, j]``; entries that
    sum to exactly zero are dropped (as scipy does).
    Shapes: A (m, k), B (k, n) -> ``(indptr (m + 1,), indices (nnz,), values (nnz,))`` of C (m, n).
    """
    sp = _scipy_sparse()
    if sp is None:
        return spgemm_numpy(a_indptr, a_indices, a_values, a_shape, b_indptr, b_indices, b_values, b_shape)
    A = sp.csr_array((a_values, a_indices, a_indptr), shape=a_shape, copy=False)
    B = sp.csr_array((b_values, b_indices, b_indptr), shape=b_shape, copy=False)
    C = sp.csr_array(A @ B)
    C.sum_duplicates()  # also sorts the indices
    C.eliminate_zeros()
    return C.indptr, C.indices, C.data.astype(a_values.dtype, copy=False)


def spgemm_numpy(
    a_indptr: np.ndarray,
    a_indices: np.ndarray,
    a_values: np.ndarray,
    a_shape: tuple[int, int],
    b_indptr: np.ndarray,
    b_indices: np.ndarray,
    b_values: np.ndarray,
    b_shape: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`spgemm` in numpy only: expand every product ``A[i,k] * B[k,j]``, then sum equal ``(i, j)``."""
    m, n = a_shape[0], b_shape[1]
    a_rows = csr_rows(a_indptr, m).astype(np.int64)
    b_len = np.diff(b_indptr).astype(np.int64)
    counts = b_len[a_indices]  # products contributed by each stored A[i, k]
    total = int(counts.sum())
    owner = np.repeat(np.arange(a_indices.size), counts)  # which A entry each product comes from
    # position of each product inside its B row: 0..counts-1, then offset to B's storage
    first = np.cumsum(counts) - counts
    within = np.arange(total, dtype=np.int64) - np.repeat(first, counts)
    b_pos = np.asarray(b_indptr, dtype=np.int64)[a_indices[owner]] + within
    rows, cols = a_rows[owner], b_indices[b_pos].astype(np.int64)
    products = a_values[owner] * b_values[b_pos]
    key = rows * max(n, 1) + cols
    unique, inverse = np.unique(key, return_inverse=True)
    sums = np.zeros(unique.size, dtype=a_values.dtype)
    np.add.at(sums, inverse, products)
    keep = sums != 0
    unique, sums = unique[keep], sums[keep]
    out_rows = unique // max(n, 1)
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(out_rows, minlength=m), out=indptr[1:])
    return indptr, (unique % max(n, 1)).astype(np.int64), sums


# -- sddmm -----------------------------------------------------------------------------------
def sddmm(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    shape: tuple[int, int],
    X: np.ndarray,
    Y: np.ndarray,
) -> np.ndarray:
    """Sampled dense-dense matmul: ``out_p = s_p * (X[i, :] @ Y[:, j])`` for each stored ``(i, j)`` of S.

    The product ``X @ Y`` is computed only where S stores an entry; the result has S's pattern.
    Shapes: S (m, n) with nnz entries, X (m, k), Y (k, n) -> values (nnz,) in S's entry order.
    """
    rows = csr_rows(indptr, shape[0])
    out = np.empty(indices.size, dtype=values.dtype)
    # chunks bound the (chunk, k) temporaries for large nnz
    step = max(1, (1 << 22) // max(1, X.shape[1]))
    Yt = Y.T
    for start in range(0, indices.size, step):
        stop = min(start + step, indices.size)
        dots = np.einsum("pk,pk->p", X[rows[start:stop]], Yt[indices[start:stop]])
        out[start:stop] = values[start:stop] * dots
    return out


# -- nm_matmul -------------------------------------------------------------------------------
def nm_matmul(
    values: np.ndarray, indices: np.ndarray, shape: tuple[int, int], n: int, m: int, B: np.ndarray
) -> np.ndarray:
    """N:M sparse @ dense: ``out = A @ B`` for ``A`` stored as N:M compressed values + in-group indices.

    Each group of ``m`` consecutive columns of a row of A keeps ``n`` values; ``values[i, s]``
    sits at column ``(s // n) * m + indices[i, s]``. The compressed rows are read as CSR rows
    with ``cols // m * n`` entries each and multiplied by :func:`spmm`.
    Shapes: values, indices (rows, cols // m * n); B (cols, k) -> out (rows, k), dtype of values.
    """
    rows, per_row = values.shape
    columns = nm_columns(indices, n, m).reshape(-1)
    indptr = np.arange(rows + 1, dtype=np.int64) * per_row
    return spmm(indptr, columns, np.ascontiguousarray(values).reshape(-1), shape, B)


# -- masked_matmul ---------------------------------------------------------------------------
def masked_matmul(X: Any, W: Any, mask: Any) -> Any:
    """The masked Linear forward: ``out = X @ (W ⊙ mask).T``, masked-out weights contributing exactly 0.

    ``W`` is a Linear weight (out_features, in_features) and ``mask`` selects its kept entries;
    a masked-out weight is treated as absent (``where(mask, W, 0)``), so NaN or Inf stored
    there does not leak into the output. All operands are numpy, or all torch (then the result
    is a torch tensor and autograd flows to ``X`` and ``W``).
    Shapes: X (b, in), W (out, in), mask (out, in) bool -> out (b, out).
    """
    if isinstance(X, np.ndarray):
        return X @ np.where(mask, W, W.dtype.type(0)).T
    import torch

    return X @ torch.where(mask, W, torch.zeros((), dtype=W.dtype, device=W.device)).T
