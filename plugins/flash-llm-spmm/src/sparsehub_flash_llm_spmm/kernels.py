"""The CPU kernel: load-as-sparse SpMM ``Y = W @ X`` straight from Tiled-CSL words (numba).

Flash-LLM's kernel loads each tile's compressed words, expands them into a dense tile in shared
memory and runs tensor-core MMA on it ("load as sparse, compute as dense"). Both halves are kept
where a CPU core can profit: the weights always cross the memory bus as 4-byte words (``4 * nnz``
bytes instead of ``4 * M * K`` for fp32 sgemm). For N = 1 the tile is expanded into a dense
32 KiB tile in L1 and multiplied with vector FMAs (compute as dense, wasting the zeros as the
paper does); for N > 1 a CPU has no tensor cores to absorb that waste (the brief measured a
literal compute-as-dense at 16-22 ms against 3.5 ms for dense sgemm), so each word is applied
directly as ``Y[r, :] += w * X[c, :]`` (compute as sparse). Accumulation is fp32.

Decoding fp16 without a scalar bitcast: the 15 magnitude bits shifted left by 13 are the float32
bit pattern of ``|w| * 2**-112`` (for normal and subnormal fp16 alike) and the sign bit moves to
bit 31; the pattern is written to a uint32 buffer, read back through its float32 view and
multiplied by ``2**112`` (folded into x on the dense-tile path). Non-finite fp16 values never
occur (the builder rejects them).

Parallelism: a ``prange`` over row panels (``tile_m`` output rows each), so threads never write
the same output; small products, and one-thread runs, stay on the calling thread (waking the
OpenMP pool costs more than they take).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from sparsehub.arrays import readonly

__all__ = ["PARALLEL_MIN_WORK", "spmm_tiles"]

_TWO_POW_112 = np.float32(2.0**112)

#: Below this many multiply-adds (stored words times columns of X) the kernel runs serially.
PARALLEL_MIN_WORK = 1 << 18


@njit(cache=True)
def _panel(i, words, word_start, ntk, tile_m, shift, X, out, cell):  # pragma: no cover - compiled
    # load as sparse, compute as sparse: each word adds w * X[c, :] to Y[r, :]. The fp16 bits
    # go through a one-element uint32 buffer read back as float32 (LLVM folds the pair into a
    # register bitcast); 2-D indexing, as a row view would cost a reference count per word.
    n = X.shape[1]
    as_float = cell.view(np.float32)
    mask = (1 << shift) - 1
    r0 = i * tile_m
    for j in range(ntk):
        t = i * ntk + j
        k0 = j << shift
        for q in range(word_start[t], word_start[t + 1]):
            w = words[q]
            cell[0] = ((w & np.uint32(0x7FFF)) << np.uint32(13)) | ((w & np.uint32(0x8000)) << np.uint32(16))
            v = as_float[0] * _TWO_POW_112
            loc = np.int64(w >> np.uint32(16))
            r = loc >> shift
            c = (loc & mask) ^ ((r & 7) << 3)
            for jn in range(n):
                out[r0 + r, jn] += v * X[k0 + c, jn]


@njit(cache=True, fastmath={"reassoc", "contract"})
def _tile_gemv(tile, xs, out, r0, tile_m, tile_k):  # pragma: no cover - compiled
    # dense tile (swizzled rows) times the 8 swizzled copies of the x slice; reassociation lets
    # the row dot products vectorise
    for r in range(tile_m):
        acc = np.float32(0.0)
        base = (r & 7) * tile_k
        row = r * tile_k
        for c in range(tile_k):
            acc += tile[row + c] * xs[base + c]
        out[r0 + r, 0] += acc


@njit(cache=True)
def _panel_vector(i, words, word_start, ntk, tile_m, tile_k, shift, X, out, bits, xs):  # pragma: no cover
    # N = 1: load as sparse, compute as dense, the paper's scheme at the scale of a CPU core:
    # scatter the tile's words into a zeroed dense tile at their swizzled locations, multiply
    # the whole tile (one pass of vector FMAs over 32 KiB in L1), then zero the touched slots.
    # The 2**112 of the fp16 decode is folded into the x slice.
    tile = bits.view(np.float32)
    r0 = i * tile_m
    for j in range(ntk):
        t = i * ntk + j
        start, stop = word_start[t], word_start[t + 1]
        if start == stop:
            continue
        for q in range(start, stop):
            w = words[q]
            bits[w >> np.uint32(16)] = ((w & np.uint32(0x7FFF)) << np.uint32(13)) | \
                ((w & np.uint32(0x8000)) << np.uint32(16))
        k0 = j * tile_k
        for s in range(8):
            for c in range(tile_k):
                xs[s * tile_k + c] = X[k0 + (c ^ (s << 3)), 0] * _TWO_POW_112
        _tile_gemv(tile, xs, out, r0, tile_m, tile_k)
        if 8 * (stop - start) > bits.size:  # a vector memset beats that many scattered stores
            bits[:] = 0
        else:
            for q in range(start, stop):
                bits[words[q] >> np.uint32(16)] = 0


@njit(parallel=True, cache=True)
def _panels(words, word_start, ntm, ntk, tile_m, tile_k, shift, X, out, parallel, dense_tile):  # pragma: no cover
    if parallel:
        for i in prange(ntm):
            bits = np.zeros(tile_m * tile_k, np.uint32)
            if dense_tile:
                _panel_vector(i, words, word_start, ntk, tile_m, tile_k, shift, X, out, bits,
                              np.empty(8 * tile_k, np.float32))
            else:
                _panel(i, words, word_start, ntk, tile_m, shift, X, out, bits[:1])
    else:  # the thread pool is woken only when the prange loop runs
        bits = np.zeros(tile_m * tile_k, np.uint32)
        xs = np.empty(8 * tile_k, np.float32)
        for i in range(ntm):
            if dense_tile:
                _panel_vector(i, words, word_start, ntk, tile_m, tile_k, shift, X, out, bits, xs)
            else:
                _panel(i, words, word_start, ntk, tile_m, shift, X, out, bits[:1])


def spmm_tiles(
    words: np.ndarray,
    word_start: np.ndarray,
    grid: tuple[int, int],
    tile_m: int,
    tile_k: int,
    X: np.ndarray,
    threads: int | None = None,
) -> np.ndarray:
    """``Y = W @ X`` for W in Tiled-CSL words, X float32 C-contiguous with ``grid[1] * tile_k`` rows.

    Returns the padded float32 output ``(grid[0] * tile_m, n)``; the caller slices off the rows
    past M. ``threads=None`` uses numba's thread count when the product is large enough.
    """
    ntm, ntk = grid
    out = np.zeros((ntm * tile_m, X.shape[1]), np.float32)
    if words.size and X.shape[1]:
        work = words.size * X.shape[1]
        nthreads = numba.get_num_threads() if threads is None else threads
        parallel = nthreads > 1 and work >= PARALLEL_MIN_WORK and ntm > 1
        # the dense tile multiplies stored zeros by x: only safe when x is finite (0 * inf = nan)
        dense_tile = X.shape[1] == 1 and bool(np.isfinite(X).all())
        _panels(readonly(words), readonly(word_start), ntm, ntk, tile_m, tile_k,
                int(tile_k).bit_length() - 1, readonly(X), out, parallel, dense_tile)
    return out
