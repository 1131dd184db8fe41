"""``spgemm(A, B, method=...)``: SMASH's row-wise hash SpGEMM and its comparison dataflows.

The public entry point of the plugin (``sparsehub.get("smash-spgemm").api``). It validates and
canonicalises the operands (:mod:`.operands`), then runs one kernel:

- ``"hash"`` (default): row-wise Gustavson with hash-table accumulation, one or two passes
  (:mod:`.rowwise`), on ``backend="numba"`` (CPU) or ``"cuda"`` (numba.cuda, atomic CAS);
- ``"spa"``: the same dataflow with a dense accumulator (what a bounded scratchpad cannot hold);
- ``"outer"`` and ``"inner"``: the dataflows SMASH is compared against (:mod:`.dataflows`).

Every method returns the same canonical CSR :class:`sparsehub.SparseTensor` (rows sorted unless
``sort_indices=False``); entries whose products cancel to exactly 0 are dropped, as scipy does,
and NaN/Inf propagate as in scipy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparsehub import SparseTensor
from sparsehub.errors import BackendError, bad_value

from .operands import as_csr_pair

__all__ = ["BACKENDS", "METHODS", "spgemm"]

METHODS = ("hash", "spa", "outer", "inner")
BACKENDS = ("numba", "cuda")


def _check_options(method: str, passes: int, window: int | None, sort_indices: bool, backend: str) -> None:
    # all options are checked before any work, so a bad call costs nothing and mutates nothing
    if method not in METHODS:
        raise bad_value("method", method, f"one of {', '.join(map(repr, METHODS))}")
    if isinstance(passes, bool) or passes not in (1, 2):
        raise bad_value("passes", passes, "1 (upper-bound buffers) or 2 (symbolic then numeric)")
    if passes == 2 and method not in ("hash", "spa"):
        raise bad_value("passes", passes, f"1 for method={method!r} (two passes exist for 'hash' and 'spa')")
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 8 or window & (window - 1)
    ):
        raise bad_value("window", window, "None or a power of two >= 8 (hash-table slots per thread)")
    if window is not None and method != "hash":
        raise bad_value("window", window, f"None for method={method!r} (a window bounds the hash table)")
    if not isinstance(sort_indices, bool | np.bool_):
        raise bad_value("sort_indices", sort_indices, "True or False")
    if backend not in BACKENDS:
        raise bad_value("backend", backend, f"one of {', '.join(map(repr, BACKENDS))}")
    if backend == "cuda" and (method != "hash" or passes != 1 or window is not None):
        raise bad_value(
            "backend", backend, "'numba' for this method/passes/window (the cuda path is one-pass 'hash')"
        )


def spgemm(
    A: Any,
    B: Any,
    *,
    method: str = "hash",
    passes: int = 1,
    window: int | None = None,
    sort_indices: bool = True,
    backend: str = "numba",
) -> SparseTensor:
    """C = A @ B for sparse A and B, by SMASH's row-wise hashing or a comparison dataflow.

    Row i of C = sum over stored a_ik of a_ik * B[k, :] (thesis ch. 5), each partial product
    merged into a per-thread hash table the moment it is made. ``passes=2`` counts each row
    first (symbolic) and allocates C exactly; ``passes=1`` uses upper-bound buffers of
    flops = sum_i sum_k nnz(B_k) entries. ``window``: the hash-table capacity in slots; rows
    that would overflow it at load 1/8 use a dense accumulator instead. ``sort_indices=False``
    leaves each row in first-insertion order (like scipy's output; the result is then not
    canonical). On ``backend="cuda"`` float sums are added by atomics in no fixed order.
    Shapes: A (m, k), B (k, n) -> C (m, n) CSR SparseTensor, float32 or float64
    (:func:`sparsehub.ops.compute_dtype`), int32 indices unless nnz(C) or n needs int64.
    """
    _check_options(method, passes, window, sort_indices, backend)
    a, b, dtype = as_csr_pair(A, B)
    arrays = (
        a.arrays["indptr"], a.arrays["indices"], np.ascontiguousarray(a.arrays["values"], dtype), a.shape,
        b.arrays["indptr"], b.arrays["indices"], np.ascontiguousarray(b.arrays["values"], dtype), b.shape,
    )
    if backend == "cuda":
        from numba import cuda

        if not cuda.is_available():  # True under NUMBA_ENABLE_CUDASIM=1 as well
            raise bad_value(
                "backend", backend, "'numba' on a machine without a CUDA GPU (numba.cuda.is_available() is False)",
                BackendError,
            )
        from .cuda_kernels import hash_spgemm as cuda_hash

        indptr, indices, values = cuda_hash(*arrays)
    elif method in ("hash", "spa"):
        from . import rowwise

        if method == "hash":
            indptr, indices, values = rowwise.hash_spgemm(
                *arrays, passes=passes, window=window, sort_indices=sort_indices
            )
        else:
            indptr, indices, values = rowwise.spa_spgemm(*arrays, passes=passes, sort_indices=sort_indices)
    else:
        from . import dataflows

        kernel = dataflows.outer_spgemm if method == "outer" else dataflows.inner_spgemm
        indptr, indices, values = kernel(*arrays)  # sorted by construction
    return SparseTensor.csr(indptr, indices, values, (a.shape[0], b.shape[1]))
