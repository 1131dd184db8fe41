"""The observed entries Ω of the matrix to complete, validated and grouped for the half-steps.

AltMin alternates two families of independent least-squares problems: one per column j (regress
M[Ω_j, j] on the rows U[Ω_j]) and one per row i. :class:`GroupedEntries` stores Ω grouped by the
row or column each problem solves for (CSR order), so that every batched operation the solvers
need is one pass over Ω of O(|Ω| k) work (:mod:`.kernels`). Only stored entries of a scipy.sparse input
are observations: an explicit zero is an observed zero, an absent entry is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from sparsehub.errors import FormatError, ShapeError, bad_value

__all__ = ["GroupedEntries", "Observations", "as_observations"]


@dataclass(frozen=True, eq=False)
class GroupedEntries:
    """Ω grouped by target: entry e links ``target[e]`` to ``source[e]`` with value ``values[e]``.

    For the column problems (solve V given U) the targets are the n columns and the sources the m
    rows; for the row problems, the other way round. ``indptr`` (q + 1) delimits each target's
    entries; shape is (q, p) = (targets, sources).
    """

    indptr: np.ndarray
    source: np.ndarray
    target: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]

    @property
    def counts(self) -> np.ndarray:
        """Observations per target, |Ω_t| (q,)."""
        return np.diff(self.indptr)

    @property
    def nnz(self) -> int:
        return int(self.values.size)

    @cached_property
    def source_counts(self) -> np.ndarray:
        """Observations per source (p,): how often each row of the fixed factor is used."""
        return np.bincount(self.source, minlength=self.shape[1])

    def matrix(self, data: np.ndarray | None = None) -> Any:
        """The (q, p) CSR matrix with this pattern and ``data`` (default: the observed values)."""
        import scipy.sparse as sp

        data = self.values if data is None else data
        return sp.csr_matrix((data, self.source, self.indptr), shape=self.shape, copy=False)

    def subset(self, keep: np.ndarray) -> GroupedEntries:
        """The entries where the boolean mask ``keep`` (|Ω|,) is True, still grouped."""
        counts = np.bincount(self.target[keep], minlength=self.shape[0])
        indptr = np.zeros(self.shape[0] + 1, dtype=self.indptr.dtype)
        np.cumsum(counts, out=indptr[1:])
        return GroupedEntries(indptr, self.source[keep], self.target[keep], self.values[keep], self.shape)


@dataclass(frozen=True, eq=False)
class Observations:
    """The observed entries of an (m, n) matrix, grouped by column (``by_col``) and by row (``by_row``).

    ``perm`` maps the row-grouped order to the column-grouped one: ``by_col.values == by_row.values[perm]``.
    """

    shape: tuple[int, int]
    by_row: GroupedEntries
    by_col: GroupedEntries
    perm: np.ndarray

    @property
    def nnz(self) -> int:
        return self.by_row.nnz

    @property
    def fraction(self) -> float:
        """p = |Ω| / (m n), the sampling rate."""
        return self.nnz / (self.shape[0] * self.shape[1])

    def subset(self, keep_by_row: np.ndarray) -> Observations:
        """The observations where ``keep_by_row`` (|Ω|,) is True, indexed in ``by_row`` order."""
        keep_col = keep_by_row[self.perm]
        new_pos = np.cumsum(keep_by_row) - 1
        return Observations(
            self.shape,
            self.by_row.subset(keep_by_row),
            self.by_col.subset(keep_col),
            new_pos[self.perm[keep_col]],
        )


def _index_dtype(bound: int) -> type:
    return np.int32 if bound < np.iinfo(np.int32).max else np.int64


def _group(
    target: np.ndarray, source: np.ndarray, values: np.ndarray, q: int, p: int
) -> tuple[GroupedEntries, np.ndarray]:
    """Entries sorted by (target, source) as :class:`GroupedEntries`, and the sorting permutation."""
    order = np.argsort(
        target * np.int64(p) + source, kind="stable"
    )  # one int64 key sorts 2x faster than lexsort
    dt = _index_dtype(max(q, p, target.size) + 1)
    indptr = np.zeros(q + 1, dtype=dt)
    np.cumsum(np.bincount(target, minlength=q), out=indptr[1:])
    grouped = GroupedEntries(
        indptr,
        source[order].astype(dt),
        target[order].astype(dt),
        np.ascontiguousarray(values[order], dtype=np.float64),
        (q, p),
    )
    return grouped, order


def _coo_parts(X_obs: Any, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """(rows, cols, values, shape) of every stored entry of a scipy.sparse matrix or SparseTensor."""
    if hasattr(X_obs, "format") and hasattr(X_obs, "to") and hasattr(X_obs, "arrays"):  # SparseTensor
        coo = X_obs.to("coo")
        a = coo.arrays
        return np.asarray(a["row"]), np.asarray(a["col"]), np.asarray(a["values"]), tuple(X_obs.shape)
    import scipy.sparse as sp

    if not sp.issparse(X_obs):
        raise bad_value(
            name,
            type(X_obs).__name__,
            "a scipy.sparse matrix/array or a SparseTensor whose stored entries are the observations "
            "(dense input has no way to mark missing entries)",
            FormatError,
        )
    if X_obs.ndim != 2:
        raise bad_value(f"{name}.shape", X_obs.shape, "a 2-D sparse matrix", ShapeError)
    # tocoo keeps explicit zeros and duplicates, so both stay visible to the checks below
    coo = X_obs if X_obs.format == "coo" else X_obs.tocoo()
    return np.asarray(coo.row), np.asarray(coo.col), np.asarray(coo.data), tuple(X_obs.shape)


def as_observations(X_obs: Any, *, name: str = "X_obs") -> Observations:
    """Validate the stored entries of ``X_obs`` as observations and group them by row and by column.

    Rejects NaN/Inf values, complex values, an empty Ω and duplicated (i, j) pairs (which would
    silently weight an entry twice), naming the argument and the count.
    """
    rows, cols, values, shape = _coo_parts(X_obs, name)
    m, n = int(shape[0]), int(shape[1])
    if m < 1 or n < 1:
        raise bad_value(f"{name}.shape", (m, n), "at least one row and one column", ShapeError)
    if values.dtype.kind not in "fiub":
        raise bad_value(f"{name}.dtype", values.dtype, "real numeric values")
    values = values.astype(np.float64, copy=False)
    if values.size == 0:
        raise bad_value(f"{name}.nnz", 0, "at least one observed (stored) entry: Ω is empty")
    bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    if bad:
        raise ValueError(f"{name} has {bad} NaN/Inf stored values: expected finite observations")
    rows = rows.astype(np.int64, copy=False)
    cols = cols.astype(np.int64, copy=False)
    if rows.min() < 0 or rows.max() >= m or cols.min() < 0 or cols.max() >= n:
        raise bad_value(
            f"{name} indices",
            "out of range",
            f"row indices in [0, {m}) and column indices in [0, {n})",
            ShapeError,
        )
    by_row, order_r = _group(rows, cols, values, m, n)
    dup = int(np.count_nonzero((np.diff(by_row.target) == 0) & (np.diff(by_row.source) == 0)))
    if dup:
        raise ValueError(
            f"{name} has {dup} duplicated (row, column) entries: expected each observed entry "
            "stored once (call sum_duplicates() first if summing is what you mean)"
        )
    by_col, order_c = _group(cols, rows, values, n, m)
    # perm: position in by_row of each by_col entry
    inv_r = np.empty_like(order_r)
    inv_r[order_r] = np.arange(order_r.size)
    perm = inv_r[order_c]
    return Observations((m, n), by_row, by_col, perm)
