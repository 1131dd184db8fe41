"""Working with a completed matrix in factored form X = U Vᵀ without materialising it.

U (m, k) and V (n, k) are what every completion solver here returns; entries, the dense matrix
(small cases only) and exact Frobenius distances are computed from the factors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparsehub.errors import ShapeError, bad_value

__all__ = ["factor_distance", "predict_entries", "to_dense"]


def _factors(U: Any, V: Any) -> tuple[np.ndarray, np.ndarray]:
    U = np.asarray(U, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    if U.ndim != 2 or V.ndim != 2 or U.shape[1] != V.shape[1]:
        raise bad_value(
            "(U.shape, V.shape)", (U.shape, V.shape), "(m, k) and (n, k) with the same k", ShapeError
        )
    return U, V


def predict_entries(U: Any, V: Any, rows: Any, cols: Any) -> np.ndarray:
    """X[rows, cols] for X = U Vᵀ: x_e = ⟨U[rows_e], V[cols_e]⟩ (N,), O(N k) work.

    ``rows`` and ``cols`` are integer arrays of the same length N (broadcast like numpy indices).
    """
    U, V = _factors(U, V)
    rows = np.asarray(rows)
    cols = np.asarray(cols)
    if rows.dtype.kind not in "iu" or cols.dtype.kind not in "iu":
        raise bad_value("(rows.dtype, cols.dtype)", (rows.dtype, cols.dtype), "integer index arrays")
    if rows.shape != cols.shape:
        raise bad_value("(rows.shape, cols.shape)", (rows.shape, cols.shape), "equal shapes", ShapeError)
    if rows.size and (
        rows.min() < -U.shape[0]
        or rows.max() >= U.shape[0]
        or cols.min() < -V.shape[0]
        or cols.max() >= V.shape[0]
    ):
        raise bad_value(
            "rows/cols", "out of range", f"indices into a {U.shape[0]} x {V.shape[0]} matrix", ShapeError
        )
    return np.einsum("...j,...j->...", U[rows], V[cols])


def to_dense(U: Any, V: Any, *, max_entries: int = 10**8) -> np.ndarray:
    """The dense (m, n) matrix U Vᵀ; refuses more than ``max_entries`` entries (use predict_entries)."""
    U, V = _factors(U, V)
    size = U.shape[0] * V.shape[0]
    if size > max_entries:
        raise bad_value(
            "m * n",
            size,
            f"at most max_entries={max_entries} to materialise; use predict_entries for large matrices",
        )
    return U @ V.T


def factor_distance(U: Any, V: Any, A: Any, B: Any, *, relative: bool = True) -> float:
    """‖U Vᵀ − A Bᵀ‖_F (divided by ‖A Bᵀ‖_F when ``relative``) from the factors alone.

    [U, −A][V, B]ᵀ = Q₁R₁(Q₂R₂)ᵀ, so the distance is ‖R₁R₂ᵀ‖_F: O((m + n) k²) work and no
    cancellation, exact to rounding even at relative errors of 1e-12.
    """
    U, V = _factors(U, V)
    A, B = _factors(A, B)
    if U.shape[0] != A.shape[0] or V.shape[0] != B.shape[0]:
        raise bad_value(
            "shapes",
            (U.shape, V.shape, A.shape, B.shape),
            "U, A with equal rows and V, B with equal rows",
            ShapeError,
        )
    r1 = np.linalg.qr(np.hstack([U, -A]), mode="r")
    r2 = np.linalg.qr(np.hstack([V, B]), mode="r")
    dist = float(np.linalg.norm(r1 @ r2.T))
    if not relative:
        return dist
    ref = float(np.linalg.norm(np.linalg.qr(A, mode="r") @ np.linalg.qr(B, mode="r").T))
    return dist / ref if ref > 0 else (0.0 if dist == 0 else np.inf)
