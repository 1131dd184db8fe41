"""The Lyapunov potential of entropic OT and the transport plan it defines (paper, Section 2).

The paper writes the dual of min <C, P> + (1/eta) sum P log P, P 1 = r, P^T 1 = c, as the concave
potential f(x, y) = -(1/eta) sum_ij exp(eta (-C_ij + x_i + y_j) - 1) + r.x + c.y, whose
maximiser gives the plan P_ij = exp(eta (-C_ij + x_i + y_j) - 1). This package works with the
scaled potentials u = eta x and v = eta y (POT's ``log_u``/``log_v`` up to the constant 1/2) and
phi(u, v) = eta f = -sum_ij exp(L_ij + u_i + v_j) + r.u + c.v with L = -eta C - 1: the same
maximiser, and the same Newton direction up to the factor eta, without ever multiplying a large
eta into the potentials. Nothing forms exp(-eta C) alone, which under/overflows for eta of a few
hundred; every exponent is L + u + v, the log of an entry of the current plan.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lyapunov", "marginal_error", "plan"]


def plan(L: np.ndarray, u: np.ndarray, v: np.ndarray, *, compiled: bool = True) -> np.ndarray:
    """P_ij = exp(L_ij + u_i + v_j), shape (n, m); entries past the float range become 0 or inf.

    ``compiled`` uses the one-pass numba loop (``kernels.plan_into``), else numpy (the reference).
    """
    if compiled and L.flags.c_contiguous and L.dtype == np.float64:
        from .kernels import plan_into

        return plan_into(L, np.ascontiguousarray(u, dtype=float), np.ascontiguousarray(v, dtype=float),
                         np.empty_like(L))
    with np.errstate(over="ignore", under="ignore"):
        P = np.add(L, u[:, None])
        P += v[None, :]
        return np.exp(P, out=P)


def lyapunov(P: np.ndarray, u: np.ndarray, v: np.ndarray, r: np.ndarray, c: np.ndarray) -> float:
    """phi(u, v) = -sum P + r.u + c.v (the paper's f times eta); -inf when the plan overflowed."""
    total = float(P.sum())
    if not np.isfinite(total):
        return -np.inf
    return -total + float(r @ u) + float(c @ v)


def marginal_error(P: np.ndarray, r: np.ndarray, c: np.ndarray) -> float:
    """The paper's stopping metric ||P 1 - r||_1 + ||P^T 1 - c||_1."""
    return float(np.abs(P.sum(axis=1) - r).sum() + np.abs(P.sum(axis=0) - c).sum())
