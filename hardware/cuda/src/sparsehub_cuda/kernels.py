"""numba.cuda kernels for backend ``"cuda"``: CSR spmm with one thread per output element.

The public functions follow the kernel contract of :mod:`sparsehub.reference` (validated,
contiguous, canonical numpy arrays from :mod:`sparsehub.ops`): they copy the operands to the GPU,
launch, and copy the result back. Under ``NUMBA_ENABLE_CUDASIM=1`` (set before numba.cuda is
first imported) the same code runs on numba's CPU simulator, which is how the tests check it on
machines without a GPU.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

__all__ = ["launch_shape", "spmm"]


@cuda.jit
def _spmm_csr(indptr, indices, values, B, out, zero):  # pragma: no cover - compiled for the GPU
    # x runs along the columns of B so that a warp reads one contiguous stretch of each B row
    j, i = cuda.grid(2)
    if i < out.shape[0] and j < out.shape[1]:
        acc = zero
        for p in range(indptr[i], indptr[i + 1]):
            acc += values[p] * B[indices[p], j]
        out[i, j] = acc


def launch_shape(m: int, n: int, threads: int = 256) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(blocks, threads_per_block)`` covering an (m, n) output with one thread per element.

    A block spans up to 32 columns (one warp wide; fewer when n is small, so no lanes idle
    on narrow B) and ``threads // width`` rows.
    """
    width = 32 if n >= 32 else 1 << max(0, (n - 1).bit_length())
    height = max(1, threads // width)
    return ((n + width - 1) // width, (m + height - 1) // height), (width, height)


def spmm(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, int], B: np.ndarray
) -> np.ndarray:
    """Sparse @ dense ``A @ B`` for CSR ``A`` on the GPU: thread (i, j) sums row i of A against column j of B.

    ``out[i, j] = sum_p values[p] * B[indices[p], j]``, in storage order.
    Shapes: A (m, k), B (k, n) -> out (m, n), dtype of values, numpy (copied back from the GPU).
    """
    m, n = shape[0], B.shape[1]
    if m == 0 or n == 0 or values.size == 0:
        return np.zeros((m, n), dtype=values.dtype)
    d_out = cuda.device_array((m, n), dtype=values.dtype)
    blocks, threads = launch_shape(m, n)
    _spmm_csr[blocks, threads](
        cuda.to_device(indptr),
        cuda.to_device(indices),
        cuda.to_device(values),
        cuda.to_device(B),
        d_out,
        values.dtype.type(0),
    )
    return d_out.copy_to_host()
