"""Checks at the public boundary: every message names the argument, the value and what is allowed."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from sparsehub.errors import ShapeError, bad_value
from sparsehub.solver import check_positive

__all__ = ["as_factors", "as_measurements", "check_block", "check_options"]


def _finite_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a float or complex ndarray (a copy) after checking that it is numeric and finite."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiubc":
        raise ValueError(f"{name} has dtype {arr.dtype}: expected a real or complex numeric array")
    arr = np.array(arr, dtype=np.result_type(arr.dtype, np.float64))
    bad = int(arr.size - np.isfinite(arr).sum())
    if bad:
        raise ValueError(f"{name} has {bad} NaN/Inf entries: expected finite values")
    return arr


def as_factors(factors: Sequence[Any]) -> list[np.ndarray]:
    """The dictionary factors ``H_i`` as 2-D finite arrays without zero columns.

    A zero column leaves its coefficient unidentifiable (its posterior stays the prior, so SBL never
    prunes it) and is rejected; an exactly repeated column is legal but ambiguous and warns.
    """
    if len(factors) == 1 and isinstance(factors[0], (list, tuple)) and all(
            np.ndim(f) == 2 for f in factors[0]):
        factors = factors[0]  # one sequence of factors instead of several arguments
    if len(factors) == 0:
        raise bad_value("factors", "()", "at least one 2-D factor matrix", ShapeError)
    out = []
    for i, f in enumerate(factors):
        arr = _finite_array(f"factors[{i}]", f)
        if arr.ndim != 2 or 0 in arr.shape:
            raise bad_value(f"factors[{i}].shape", arr.shape, "a non-empty 2-D matrix (M_i, N_i)", ShapeError)
        zero = np.flatnonzero(~np.any(arr != 0, axis=0))
        if zero.size:
            raise ValueError(f"factors[{i}] has zero column(s) {zero[:10].tolist()}: expected every column "
                             "non-zero (a zero column makes its coefficient unidentifiable)")
        if np.unique(arr, axis=1).shape[1] < arr.shape[1]:
            warnings.warn(f"factors[{i}] has repeated columns: their coefficients are not identifiable "
                          "individually, only their sum", UserWarning, stacklevel=4)
        out.append(arr)
    return out


def as_measurements(y: Any, m: int, what: str) -> np.ndarray:
    """``y`` as a finite 1-D array of length ``m`` (the row count of ``what``)."""
    arr = _finite_array("y", y)
    if arr.ndim != 1 or arr.shape[0] != m:
        raise bad_value("y.shape", arr.shape, f"({m},): one measurement per row of {what}", ShapeError)
    return arr


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise bad_value(name, value, "an int >= 1")
    return int(value)


def check_options(*, noise_var: Any, max_iter: Any, tol: Any, prune_rel: Any, inner_tol: Any = 1e-6,
                  max_inner: Any = 1, method: Any = "svd") -> dict[str, Any]:
    """Validate the scalar options shared by the solvers; returns them normalised."""
    if method not in ("svd", "am"):
        raise bad_value("method", method, "'svd' (KroSBL-SVD) or 'am' (KroSBL-AM)")
    try:
        prune = float(prune_rel)
    except (TypeError, ValueError):
        raise bad_value("prune_rel", prune_rel, "a float in [0, 1)") from None
    if not 0.0 <= prune < 1.0:
        raise bad_value("prune_rel", prune_rel, "a float in [0, 1)")
    return {
        "method": method,
        "noise_var": None if noise_var is None else check_positive("noise_var", noise_var),
        "max_iter": _positive_int("max_iter", max_iter),
        "tol": check_positive("tol", tol, allow_zero=True),
        "prune_rel": prune,
        "inner_tol": check_positive("inner_tol", inner_tol),
        "max_inner": _positive_int("max_inner", max_inner),
    }


def check_block(block: Any, n_factors: int) -> list[float]:
    """The pattern-coupling strength ``β_i ∈ [0, 1]`` of every factor (0: no coupling).

    ``block`` is None (no coupling), one number for every factor, or one number (or None) per factor.
    """
    if block is None:
        return [0.0] * n_factors
    values = list(block) if isinstance(block, (list, tuple, np.ndarray)) else [block] * n_factors
    if len(values) != n_factors:
        raise bad_value("block", block, f"None, a float in [0, 1] or a sequence of {n_factors} of them "
                        "(one per factor)", ShapeError)
    out = []
    for v in values:
        try:
            beta = 0.0 if v is None else float(v)
        except (TypeError, ValueError):
            raise bad_value("block", block, "None, a float in [0, 1] or one per factor") from None
        if not 0.0 <= beta <= 1.0:
            raise bad_value("block", block, "coupling strengths in [0, 1]")
        out.append(beta)
    return out
