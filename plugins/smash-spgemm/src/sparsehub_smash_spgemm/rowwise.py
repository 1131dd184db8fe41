"""Row-wise (Gustavson) SpGEMM with hash-table accumulation: SMASH's dataflow on a CPU (numba).

Row i of C = sum over stored a_ik of a_ik * (row k of B) (thesis ch. 5, "row-wise product").
Every partial product a_ik * b_kj is merged the moment it is made by hashing its column j into a
scratchpad table (open addressing, linear probing, multiplicative hash ``j * 107 mod 2^p`` as in
Nagasaka's hash SpGEMM), so no partial-product matrix is ever written. A CPU core owns whole rows,
so the paper's atomic compare-and-swap is a plain compare-and-store here; each thread keeps one
preallocated table and clears only the slots the last row touched.

Phases, as in SMASH V1: (a) window distribution: the per-row bound ub_i = sum_k nnz(B_k) is
computed and consecutive rows are handed to threads in ranges of equal total ub; (b) hashing;
(c) write-back: the touched slots are walked, entries summing to exactly 0 are dropped (as
scipy does), counts are prefix-summed and the rows compacted. One pass writes each row into an
upper-bound buffer of size ub_i; two passes first count the distinct columns of each row
(symbolic) and then write into exactly sized arrays (numeric). A row whose table would exceed the
``window`` capacity (sized by :func:`table_size`) is accumulated in a dense array of length n instead.

With ``sort_indices`` each row is sorted during write-back by merging its sorted runs (one per
B row). Summation order is scipy's (A's stored order, then B's), so results are bit-identical
to ``scipy.sparse`` after sorting both. Offsets into the buffers are int64 (flops can exceed 2^31).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from sparsehub.arrays import readonly

__all__ = [
    "HASH_MULTIPLIER",
    "TABLE_FACTOR",
    "assemble",
    "hash_spgemm",
    "hash_spgemm_two_pass",
    "index_dtype",
    "readonly_all",
    "row_upper_bounds",
    "sort_rows",
    "spa_spgemm",
    "symbolic",
    "table_size",
    "thread_ranges",
]

#: The multiplicative hash constant of Nagasaka et al.'s hash SpGEMM (and KokkosKernels).
HASH_MULTIPLIER = 107
#: Below this many partial products the kernels run on the calling thread (waking the OpenMP
#: pool costs 1.5-5 ms on this machine, more than the whole product).
PARALLEL_MIN_FLOPS = 1 << 17
_INT32_MAX = np.iinfo(np.int32).max
#: Table slots per partial product of the row (load <= 1/8). The brief's load 0.5 measured 1.5x
#: slower at 20,000 x 20,000 with 8 non-zeros per row: at 8 nnz/row almost every product is a
#: new column, and a sparser table makes "slot empty" the predictable branch.
TABLE_FACTOR = 8


def readonly_all(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Read-only views (no copy) of a kernel's inputs, so numba compiles one version per dtype."""
    return tuple(map(readonly, arrays))


def index_dtype(largest: int) -> np.dtype:
    """int32 when every value up to ``largest`` fits in it, else int64 (the overflow decision).

    Applied to nnz(C) for indptr, to n for column indices and, inside the kernels, to the flops
    count sum_i ub_i (always int64 there). No array is allocated, so tests can ask about 2^31.
    """
    if largest < 0:
        raise ValueError(f"largest={largest!r} is not allowed: expected a non-negative count")
    return np.dtype(np.int32) if largest <= _INT32_MAX else np.dtype(np.int64)


def table_size(ub: int, n_cols: int) -> int:
    """Slots of a row's hash table: the next power of two >= min(TABLE_FACTOR * ub, 2 * n_cols), >= 8.

    The load on the distinct columns of the row is then at most 1 / TABLE_FACTOR, or 0.5 when
    the row can hit at most n_cols columns.
    """
    need = min(TABLE_FACTOR * max(1, int(ub)), 2 * max(1, int(n_cols)))
    return max(8, 1 << (need - 1).bit_length())


@njit(cache=True)
def _ub(a_indptr, a_indices, b_indptr, ub):  # pragma: no cover - compiled
    for i in range(ub.shape[0]):
        s = 0
        for p in range(a_indptr[i], a_indptr[i + 1]):
            k = a_indices[p]
            s += b_indptr[k + 1] - b_indptr[k]
        ub[i] = s


def row_upper_bounds(a_indptr: np.ndarray, a_indices: np.ndarray, b_indptr: np.ndarray) -> np.ndarray:
    """ub_i = sum over stored a_ik of nnz(B_k): the partial products of row i (int64, shape (m,)).

    ``ub.sum()`` is the flops count (multiplications) of C = A @ B; ub_i bounds nnz(C_i).
    """
    ub = np.empty(len(a_indptr) - 1, dtype=np.int64)
    _ub(*readonly_all(a_indptr, a_indices, b_indptr), ub)
    return ub


def thread_ranges(ub: np.ndarray, parts: int) -> np.ndarray:
    """Row bounds (parts + 1,) cutting rows into consecutive ranges of about equal total ub.

    SMASH phase (a): windows of consecutive rows handed to cores, balanced by partial products.
    """
    m = len(ub)
    if parts <= 1 or m == 0:
        return np.array([0, m], dtype=np.int64)
    cum = np.cumsum(ub)
    total = cum[-1] if m else 0
    targets = (np.arange(1, parts, dtype=np.float64) * total) / parts
    cuts = np.searchsorted(cum, targets, side="left") + 1
    return np.concatenate(([0], np.minimum(cuts, m), [m])).astype(np.int64)


@njit(cache=True)
def _pow2_table(ub, n, window):  # pragma: no cover - compiled
    # the table_size() rule; 0 means "use the dense accumulator" (table above the window)
    need = min(TABLE_FACTOR * max(1, ub), 2 * max(1, n))
    size = 8
    while size < need:
        size *= 2
    return size if size <= window else 0


@njit(cache=True)
def _scratch_sizes(r0, r1, ub, n, window):  # pragma: no cover - compiled
    # one thread's scratchpad: the largest table its rows need, the longest touched list, and
    # whether any row falls back to the dense accumulator
    big_table, big_ub, need_dense = 8, 1, False
    for i in range(r0, r1):
        s = _pow2_table(ub[i], n, window)
        if s == 0:
            need_dense = True
        else:
            big_table = max(big_table, s)
        big_ub = max(big_ub, min(ub[i], n))
    return big_table, big_ub, need_dense


@njit(cache=True)
def _dense_row_numeric(i, a_indptr, a_indices, a_values, b_indptr, b_indices, b_values,
                       acc, seen, touched, out_idx, out_val, start, sort):  # pragma: no cover
    # the sparse accumulator (SPA): a dense array of length n, cleared by touched columns
    nt = 0
    for p in range(a_indptr[i], a_indptr[i + 1]):
        k = a_indices[p]
        a = a_values[p]
        for q in range(b_indptr[k], b_indptr[k + 1]):
            c = b_indices[q]
            if not seen[c]:
                seen[c] = True
                acc[c] = 0
                touched[nt] = c
                nt += 1
            acc[c] += a * b_values[q]
    if sort:
        touched[:nt].sort()  # the touched list holds the columns themselves
    cnt = 0
    for t in range(nt):
        c = touched[t]
        v = acc[c]
        if v != 0:
            out_idx[start + cnt] = c
            out_val[start + cnt] = v
            cnt += 1
        seen[c] = False
    return cnt


@njit(cache=True)
def _merge_runs(buf, tmp, runs, nr, nt):  # pragma: no cover - compiled
    # Bottom-up merge of the ascending runs buf[runs[r]:runs[r + 1]] (runs[nr] = nt), ping-ponging
    # between buf and tmp; returns the array that holds the sorted result.
    src, dst = buf, tmp
    while nr > 1:
        w = 0
        r = 0
        while r < nr:
            lo = runs[r]
            if r + 1 >= nr:  # an odd run out: copy it over
                for t in range(lo, runs[r + 1]):
                    dst[t] = src[t]
                runs[w] = lo
                w += 1
                break
            mid, hi = runs[r + 1], runs[r + 2]
            p, q, o = lo, mid, lo
            while p < mid and q < hi:
                if src[q] < src[p]:
                    dst[o] = src[q]
                    q += 1
                else:
                    dst[o] = src[p]
                    p += 1
                o += 1
            while p < mid:
                dst[o] = src[p]
                p += 1
                o += 1
            while q < hi:
                dst[o] = src[q]
                q += 1
                o += 1
            runs[w] = lo
            w += 1
            r += 2
        runs[w] = nt
        nr = w
        src, dst = dst, src
    return src


@njit(cache=True)
def _numeric_range(r0, r1, a_indptr, a_indices, a_values, b_indptr, b_indices, b_values, n, ub,
                   window, base, out_idx, out_val, counts, sort):  # pragma: no cover - compiled
    # One thread's rows: one hash table sized for its largest row, one dense accumulator if
    # needed. Rows are written back to back from ``base`` (the thread's output fragment), so
    # only whole fragments, not rows, move when the result is compacted. With ``sort`` each
    # row's touched slots are sorted by column before write-back, while they sit in L1: the
    # key (column << 32 | slot) is one int64, so one in-place sort of the row's slots suffices.
    big_table, big_ub, need_dense = _scratch_sizes(r0, r1, ub, n, window)
    keys = np.empty(big_table, dtype=b_indices.dtype)
    keys[:] = -1
    vals = np.zeros(big_table, dtype=out_val.dtype)
    touched = np.empty(big_ub, dtype=np.int64)
    merged = np.empty(big_ub if sort else 0, dtype=np.int64)
    runs = np.empty(big_ub + 2 if sort else 0, dtype=np.int64)
    acc = np.zeros(n if need_dense else 0, dtype=out_val.dtype)
    seen = np.zeros(n if need_dense else 0, dtype=np.bool_)
    pos = base
    for i in range(r0, r1):
        size = _pow2_table(ub[i], n, window)
        if size == 0:
            cnt = _dense_row_numeric(i, a_indptr, a_indices, a_values, b_indptr, b_indices,
                                     b_values, acc, seen, touched, out_idx, out_val, pos, sort)
            counts[i] = cnt
            pos += cnt
            continue
        # the hash row, written out here rather than called: measured 1.3-1.7x faster
        mask = size - 1
        nt = 0
        nr = 0
        for p in range(a_indptr[i], a_indptr[i + 1]):
            k = a_indices[p]
            a = a_values[p]
            if sort and (nr == 0 or runs[nr - 1] < nt):
                # a B row's new columns arrive in ascending order: one sorted run per B row
                runs[nr] = nt
                nr += 1
            for q in range(b_indptr[k], b_indptr[k + 1]):
                c = b_indices[q]
                h = (c * HASH_MULTIPLIER) & mask
                while True:
                    key = keys[h]
                    if key == -1:  # checked first: the likely case at load <= 1/8
                        keys[h] = c
                        # x, where scipy stores 0 + x: equal except -0.0 vs +0.0, both dropped
                        vals[h] = a * b_values[q]
                        touched[nt] = h
                        nt += 1
                        break
                    if key == c:
                        vals[h] += a * b_values[q]
                        break
                    h = (h + 1) & mask
        order = touched
        if sort and nt > 1:
            for t in range(nt):
                touched[t] |= np.int64(keys[touched[t]]) << 32
            if nr > 0 and runs[nr - 1] == nt:  # the last B row added no new column
                nr -= 1
            runs[nr] = nt
            in_order = True  # each run ascending? (B rows sorted, as the kernel contract says)
            for r in range(nr):
                for t in range(runs[r] + 1, runs[r + 1]):
                    if touched[t] < touched[t - 1]:
                        in_order = False
            if in_order:
                order = _merge_runs(touched, merged, runs, nr, nt)
            else:  # unsorted B rows: no runs to merge
                touched[:nt].sort()
        cnt = 0
        for t in range(nt):
            h = order[t] & 0xFFFFFFFF
            v = vals[h]
            if v != 0:
                out_idx[pos + cnt] = keys[h]
                out_val[pos + cnt] = v
                cnt += 1
            keys[h] = -1
        counts[i] = cnt
        pos += cnt


@njit(parallel=True, cache=True)
def _numeric(bounds, a_indptr, a_indices, a_values, b_indptr, b_indices, b_values, n, ub, window,
             bases, out_idx, out_val, counts, sort, parallel):  # pragma: no cover - compiled
    parts = bounds.shape[0] - 1
    if parallel:
        for t in prange(parts):
            _numeric_range(bounds[t], bounds[t + 1], a_indptr, a_indices, a_values, b_indptr,
                           b_indices, b_values, n, ub, window, bases[t], out_idx, out_val, counts, sort)
    else:  # the thread pool is woken only when the prange loop runs
        for t in range(parts):
            _numeric_range(bounds[t], bounds[t + 1], a_indptr, a_indices, a_values, b_indptr,
                           b_indices, b_values, n, ub, window, bases[t], out_idx, out_val, counts, sort)


@njit(cache=True)
def _dense_row_symbolic(i, a_indptr, a_indices, b_indptr, b_indices, seen, touched,
                        probes):  # pragma: no cover - compiled
    nt = 0
    for p in range(a_indptr[i], a_indptr[i + 1]):
        k = a_indices[p]
        for q in range(b_indptr[k], b_indptr[k + 1]):
            c = b_indices[q]
            if not seen[c]:
                seen[c] = True
                touched[nt] = c
                nt += 1
    for t in range(nt):
        seen[touched[t]] = False
    probes[i] = 0  # direct indexing: no table probes
    return nt


@njit(cache=True)
def _symbolic_range(r0, r1, a_indptr, a_indices, b_indptr, b_indices, n, ub, window,
                    counts, probes):  # pragma: no cover - compiled
    # pass 1 of 2: distinct columns per row, same tables and dense fallback as the numeric pass;
    # probes[i] counts the slots inspected (for traffic_model)
    big_table, big_ub, need_dense = _scratch_sizes(r0, r1, ub, n, window)
    keys = np.empty(big_table, dtype=b_indices.dtype)
    keys[:] = -1
    touched = np.empty(big_ub, dtype=np.int64)
    seen = np.zeros(n if need_dense else 0, dtype=np.bool_)
    for i in range(r0, r1):
        size = _pow2_table(ub[i], n, window)
        if size == 0:
            counts[i] = _dense_row_symbolic(i, a_indptr, a_indices, b_indptr, b_indices, seen, touched,
                                            probes)
            continue
        mask = size - 1  # written out here, not called, as in the numeric pass
        nt = 0
        looked = 0
        for p in range(a_indptr[i], a_indptr[i + 1]):
            k = a_indices[p]
            for q in range(b_indptr[k], b_indptr[k + 1]):
                c = b_indices[q]
                h = (c * HASH_MULTIPLIER) & mask
                while True:
                    looked += 1
                    key = keys[h]
                    if key == -1:
                        keys[h] = c
                        touched[nt] = h
                        nt += 1
                        break
                    if key == c:
                        break
                    h = (h + 1) & mask
        for t in range(nt):
            keys[touched[t]] = -1
        probes[i] = looked
        counts[i] = nt


@njit(parallel=True, cache=True)
def _symbolic(bounds, a_indptr, a_indices, b_indptr, b_indices, n, ub, window, counts, probes,
              parallel):  # pragma: no cover - compiled
    parts = bounds.shape[0] - 1
    if parallel:
        for t in prange(parts):
            _symbolic_range(bounds[t], bounds[t + 1], a_indptr, a_indices, b_indptr, b_indices, n,
                            ub, window, counts, probes)
    else:
        for t in range(parts):
            _symbolic_range(bounds[t], bounds[t + 1], a_indptr, a_indices, b_indptr, b_indices, n,
                            ub, window, counts, probes)


def symbolic(a_indptr: np.ndarray, a_indices: np.ndarray, b_indptr: np.ndarray, b_indices: np.ndarray,
             n_cols: int, window: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The symbolic pass alone: ``(ub, nnz per row of C, probes per row)``, all int64 of shape (m,).

    nnz counts distinct columns, entries that later cancel to 0 included; probes counts the
    hash-table slots inspected (each partial product probes at least once).
    """
    a_indptr, a_indices, b_indptr, b_indices = readonly_all(a_indptr, a_indices, b_indptr, b_indices)
    ub = row_upper_bounds(a_indptr, a_indices, b_indptr)
    counts, probes = np.zeros_like(ub), np.zeros_like(ub)
    bounds = thread_ranges(ub, 1)
    _symbolic(bounds, a_indptr, a_indices, b_indptr, b_indices, int(n_cols), ub, _check_window(window),
              counts, probes, False)
    return ub, counts, probes


_SHELL_GAPS = np.array([1750, 701, 301, 132, 57, 23, 10, 4, 1], dtype=np.int64)  # Ciura's gaps


@njit(cache=True)
def _sort_range(r0, r1, indptr, idx, val, gaps):  # pragma: no cover - compiled
    # Shell sort of each row by column, carrying the values: in place, no allocation per row
    # (np.argsort per row cost 3x more on rows of ~64 entries); rows over 4096 use argsort.
    for i in range(r0, r1):
        lo, hi = indptr[i], indptr[i + 1]
        length = hi - lo
        if length > 4096:
            order = np.argsort(idx[lo:hi])
            seg_i = idx[lo:hi][order]
            seg_v = val[lo:hi][order]
            idx[lo:hi] = seg_i
            val[lo:hi] = seg_v
            continue
        for g in gaps:
            if g >= length:
                continue
            for a in range(lo + g, hi):
                ki, kv = idx[a], val[a]
                b = a
                while b - g >= lo and idx[b - g] > ki:
                    idx[b] = idx[b - g]
                    val[b] = val[b - g]
                    b -= g
                idx[b] = ki
                val[b] = kv


@njit(parallel=True, cache=True)
def _sort_rows(bounds, indptr, idx, val, parallel):  # pragma: no cover - compiled
    parts = bounds.shape[0] - 1
    if parallel:
        for t in prange(parts):
            _sort_range(bounds[t], bounds[t + 1], indptr, idx, val, _SHELL_GAPS)
    else:
        for t in range(parts):
            _sort_range(bounds[t], bounds[t + 1], indptr, idx, val, _SHELL_GAPS)


def _parallel(flops: int) -> bool:
    return flops >= PARALLEL_MIN_FLOPS and numba.get_num_threads() > 1


def sort_rows(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray) -> None:
    """Sort each CSR row's column indices (and values with them) in place; rows hold distinct columns.

    For results computed with ``sort_indices=False`` (Shell sort per row, in parallel).
    """
    if indices.size:
        parallel = _parallel(indices.size * 8)
        counts = np.diff(indptr).astype(np.int64)
        bounds = thread_ranges(counts, numba.get_num_threads() if parallel else 1)
        _sort_rows(bounds, indptr, indices, values, parallel)


def _check_window(window: int | None) -> int:
    if window is None:
        return 1 << 62
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 8 \
            or window & (window - 1):
        raise ValueError(
            f"window={window!r} is not allowed: expected None or a power of two >= 8 (table slots)"
        )
    return int(window)


@njit(cache=True)
def _move_down(src, dst, lengths, idx, val):  # pragma: no cover - compiled
    # fragments in order, each copied forward; dst <= src, so nothing unread is overwritten
    for f in range(src.shape[0]):
        s, d = src[f], dst[f]
        if s != d:
            for t in range(lengths[f]):
                idx[d + t] = idx[s + t]
                val[d + t] = val[s + t]


def assemble(bounds: np.ndarray, bases: np.ndarray, counts: np.ndarray, buf_idx: np.ndarray,
             buf_val: np.ndarray, n_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Write-back (SMASH phase c): CSR arrays from per-thread output fragments.

    Thread t wrote its rows ``bounds[t]:bounds[t + 1]`` back to back from ``bases[t]`` of the
    buffers; row i holds ``counts[i]`` entries. Each fragment moves down to its final place,
    left to right, so it only overwrites space already emptied. ``bounds = arange(m + 1)`` and
    ``bases`` = row offsets compact row by row.
    indptr is int32 unless nnz(C) or n_cols needs int64; indices share its dtype.
    """
    nnz = int(counts.sum())
    indptr = np.zeros(len(counts) + 1, dtype=index_dtype(max(nnz, n_cols)))
    np.cumsum(counts, out=indptr[1:])
    src, dst = np.asarray(bases[:-1], dtype=np.int64), indptr[bounds[:-1]].astype(np.int64)
    if nnz and np.any(src != dst):
        _move_down(src, dst, (indptr[bounds[1:]] - indptr[bounds[:-1]]).astype(np.int64), buf_idx, buf_val)
    if 2 * nnz < len(buf_idx):  # release the upper-bound buffers when they are mostly unused
        indices, values = buf_idx[:nnz].copy(), buf_val[:nnz].copy()
    else:
        indices, values = buf_idx[:nnz], buf_val[:nnz]
    if indices.dtype != indptr.dtype:
        indices = indices.astype(indptr.dtype)
    return indptr, indices, values


def _gustavson(a_indptr, a_indices, a_values, a_shape, b_indptr, b_indices, b_values, b_shape,
               *, passes: int, win: int, sort_indices: bool):
    """Shared driver of the hash and dense-accumulator kernels (``win`` = 0: dense only)."""
    if passes not in (1, 2):
        raise ValueError(f"passes={passes!r} is not allowed: expected 1 (upper-bound buffers) or 2")
    m, n = int(a_shape[0]), int(b_shape[1])
    dtype = np.result_type(a_values.dtype, b_values.dtype)
    a_values, b_values = a_values.astype(dtype, copy=False), b_values.astype(dtype, copy=False)
    a_indptr, a_indices, a_values, b_indptr, b_indices, b_values = readonly_all(
        a_indptr, a_indices, a_values, b_indptr, b_indices, b_values
    )
    col_dtype = index_dtype(max(n - 1, 0))
    ub = row_upper_bounds(a_indptr, a_indices, b_indptr)
    flops = int(ub.sum())
    parallel = _parallel(flops)
    bounds = thread_ranges(ub, numba.get_num_threads() if parallel else 1)
    counts = np.zeros(m, dtype=np.int64)
    if passes == 1:  # upper-bound buffers: row i may need ub_i entries
        offsets = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(ub, out=offsets[1:])
    else:  # symbolic pass: exact row sizes
        sym, probes = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64)
        _symbolic(bounds, a_indptr, a_indices, b_indptr, b_indices, n, ub, win, sym, probes, parallel)
        offsets = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(sym, out=offsets[1:])
    size = int(offsets[-1])
    bases = offsets[bounds]  # each thread's output fragment starts at its first row's offset
    buf_idx = np.empty(size, dtype=col_dtype)
    buf_val = np.empty(size, dtype=dtype)
    _numeric(bounds, a_indptr, a_indices, a_values, b_indptr, b_indices, b_values, n, ub, win,
             bases, buf_idx, buf_val, counts, bool(sort_indices), parallel)
    return assemble(bounds, bases, counts, buf_idx, buf_val, n)


def hash_spgemm(a_indptr, a_indices, a_values, a_shape, b_indptr, b_indices, b_values, b_shape,
                *, passes: int = 1, window: int | None = None, sort_indices: bool = True):
    """C = A @ B by row-wise hash accumulation (SMASH V1 dataflow); the ``spgemm`` kernel contract.

    ``passes=1`` writes rows into upper-bound buffers of sum_i ub_i entries and compacts;
    ``passes=2`` counts first (symbolic) and writes once (numeric): less memory when flops >> nnz(C).
    ``window``: the table capacity in slots (a power of two); rows whose :func:`table_size` exceeds it use
    a dense accumulator. Entries summing to exactly 0 are dropped, as scipy does.
    Shapes: A (m, k) CSR, B (k, n) CSR -> (indptr (m + 1,), indices (nnz,), values (nnz,)) of C.
    """
    return _gustavson(a_indptr, a_indices, a_values, a_shape, b_indptr, b_indices, b_values,
                      b_shape, passes=passes, win=_check_window(window), sort_indices=sort_indices)


def hash_spgemm_two_pass(a_indptr, a_indices, a_values, a_shape, b_indptr, b_indices, b_values,
                         b_shape):
    """:func:`hash_spgemm` with ``passes=2`` (symbolic count, then numeric), sorted rows."""
    return _gustavson(a_indptr, a_indices, a_values, a_shape, b_indptr, b_indices, b_values,
                      b_shape, passes=2, win=_check_window(None), sort_indices=True)


def spa_spgemm(a_indptr, a_indices, a_values, a_shape, b_indptr, b_indices, b_values, b_shape,
               *, passes: int = 1, sort_indices: bool = True):
    """C = A @ B row-wise with a dense accumulator of length n per thread (Gilbert's SPA).

    The comparison point for hashing: same dataflow, direct indexing instead of probing, but
    a table as wide as C (what a scratchpad of bounded size cannot hold). Same contract as
    :func:`hash_spgemm`.
    """
    return _gustavson(a_indptr, a_indices, a_values, a_shape, b_indptr, b_indices, b_values,
                      b_shape, passes=passes, win=0, sort_indices=sort_indices)
