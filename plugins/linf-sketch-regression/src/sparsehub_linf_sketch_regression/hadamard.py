"""The fast Walsh-Hadamard transform behind the SRHT sketch, in O(N k log N) for N x k data.

H_N is the unnormalised Sylvester-Hadamard matrix (entries +-1, H_N H_N = N I, entry (i, j) =
(-1)^popcount(i & j)). The SRHT only keeps m of the N transformed rows, so the transform is
split with H_N = H_T (x) H_L (N = T L): an in-place butterfly on each block of L consecutive rows
(a block stays in cache; blocks run in parallel), then for each kept row (i1, i2) the sum
sum_j1 (-1)^popcount(i1 & j1) Y[j1 L + i2], which costs m T k instead of N k log T.
:func:`split_for_rows` picks L. The SRHT's sign flip and zero padding are fused into the block
pass (:func:`signed_sampled_hadamard`), so the data are read once.

The kernels are compiled by numba on first use (cached on disk where numba allows), never at
import of the package.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from sparsehub.errors import ShapeError, bad_value

__all__ = ["fwht", "next_power_of_two", "sampled_hadamard_rows", "signed_sampled_hadamard", "split_for_rows"]

# Below this many entries of work the thread start-up (and, on a loaded machine, waiting for a
# busy core) costs more than the whole transform: the serial build of the same loops runs.
_PARALLEL_WORK = 1 << 21
_COMBINE_COST = 4.0  # a combination step (a strided gather) against a butterfly step, measured
_BLOCK_BYTES = 1 << 23  # largest block of rows transformed in place (stays in L2/L3)


@njit(cache=True)
def _butterfly_block(X, base, L):  # pragma: no cover - compiled
    """In place: rows base .. base + L - 1 of X (C order) become H_L times themselves."""
    k = X.shape[1]
    h = 1
    while h < L:
        for i in range(base, base + L, 2 * h):
            for j in range(i, i + h):
                for c in range(k):
                    a = X[j, c]
                    b = X[j + h, c]
                    X[j, c] = a + b
                    X[j + h, c] = a - b
        h *= 2


def _butterfly_blocks_py(X, L):  # pragma: no cover - compiled
    for blk in prange(X.shape[0] // L):
        _butterfly_block(X, blk * L, L)


def _signed_blocks_py(A, b, signs, X, L):  # pragma: no cover - compiled
    """X = blocks of H_L applied to D [A b] zero-padded to X's N rows (b of length 0: no b column)."""
    n, ka = A.shape
    has_b = b.size > 0
    for blk in prange(X.shape[0] // L):
        base = blk * L
        for i in range(base, base + L):
            if i < n:
                s = signs[i]
                for c in range(ka):
                    X[i, c] = s * A[i, c]
                if has_b:
                    X[i, ka] = s * b[i]
            else:
                for c in range(X.shape[1]):
                    X[i, c] = 0.0
        _butterfly_block(X, base, L)


def _combine_rows_py(Y, L, rows, out):  # pragma: no cover - compiled
    """out[t] = row rows[t] of (H_T (x) I_L) Y, with T = N / L, for block-transformed Y."""
    T = Y.shape[0] // L
    k = Y.shape[1]
    for t in prange(rows.size):
        i1 = rows[t] // L
        i2 = rows[t] - i1 * L
        for c in range(k):
            out[t, c] = 0.0
        for j1 in range(T):
            v = i1 & j1
            parity = 0
            while v:  # popcount parity: the sign of H_T[i1, j1]
                parity ^= 1
                v &= v - 1
            src = j1 * L + i2
            if parity:
                for c in range(k):
                    out[t, c] -= Y[src, c]
            else:
                for c in range(k):
                    out[t, c] += Y[src, c]


_KERNELS = {
    name: (njit(cache=True)(fn), njit(cache=True, parallel=True)(fn))
    for name, fn in (("butterfly", _butterfly_blocks_py), ("signed", _signed_blocks_py),
                     ("combine", _combine_rows_py))
}


def _kernel(name: str, work: int):
    serial, parallel = _KERNELS[name]
    return parallel if work >= _PARALLEL_WORK else serial


def next_power_of_two(n: int) -> int:
    """The smallest power of two >= n (the padded length N of the SRHT)."""
    if n < 1:
        raise bad_value("n", n, "a positive int")
    return 1 << (int(n) - 1).bit_length()


def _check_power_rows(X: np.ndarray) -> int:
    N = X.shape[0] if X.ndim == 2 else 0
    if N < 1 or N & (N - 1):
        raise bad_value("X.shape", X.shape, "a 2-D array whose row count is a power of two", ShapeError)
    return N


def _check_writeable(X: np.ndarray) -> None:
    if X.dtype != np.float64 or not X.flags.c_contiguous or not X.flags.writeable:
        raise bad_value("X", f"{X.dtype} array", "a writeable C-contiguous float64 array")


def fwht(X: np.ndarray) -> np.ndarray:
    """Unnormalised Walsh-Hadamard transform of the rows of X, in place: X <- H_N X.

    ``X`` must be a C-contiguous float64 array of shape (N, k) with N a power of two; the
    transform acts along axis 0 (each column is one vector of length N). Returns X.
    """
    _check_power_rows(X)
    _check_writeable(X)
    _kernel("butterfly", X.size)(X, X.shape[0])
    return X


def split_for_rows(N: int, m: int, k: int = 1) -> int:
    """Block length L (a power of two dividing N) for keeping m rows of H_N X, X of shape (N, k).

    Minimises N log2(L) + c m N / L (in-block butterflies plus per-kept-row combinations, c the
    measured relative cost of a combination step) over the L whose block of L k float64 values fits
    in 8 MiB. L = N (no combination) is the plain transform.
    """
    best_L, best_cost = N, math.inf
    L = N
    while L >= 1:
        if L * k * 8 <= _BLOCK_BYTES or L == 1:
            cost = N * math.log2(L) + _COMBINE_COST * m * (N // L)
            if cost < best_cost:
                best_L, best_cost = L, cost
        L //= 2
    return best_L


def _check_rows(rows: np.ndarray, N: int) -> np.ndarray:
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if rows.ndim != 1 or (rows.size and (rows.min() < 0 or rows.max() >= N)):
        raise bad_value("rows", rows, f"a 1-D array of row indices in [0, {N})")
    return rows


def _keep_rows(X: np.ndarray, L: int, rows: np.ndarray) -> np.ndarray:
    if L == X.shape[0]:
        return X[rows]
    out = np.empty((rows.size, X.shape[1]), dtype=np.float64)
    _kernel("combine", rows.size * (X.shape[0] // L) * X.shape[1])(X, L, rows, out)
    return out


def sampled_hadamard_rows(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(H_N X)[rows] for X of shape (N, k), N a power of two; X is overwritten (block transform).

    Costs O(N k log L + m k N / L) with L from :func:`split_for_rows`, i.e. O(N k log N).
    """
    N = _check_power_rows(X)
    _check_writeable(X)
    rows = _check_rows(rows, N)
    L = split_for_rows(N, rows.size, X.shape[1])
    _kernel("butterfly", X.size)(X, L)
    return _keep_rows(X, L, rows)


def signed_sampled_hadamard(A: np.ndarray, b: np.ndarray | None, signs: np.ndarray, N: int,
                            rows: np.ndarray) -> np.ndarray:
    """(H_N D [A b; 0])[rows]: the unscaled SRHT of the columns of A (n, k) and b (n,) (optional).

    D = diag(signs) (n values +-1), the n rows are zero-padded to N (a power of two >= n); A and
    b are only read. Returns an (m, k + 1) array (k without b).
    """
    n, ka = A.shape
    if N < n or N & (N - 1):
        raise bad_value("N", N, f"a power of two >= n = {n}")
    rows = _check_rows(rows, N)
    bb = np.zeros(0) if b is None else np.asarray(b, dtype=np.float64)
    X = np.empty((N, ka + (b is not None)), dtype=np.float64)
    L = split_for_rows(N, rows.size, X.shape[1])
    _kernel("signed", X.size)(np.asarray(A, dtype=np.float64), bb, np.asarray(signs, dtype=np.float64), X, L)
    return _keep_rows(X, L, rows)
