"""The separable non-smooth part g(x) = sum_i g_i(x_i): L1, non-negativity, or both (paper Section 6).

g_i(x_i) = lam_i |x_i| + indicator(x_i >= lower_i), with lower_i in {-inf, 0}. Everything the
proximal BCD needs is separable: the proximal map, the per-coordinate proximal-gradient steps
behind the GS-s / GS-r / GS-q rules, and the optimality measure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparsehub.errors import ShapeError, bad_value

__all__ = ["Regularizer", "parse_reg"]

_FORMS = "None, ('l1', lam), ('nonneg',) or ('l1+nonneg', lam) with lam > 0 (a float or a (p,) array >= 0)"


class Regularizer:
    """g(x) = sum_i lam_i |x_i| subject to x_i >= lower_i. lam, lower: (p,)."""

    def __init__(self, lam: np.ndarray, lower: np.ndarray, kind: str) -> None:
        self.lam = lam
        self.lower = lower
        self.kind = kind

    def value(self, x: np.ndarray, idx: Any = slice(None)) -> float:
        """g restricted to ``idx`` (inf when a bound is violated)."""
        if np.any(x < self.lower[idx]):
            return float("inf")
        return float(self.lam[idx] @ np.abs(x))

    def prox(self, v: np.ndarray, step: Any, idx: Any = slice(None)) -> np.ndarray:
        """argmin_z 1/(2 step) ||z - v||^2 + g(z), coordinatewise; ``step`` is a scalar or per coordinate."""
        t = step * self.lam[idx]
        z = np.sign(v) * np.maximum(np.abs(v) - t, 0.0)
        return np.maximum(z, self.lower[idx])

    def step(self, x: np.ndarray, g: np.ndarray, D: Any, idx: Any = slice(None)) -> np.ndarray:
        """The proximal-gradient step d_i = prox_{g_i / D_i}(x_i - g_i / D_i) - x_i (GS-r's quantity)."""
        return self.prox(x - g / D, 1.0 / D, idx) - x

    def model_decrease(self, x: np.ndarray, g: np.ndarray, D: Any, idx: Any = slice(None)) -> np.ndarray:
        """-min_d [g_i d + D_i/2 d^2 + g_i(x_i + d) - g_i(x_i)] >= 0 per coordinate (the GS-q score)."""
        d = self.step(x, g, D, idx)
        lam = self.lam[idx]
        return -(g * d + 0.5 * D * d * d + lam * (np.abs(x + d) - np.abs(x)))

    def min_norm_subgradient(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        """|the smallest element of grad_i f + d g_i(x_i)| per coordinate (the GS-s score)."""
        out = np.where(x != 0, np.abs(g + self.lam * np.sign(x)), np.maximum(np.abs(g) - self.lam, 0.0))
        at_bound = (x <= self.lower) & (g >= -self.lam)
        return np.where(at_bound, 0.0, out)

    def optimality(self, x: np.ndarray, g: np.ndarray) -> float:
        """||x - prox_g(x - grad f(x))||_inf: zero exactly at a minimiser of f + g."""
        return float(np.max(np.abs(self.prox(x - g, 1.0) - x), initial=0.0))


def parse_reg(reg: Any, p: int) -> Regularizer | None:
    """Turn the ``reg`` argument of :func:`bcd_minimize` into a :class:`Regularizer` (None when smooth)."""
    if reg is None:
        return None
    if isinstance(reg, Regularizer):
        return reg
    if isinstance(reg, str):
        reg = (reg,)
    if not isinstance(reg, (tuple, list)) or not reg or reg[0] not in ("l1", "nonneg", "l1+nonneg"):
        raise bad_value("reg", reg, _FORMS)
    kind = reg[0]
    lower = np.full(p, -np.inf) if kind == "l1" else np.zeros(p)
    if kind == "nonneg":
        if len(reg) != 1:
            raise bad_value("reg", reg, _FORMS)
        return Regularizer(np.zeros(p), lower, kind)
    if len(reg) != 2:
        raise bad_value("reg", reg, _FORMS)
    lam = reg[1]
    if np.ndim(lam) == 0:
        try:
            value = float(lam)
        except (TypeError, ValueError):
            raise bad_value("reg lam", lam, "a finite number > 0") from None
        if not np.isfinite(value) or value <= 0:
            raise bad_value("reg lam", lam, "a finite number > 0")
        lam_arr = np.full(p, value)
    else:
        lam_arr = np.asarray(lam, dtype=np.float64)
        if lam_arr.shape != (p,):
            raise bad_value("reg lam.shape", lam_arr.shape, f"({p},) or a scalar", ShapeError)
        if not np.all(np.isfinite(lam_arr)) or lam_arr.min() < 0 or lam_arr.max() <= 0:
            raise bad_value(
                "reg lam",
                "an array with negative, non-finite or all-zero entries",
                "finite entries >= 0, at least one > 0",
            )
    return Regularizer(lam_arr, lower, kind)
