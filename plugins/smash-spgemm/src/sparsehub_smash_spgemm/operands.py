"""Operands of the public functions: anything sparse becomes a canonical CSR SparseTensor.

Accepted: :class:`sparsehub.SparseTensor` (any format), ``scipy.sparse`` arrays and matrices,
sparse torch tensors and dense 2-D numpy arrays (their nonzeros become the entries). Non-canonical
CSR (unsorted or duplicate column indices) is canonicalised (duplicates summed in stored order);
the pair gets one index dtype (int32 unless either needs int64) and one value dtype
(:func:`sparsehub.ops.compute_dtype`: float32 or float64).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparsehub import SparseTensor
from sparsehub.errors import ShapeError, bad_value
from sparsehub.ops import as_csr, compute_dtype

__all__ = ["as_csr", "as_csr_pair"]  # as_csr is the core's, re-exported


def as_csr_pair(A: Any, B: Any) -> tuple[SparseTensor, SparseTensor, np.dtype]:
    """``(a, b, dtype)``: both operands canonical CSR with a common index dtype, checked for ``A @ B``.

    The values are not cast here; ``dtype`` is the dtype the product computes in.
    """
    a, b = as_csr("A", A), as_csr("B", B)
    if a.shape[1] != b.shape[0]:
        raise bad_value("B.shape", tuple(b.shape), f"({a.shape[1]}, n) to match A.shape={a.shape}", ShapeError)
    dtype = compute_dtype(A=a.dtype, B=b.dtype)
    wide = max(a.arrays["indices"].dtype, b.arrays["indices"].dtype, key=lambda d: d.itemsize)
    if a.arrays["indices"].dtype != wide:
        a = SparseTensor.csr(*(a.arrays[k] for k in ("indptr", "indices", "values")), a.shape, index_dtype=wide)
    if b.arrays["indices"].dtype != wide:
        b = SparseTensor.csr(*(b.arrays[k] for k in ("indptr", "indices", "values")), b.shape, index_dtype=wide)
    return a, b, dtype
