"""Checks at the public boundary: marginals, cost matrix and regularisation, before any work.

Zero-mass entries of a marginal have no finite potential (log 0); they are dropped before
solving and their rows/columns of the plan re-inserted as zeros (``support``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparsehub.errors import ShapeError, bad_value
from sparsehub.solver import check_finite, check_positive

__all__ = ["OTProblem", "check_problem"]


@dataclass
class OTProblem:
    """A validated problem restricted to the support of the marginals (r > 0, c > 0)."""

    r: np.ndarray
    c: np.ndarray
    M: np.ndarray
    eta: float
    rows: np.ndarray  # indices of r > 0 in the caller's a
    cols: np.ndarray  # indices of c > 0 in the caller's b
    shape: tuple[int, int]  # the caller's (len(a), len(b))

    def embed(self, P: np.ndarray) -> np.ndarray:
        """The plan on the caller's full index set (zero rows/columns where the mass is zero)."""
        if P.shape == self.shape:
            return P
        full = np.zeros(self.shape)
        full[np.ix_(self.rows, self.cols)] = P
        return full


def _marginal(name: str, w: object, size: int | None) -> np.ndarray:
    arr = check_finite(name, w, ndim=1).astype(float, copy=False)
    if arr.size == 0:
        raise bad_value(f"len({name})", 0, "at least one entry", ShapeError)
    if size is not None and arr.size != size:
        raise bad_value(f"len({name})", arr.size, f"{size} (the matching dimension of M)", ShapeError)
    if arr.min() < 0:
        raise bad_value(f"{name}[{int(np.argmin(arr))}]", float(arr.min()), "non-negative masses")
    if arr.sum() <= 0:
        raise bad_value(f"sum({name})", float(arr.sum()), "a positive total mass")
    return arr


def check_problem(a: object, b: object, M: object, reg: object, *, normalize: bool = False) -> OTProblem:
    """Validate (a, b, M, reg) and return the problem on the support of the marginals.

    Raises ShapeError for a cost of the wrong shape, ValueError (naming the argument) for NaN/Inf,
    negative masses, unequal total masses (relative difference > 1e-12, unless ``normalize``
    rescales both to mass 1) and reg <= 0. Unequal masses make the OT problem infeasible and the
    Newton system inconsistent, so they are never silently accepted.
    """
    Mx = check_finite("M", M, ndim=2).astype(float, copy=False)
    eta = 1.0 / check_positive("reg", reg)
    if not np.isfinite(eta):
        raise bad_value("reg", reg, "a finite number > 0 whose inverse is finite")
    r = _marginal("a", a, Mx.shape[0])
    c = _marginal("b", b, Mx.shape[1])
    if normalize:
        r, c = r / r.sum(), c / c.sum()
    elif abs(r.sum() - c.sum()) > 1e-12 * max(r.sum(), c.sum()):
        raise bad_value("sum(a) - sum(b)", float(r.sum() - c.sum()),
                        "0 (equal masses up to 1e-12 relative; pass normalize=True to rescale both to 1)")
    else:
        c = c * (r.sum() / c.sum())  # equal to machine precision: keeps the Newton system consistent
    rows, cols = np.flatnonzero(r > 0), np.flatnonzero(c > 0)
    sub = Mx if (rows.size, cols.size) == Mx.shape else Mx[np.ix_(rows, cols)]
    return OTProblem(r[rows], c[cols], np.ascontiguousarray(sub), eta, rows, cols, Mx.shape)
