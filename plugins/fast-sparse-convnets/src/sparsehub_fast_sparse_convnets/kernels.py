"""The CHW sparse 1x1 convolution on the CPU (numba): XNNPACK's ``f32-spmm`` micro-kernel.

Out[c, p] = clamp(b_c + sum_k W[c, k] X[k, p], lo, hi) for a sparse W (Cout x Cin) and an input
in CHW layout, X (Cin x H*W): the 1x1 convolution as one sparse x dense product (paper Sec. 4).

The loop nest is XNNPACK's: the H*W pixels are cut into strips of ``mr`` contiguous pixels; for a
strip, every output channel starts its ``mr`` accumulators at its bias, walks its nonzeros in
stream order (weight, then a jump of the input offset by the precomputed delta, no index decode),
clamps (fused ReLU / ReLU6) and stores, before the next channel. All output channels of a strip
are finished before the next strip, so the strip of X (Cin x mr floats) stays in cache while it is
reused by every output channel. Four nonzeros are folded per pass over the accumulators, cutting
their loads and stores by four while still adding in stream order.

Threads own whole strips (``prange`` over image x strip, as XNNPACK's thread pool splits pixels),
so no two threads write the same output. Small products and 1-thread runs stay on the calling
thread (waking the OpenMP pool costs more than a small product). ``fastmath=False``: NaN and Inf in
the input propagate as in a dense convolution, and every output sums b then its terms in input
channel order, exactly as the reference.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from sparsehub.arrays import readonly

from .packing import XnnpackWeights, pack_csr_arrays

__all__ = ["PARALLEL_MIN_WORK", "default_mr", "spmm", "spmm_chw_packed"]

#: Below this many multiply-adds the kernel runs on the calling thread (see the module docstring).
PARALLEL_MIN_WORK = 1 << 18


@njit(fastmath=False, cache=True)
def _strip(x, x_base, start, width, values, nnz_map, steps, first, out, o_base, hw, lo, hi):  # pragma: no cover
    # Slices (views) rather than x[ptr + j]: with a view the index j >= 0 is known, numba drops its
    # negative-index wrap-around and LLVM vectorises the j loops.
    q = 0  # position in the value stream: bias, then weights, channel after channel
    p = 0  # index of the nonzero (into steps)
    ptr = x_base + first + start  # first is already an element offset (first channel * hw)
    o = o_base + start
    for c in range(nnz_map.size):
        acc = out[o:o + width]
        b = values[q]
        q += 1
        for j in range(width):
            acc[j] = b
        end = p + nnz_map[c]
        while p + 3 < end:
            w0, w1, w2, w3 = values[q], values[q + 1], values[q + 2], values[q + 3]
            r0 = x[ptr:ptr + width]
            ptr += steps[p]
            r1 = x[ptr:ptr + width]
            ptr += steps[p + 1]
            r2 = x[ptr:ptr + width]
            ptr += steps[p + 2]
            r3 = x[ptr:ptr + width]
            ptr += steps[p + 3]
            for j in range(width):
                acc[j] = (((acc[j] + w0 * r0[j]) + w1 * r1[j]) + w2 * r2[j]) + w3 * r3[j]
            p += 4
            q += 4
        while p < end:
            w0 = values[q]
            r0 = x[ptr:ptr + width]
            for j in range(width):
                acc[j] += w0 * r0[j]
            ptr += steps[p]
            p += 1
            q += 1
        for j in range(width):
            v = acc[j]
            if v < lo:  # comparisons with NaN are false: NaN passes the clamp, as in torch
                v = lo
            if v > hi:
                v = hi
            acc[j] = v
        o += hw


@njit(fastmath=False, cache=True)
def _task(t, n_strips, x, cin, hw, values, nnz_map, steps, first, out, mr, lo, hi):  # pragma: no cover
    # task t = one strip of one image
    img = t // n_strips
    start = (t - img * n_strips) * mr
    width = min(mr, hw - start)
    _strip(x, img * cin * hw, start, width, values, nnz_map, steps, first, out, img * nnz_map.size * hw, hw,
           lo, hi)


@njit(parallel=True, fastmath=False, cache=True)
def _spmm_chw(x, n_images, cin, hw, values, nnz_map, steps, first, out, mr, lo, hi, parallel):  # pragma: no cover
    n_strips = (hw + mr - 1) // mr
    if parallel:
        for t in prange(n_images * n_strips):
            _task(t, n_strips, x, cin, hw, values, nnz_map, steps, first, out, mr, lo, hi)
    else:  # the thread pool is woken only when the prange loop runs
        for t in range(n_images * n_strips):
            _task(t, n_strips, x, cin, hw, values, nnz_map, steps, first, out, mr, lo, hi)


def default_mr(cin: int, itemsize: int = 4) -> int:
    """Pixels per strip: the widest of 256, 128, ..., 8 whose input strip (Cin x mr) fits in 256 KiB.

    XNNPACK picks MR from 32/16/8/4/2/1 per ARM core, sized to its registers. Here the accumulators
    live in L1 and the strip of X, reused by every output channel, should stay in L2 (1 MiB per core
    on the EPYC this was tuned on): on 90%-sparse layers from (128, 3136) to (1024, 49) pixels, strips
    of 128-256 pixels ran 1.5-2x faster than 32 and 4-5x faster than 8 (measured under load).
    """
    for mr in (256, 128, 64, 32, 16):
        if cin * mr * itemsize <= 256 << 10:
            return mr
    return 8


def spmm_chw_packed(
    packed: XnnpackWeights,
    x: np.ndarray,
    lo: float = -np.inf,
    hi: float = np.inf,
    mr: int | None = None,
) -> np.ndarray:
    """Run the kernel on validated operands: ``x`` (N, Cin, HW) C-contiguous of the weights' dtype.

    Returns out (N, Cout, HW) = clamp(W x + b, lo, hi). No validation here: :func:`sparsehub_fast_sparse_convnets.spmm_chw`
    validates and calls this.
    """
    n_images, cin, hw = x.shape
    cout = packed.shape[0]
    out = np.empty((n_images, cout, hw), dtype=packed.dtype)
    if out.size == 0:
        return out
    mr = default_mr(cin, packed.dtype.itemsize) if mr is None else int(mr)
    steps = readonly(packed.channel_deltas.astype(np.int64) * hw)
    work = (packed.nnz + cout) * hw * n_images
    parallel = work >= PARALLEL_MIN_WORK and numba.get_num_threads() > 1
    _spmm_chw(readonly(x.reshape(-1)), n_images, cin, hw, packed.values, packed.nnz_map, steps,
              packed.first_channel * hw, out.reshape(-1), mr, packed.dtype.type(lo), packed.dtype.type(hi),
              parallel)
    return out


def spmm(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, int], B: np.ndarray
) -> np.ndarray:
    """``sparsehub.ops.spmm`` kernel (backend "numba", algorithm "chw-xnnpack"): A @ B as a CHW 1x1 conv.

    A (m, k) CSR is the weight (Cout = m, Cin = k), B (k, n) the input (Cin x HW, n pixels); no bias,
    no clamp. Packing costs one pass over A; use :func:`spmm_chw_packed` to pack once and reuse.
    Shapes: -> out (m, n), dtype of values.
    """
    packed = pack_csr_arrays(indptr, indices, values, np.zeros(shape[0], dtype=values.dtype), shape)
    if B.dtype != values.dtype:
        B = B.astype(values.dtype)
    return spmm_chw_packed(packed, np.ascontiguousarray(B).reshape(1, shape[1], B.shape[1]))[0]
