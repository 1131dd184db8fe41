"""The CHW sparse 1x1 convolution on a GPU (numba.cuda), run on numba's simulator in the tests.

A thread owns one pixel of one image and a block of ``channel_block`` output channels; the block's
threads cover consecutive pixels, so each nonzero's read of X[k, p0:p0 + threads] is one coalesced
load, and the weight stream (bias, weights, input-channel deltas) is the same for every thread of
the block (a broadcast). Grid: (pixel blocks, channel blocks, images). Each channel starts at its
own first input channel (a GPU thread cannot walk the stream from channel 0), then follows the
deltas exactly as the CPU kernel does.

Under ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is imported) the same code runs on the CPU,
thousands of times slower: the tests use small inputs. GPU timings against cuSPARSE
(``torch.sparse.mm``) and cuBLAS are still to be measured (this plugin was written without a GPU).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .packing import XnnpackWeights, pack_csr_arrays

__all__ = ["launch_shape", "spmm", "spmm_chw_packed"]


@cuda.jit
def _spmm_chw(x, values, nnz_map, value_start, nz_start, channel_first, steps, out, lo, hi, cin, hw,
              channel_block):  # pragma: no cover - compiled for the GPU (or interpreted by the simulator)
    j = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    img = cuda.blockIdx.z
    cout = nnz_map.shape[0]
    if j < hw:
        c_end = min(cout, (cuda.blockIdx.y + 1) * channel_block)
        for c in range(cuda.blockIdx.y * channel_block, c_end):
            q = value_start[c]
            acc = values[q]
            ptr = (img * cin + channel_first[c]) * hw + j
            p = nz_start[c]
            for k in range(nnz_map[c]):
                acc += values[q + 1 + k] * x[ptr]
                ptr += steps[p + k]
            if acc < lo:
                acc = lo
            if acc > hi:
                acc = hi
            out[(img * cout + c) * hw + j] = acc


def launch_shape(hw: int, cout: int, n_images: int, threads: int = 128,
                 channel_block: int = 8) -> tuple[tuple[int, int, int], int]:
    """``(grid, threads_per_block)``: pixel blocks of up to ``threads`` (a power of two covering small
    images without idle warps), channel blocks of ``channel_block`` channels, one grid layer per image."""
    width = min(threads, 1 << max(0, (hw - 1).bit_length()))
    return ((hw + width - 1) // width, (cout + channel_block - 1) // channel_block, n_images), width


def spmm_chw_packed(packed: XnnpackWeights, x: np.ndarray, lo: float = -np.inf, hi: float = np.inf,
                    channel_block: int = 8) -> np.ndarray:
    """Run the kernel on validated operands ``x`` (N, Cin, HW): copy in, launch, copy back (N, Cout, HW)."""
    n_images, cin, hw = x.shape
    cout = packed.shape[0]
    if n_images * cout * hw == 0:
        return np.zeros((n_images, cout, hw), dtype=packed.dtype)
    value_start = packed.bias_positions()
    nz_start = value_start - np.arange(cout)
    channel_first = np.zeros(cout, dtype=np.int64)
    nonempty = packed.nnz_map > 0
    channel_first[nonempty] = packed.input_channels()[nz_start[nonempty]]
    steps = packed.channel_deltas.astype(np.int64) * hw
    if steps.size == 0:
        steps = np.zeros(1, dtype=np.int64)  # a device array needs one element; never read
    d_out = cuda.device_array(n_images * cout * hw, dtype=packed.dtype)
    grid, block = launch_shape(hw, cout, n_images, channel_block=channel_block)
    _spmm_chw[grid, block](
        cuda.to_device(np.ascontiguousarray(x).reshape(-1)),
        cuda.to_device(np.ascontiguousarray(packed.values)),
        cuda.to_device(np.ascontiguousarray(packed.nnz_map)),
        cuda.to_device(value_start),
        cuda.to_device(nz_start),
        cuda.to_device(channel_first),
        cuda.to_device(steps),
        d_out,
        packed.dtype.type(lo),
        packed.dtype.type(hi),
        cin,
        hw,
        channel_block,
    )
    return d_out.copy_to_host().reshape(n_images, cout, hw)


def spmm(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, int], B: np.ndarray
) -> np.ndarray:
    """``sparsehub.ops.spmm`` kernel (backend "cuda", algorithm "chw-xnnpack"): A @ B as a CHW 1x1 conv.

    Shapes: A (m, k) CSR, B (k, n) -> out (m, n), dtype of values, numpy (copied back from the GPU).
    """
    packed = pack_csr_arrays(indptr, indices, values, np.zeros(shape[0], dtype=values.dtype), shape)
    if B.dtype != values.dtype:
        B = B.astype(values.dtype)
    return spmm_chw_packed(packed, np.ascontiguousarray(B).reshape(1, shape[1], B.shape[1]))[0]
