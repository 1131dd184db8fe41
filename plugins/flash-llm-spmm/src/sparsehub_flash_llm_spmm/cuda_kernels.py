"""The GPU kernel: load as sparse, compute as dense (numba.cuda; Flash-LLM Section 4.2).

One thread block per (row panel, block of ``COLS`` columns of X). For each tile of its panel the
block (1) zeroes a dense ``tile_m x tile_k`` fp32 tile in shared memory, (2) lets its threads
scatter the tile's Tiled-CSL words into it at their swizzled locations ("load as sparse": only
``4 * nnz`` bytes of W leave global memory) and stages the matching rows of X in shared memory,
then (3) multiplies the dense tile by them, thread r owning output row r and reading column c
of the tile at ``c XOR ((r mod 8) * 8)`` ("compute as dense", on CUDA cores here: numba.cuda
has no tensor-core MMA, which the paper's kernel uses). Accumulation is fp32.

The paper's two-stage pipeline (cp.async prefetch of the next tile overlapping the current MMA)
and split-K are not implemented. Numpy in, numpy out: transfers are part of the call. The
tests run this code under ``NUMBA_ENABLE_CUDASIM=1``; GPU timings are still to be measured.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32

__all__ = ["COLS", "spmm_tiles_cuda"]

#: Columns of X per thread block (each thread keeps this many fp32 accumulators).
COLS = 8
_MAX_TILE = 128 * 64  # shared-memory tile: 32 KiB of fp32


@cuda.jit(device=True)
def _fp16_to_float(h):  # pragma: no cover - compiled for the GPU
    # fp16 = (-1)^s * 2^(e - 15) * (1 + m / 1024), or 2^-14 * m / 1024 when e == 0; finite only
    bits = int(h)
    exponent = (bits >> 10) & 0x1F
    mantissa = bits & 0x3FF
    if exponent == 0:
        value = math.ldexp(float32(mantissa), -24)
    else:
        value = math.ldexp(float32(mantissa + 1024), exponent - 25)
    return -value if bits & 0x8000 else value


@cuda.jit
def _spmm_tiled_csl(words, word_start, ntk, tile_m, tile_k, X, out):  # pragma: no cover - compiled
    tile = cuda.shared.array(_MAX_TILE, float32)
    xs = cuda.shared.array((256, COLS), float32)
    acc = cuda.local.array(COLS, float32)
    panel = cuda.blockIdx.x
    col0 = cuda.blockIdx.y * COLS
    tid = cuda.threadIdx.x
    width = cuda.blockDim.x
    ncols = min(COLS, X.shape[1] - col0)
    for u in range(COLS):
        acc[u] = 0.0
    for j in range(ntk):
        t = panel * ntk + j
        for p in range(tid, tile_m * tile_k, width):
            tile[p] = 0.0
        for p in range(tid, tile_k * COLS, width):
            c, u = p // COLS, p % COLS
            xs[c, u] = X[j * tile_k + c, col0 + u] if u < ncols else 0.0
        cuda.syncthreads()
        for q in range(word_start[t] + tid, word_start[t + 1], width):
            w = words[q]
            tile[int(w) >> 16] = _fp16_to_float(int(w) & 0xFFFF)
        cuda.syncthreads()
        for r in range(tid, tile_m, width):
            swizzle = (r & 7) << 3
            for c in range(tile_k):
                a = tile[r * tile_k + (c ^ swizzle)]
                for u in range(COLS):
                    acc[u] += a * xs[c, u]
        cuda.syncthreads()
    r = tid
    if r < tile_m:
        for u in range(ncols):
            out[panel * tile_m + r, col0 + u] = acc[u]


def spmm_tiles_cuda(
    words: np.ndarray, word_start: np.ndarray, grid: tuple[int, int], tile_m: int, tile_k: int, X: np.ndarray
) -> np.ndarray:
    """``Y = W @ X`` on the GPU for W in Tiled-CSL words; X float32 with ``grid[1] * tile_k`` rows.

    Needs ``tile_m * tile_k <= 8192`` and ``tile_k <= 256`` (the shared tile and X stage) and one
    thread per tile row, so ``tile_m <= 1024``. Returns the padded (grid[0] * tile_m, n) float32 output.
    """
    from sparsehub.errors import bad_value

    ntm, ntk = grid
    if tile_m * tile_k > _MAX_TILE or tile_k > 256:
        raise bad_value("tile_m * tile_k", tile_m * tile_k,
                        f"at most {_MAX_TILE} with tile_k <= 256 for the cuda kernel's shared-memory tile")
    n = X.shape[1]
    if ntm == 0 or n == 0:
        return np.zeros((ntm * tile_m, n), np.float32)
    d_out = cuda.to_device(np.zeros((ntm * tile_m, n), np.float32))
    blocks = (ntm, -(-n // COLS))
    _spmm_tiled_csl[blocks, tile_m](
        cuda.to_device(np.ascontiguousarray(words)),
        cuda.to_device(np.ascontiguousarray(word_start)),
        ntk, tile_m, tile_k,
        cuda.to_device(np.ascontiguousarray(X, dtype=np.float32)),
        d_out,
    )
    return d_out.copy_to_host()
