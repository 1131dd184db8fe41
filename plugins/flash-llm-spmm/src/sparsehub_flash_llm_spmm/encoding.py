"""The numba encoder and decoder of Tiled-CSL (Flash-LLM, Section 4.3 and ``InitSparseMatrixA_API``).

A Tiled-CSL word is one 32-bit integer: the fp16 bits of a non-zero in the low half and its
16-bit in-tile location ``row * tile_k + (col XOR ((row mod 8) * 8))`` in the high half. The XOR
swizzle is the paper's bank-conflict-free shared-memory layout: eight consecutive rows of a tile
start their 8-column groups in eight different banks. The functions here work on plain arrays;
:mod:`.tiled_csl` validates inputs and wraps the result.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Banks of GPU shared memory, each 4 bytes wide (two fp16 values per bank).
BANKS = 32
#: Lanes of a GPU warp: the reordering makes the 32 lanes of one load write 32 different banks.
WARP = 32


@njit(cache=True)
def location(row, col, tile_k):  # pragma: no cover - compiled
    """The swizzled 16-bit in-tile location of in-tile ``(row, col)``."""
    return row * tile_k + (col ^ ((row & 7) << 3))


@njit(cache=True)
def tile_counts(indptr, indices, halves, rows, tile_m, tile_k, ntk):  # pragma: no cover - compiled
    """Non-zeros (fp16 values that are not +-0) per tile, tiles numbered panel-major."""
    ntm = (rows + tile_m - 1) // tile_m
    counts = np.zeros(ntm * ntk, np.int64)
    for r in range(rows):
        base = (r // tile_m) * ntk
        for p in range(indptr[r], indptr[r + 1]):
            if halves[p] & 0x7FFF:
                counts[base + indices[p] // tile_k] += 1
    return counts


@njit(cache=True)
def _pad_tile(words, start, cursor, stop, occupied, tile_m, tile_k, rows_valid, cols_valid):  # pragma: no cover
    # Explicit zeros fill the tile up to a multiple of the vector width, at free positions:
    # inside the matrix first, then (only for a ragged edge tile too full to hold them) in
    # the part of the tile beyond the matrix, whose operand rows the kernels zero-pad.
    for inside in (True, False):
        for r in range(tile_m):
            for c in range(tile_k):
                if cursor == stop:
                    return cursor
                if (r < rows_valid and c < cols_valid) != inside:
                    continue
                loc = location(r, c, tile_k)
                if not occupied[loc]:
                    occupied[loc] = True
                    words[cursor] = np.uint32(loc) << np.uint32(16)
                    cursor += 1
    return cursor


@njit(cache=True)
def _max_bank(sizes):  # pragma: no cover - compiled
    best = 0
    for b in range(1, BANKS):
        if sizes[b] > sizes[best]:
            best = b
    return best


@njit(cache=True)
def _shuffle_tile(words, start, stop, vector, out):  # pragma: no cover - compiled
    # The official reordering: words are grouped by the shared-memory bank their location falls
    # in, then taken greedily from the fullest bank, so that the 32 lanes of each vector load
    # scatter into (as far as the tile allows) 32 different banks. The first picks form the
    # tail (the vectors left over after whole warps), the rest the main part; each lane's list
    # is written back last-picked-first, as the official builder pops its vectors.
    n = stop - start
    bank_of = np.empty(n, np.int64)
    sizes = np.zeros(BANKS, np.int64)
    for q in range(n):
        b = ((words[start + q] >> np.uint32(16)) // 2) % BANKS
        bank_of[q] = b
        sizes[b] += 1
    first = np.zeros(BANKS + 1, np.int64)
    for b in range(BANKS):
        first[b + 1] = first[b] + sizes[b]
    grouped = np.empty(n, np.uint32)
    fill = first[:BANKS].copy()
    for q in range(n):
        grouped[fill[bank_of[q]]] = words[start + q]
        fill[bank_of[q]] += 1
    picks = np.empty(n, np.uint32)
    for s in range(n):  # pop the back of the fullest bank
        b = _max_bank(sizes)
        sizes[b] -= 1
        picks[s] = grouped[first[b] + sizes[b]]
    vectors = n // vector
    whole, tail = vectors // WARP, vectors % WARP
    rounds = whole * vector  # (repeat, v) rounds of the main part
    for r in range(whole):
        for v in range(vector):
            q = r * vector + v
            for b in range(WARP):
                out[start + r * vector * WARP + b * vector + v] = picks[tail * vector + (rounds - 1 - q) * WARP + b]
    base = start + whole * vector * WARP
    for v in range(vector):
        for b in range(tail):
            out[base + b * vector + v] = picks[(vector - 1 - v) * tail + b]


@njit(parallel=True, cache=True)
def encode(indptr, indices, halves, rows, cols, tile_m, tile_k, vector, word_start, shuffle):  # pragma: no cover
    """Fill the Tiled-CSL words of every tile; ``word_start`` (n_tiles + 1,) is each tile's first word.

    Within a tile the non-zeros come in row-major order followed by the padding zeros, unless
    ``shuffle`` applies the paper's bank-conflict-avoiding reorder.
    """
    ntk = (cols + tile_k - 1) // tile_k
    ntm = (rows + tile_m - 1) // tile_m
    words = np.zeros(word_start[-1], np.uint32)
    out = np.empty_like(words) if shuffle else words
    for i in prange(ntm):
        cursor = word_start[i * ntk:(i + 1) * ntk].copy()
        occupied = np.zeros(tile_m * tile_k, np.bool_)
        r0 = i * tile_m
        for r in range(r0, min(r0 + tile_m, rows)):
            for p in range(indptr[r], indptr[r + 1]):
                h = halves[p]
                if h & 0x7FFF:
                    c = indices[p]
                    j = c // tile_k
                    loc = location(r - r0, c - j * tile_k, tile_k)
                    words[cursor[j]] = (np.uint32(loc) << np.uint32(16)) | np.uint32(h)
                    cursor[j] += 1
        for j in range(ntk):
            t = i * ntk + j
            start, stop = word_start[t], word_start[t + 1]
            if cursor[j] < stop:
                occupied[:] = False
                for q in range(start, cursor[j]):
                    occupied[words[q] >> np.uint32(16)] = True
                _pad_tile(words, start, cursor[j], stop, occupied, tile_m, tile_k,
                          min(tile_m, rows - r0), min(tile_k, cols - j * tile_k))
            if shuffle:
                _shuffle_tile(words, start, stop, vector, out)
    return out


@njit(cache=True)
def decode(words, word_start, rows, cols, tile_m, tile_k):  # pragma: no cover - compiled
    """Every stored word as ``(row, col, fp16 bits)`` in global coordinates, padding included."""
    ntk = (cols + tile_k - 1) // tile_k
    n = words.size
    row = np.empty(n, np.int64)
    col = np.empty(n, np.int64)
    half = np.empty(n, np.uint16)
    for t in range(word_start.size - 1):
        r0 = (t // ntk) * tile_m
        k0 = (t % ntk) * tile_k
        for q in range(word_start[t], word_start[t + 1]):
            w = words[q]
            loc = np.int64(w >> np.uint32(16))
            r = loc // tile_k
            row[q] = r0 + r
            col[q] = k0 + ((loc % tile_k) ^ ((r & 7) << 3))
            half[q] = np.uint16(w & np.uint32(0xFFFF))
    return row, col, half
