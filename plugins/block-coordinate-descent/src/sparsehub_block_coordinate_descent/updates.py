"""Block update rules (paper Sections 2, 5 and 6): the step d that replaces x_b by x_b + d.

- ``gradient`` x_b -= g_b / L_b with L_b = lambda_max(H_b) (proximal: prox with step 1/L_b).
- ``matrix`` x_b -= H_b^{-1} g_b with the fixed Hessian bound H_b (exact block minimisation for
  least squares); with a regulariser, the block QP min_d g_b^T d + 1/2 d^T H_b d + g(x_b + d).
- ``newton`` the same with the true block Hessian at x, plus Armijo backtracking on F = f + g.
- ``la`` Lipschitz approximation: a diagonal step with per-coordinate estimates D_i that start at
  1, are doubled until f(x + d) <= f(x) + g_b^T d + 1/2 sum D_i d_i^2 holds (never-tested ones
  first, up to the calibrated ones), and are shrunk by 10% each time the coordinate is used again.
- ``message_passing`` exact solve Q_bb d = -g_b for a quadratic whose block graph is a forest,
  by Gaussian elimination from the leaves to the roots and back (O(|b|)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparsehub.errors import PatternError, bad_value

from .curvature import cho_solve, cholesky_with_jitter

__all__ = ["UPDATES", "BlockUpdater"]

UPDATES = ("gradient", "matrix", "newton", "la", "message_passing")


def solve_block_qp(
    H: np.ndarray, g_b: np.ndarray, x_b: np.ndarray, lam: np.ndarray, lower: np.ndarray, tol: float = 1e-13
) -> np.ndarray:
    """argmin_z 1/2 (z - x_b)^T H (z - x_b) + g_b^T (z - x_b) + sum lam |z| s.t. z >= lower.

    Coordinate descent (numba) finds the signs; then the system on the non-zeros is solved exactly
    and kept when it keeps those signs and the KKT conditions of the zeros: once the signs are
    right the block minimiser is exact, which gives the finite termination of Section 6.
    """
    from .kernels import qp_cd

    q = g_b - H @ x_b
    z = np.maximum(x_b.copy(), lower)
    qp_cd(H, q, z, lam, lower, 20000, tol)
    S = z != 0
    if S.any():
        HS = H[np.ix_(S, S)]
        try:
            C = np.linalg.cholesky(HS)
        except np.linalg.LinAlgError:
            return z
        zS = cho_solve(C, -(q[S] + lam[S] * np.sign(z[S])))
        if np.all(np.sign(zS) == np.sign(z[S])) and np.all(zS >= lower[S]):
            polished = np.zeros_like(z)
            polished[S] = zS
            grad = H @ polished + q
            off = ~S
            free = lower[off] == -np.inf
            ok_free = np.abs(grad[off][free]) <= lam[off][free] * (1 + 1e-12) + 1e-14
            ok_bound = grad[off][~free] >= -lam[off][~free] * (1 + 1e-12) - 1e-14
            if ok_free.all() and ok_bound.all():
                return polished
    return z


class BlockUpdater:
    """Computes the step of one update rule; holds per-coordinate LA estimates and forest caches."""

    def __init__(self, rule: str, problem: Any, curvature: Any, reg: Any) -> None:
        if rule not in UPDATES:
            raise bad_value("update", rule, f"one of {UPDATES}")
        if rule == "message_passing":
            if not hasattr(problem, "graph"):
                raise bad_value("update", rule, "a problem with a sparse dependency graph (Quadratic)")
            if reg is not None:
                raise bad_value(
                    "update", rule, "a smooth problem (reg=None): message passing solves Q_bb d = -g_b"
                )
        self.rule = rule
        self.problem = problem
        self.curvature = curvature
        self.reg = reg
        self.line_search_steps = 0
        if rule == "la":
            self.la = np.ones(problem.n_params)
            self.la_seen = np.zeros(problem.n_params, dtype=bool)
        if rule == "message_passing":
            self._pos = -np.ones(problem.n_params, dtype=np.int64)
            Q = problem._csr
            self._csr = (Q.indptr.astype(np.int64), Q.indices.astype(np.int64), Q.data.astype(np.float64))

    def step(
        self, s: np.ndarray, x: np.ndarray, idx: np.ndarray, g_b: np.ndarray, key: int | None
    ) -> np.ndarray:
        x_b = x[idx]
        if self.rule == "gradient":
            return self._scaled_step(x_b, g_b, self.curvature.L(idx, key), idx)
        if self.rule == "matrix":
            if self.reg is None:
                return -cho_solve(self.curvature.chol(idx, key), g_b)
            return self._prox_matrix(self.curvature.H(idx, key), x_b, g_b, idx)
        if self.rule == "newton":
            return self._newton(s, x, idx, g_b)
        if self.rule == "la":
            return self._lipschitz_approximation(s, x, idx, g_b)
        return self._message_passing(idx, g_b, key)

    # ------------------------------------------------------------------ rules
    def _scaled_step(self, x_b: np.ndarray, g_b: np.ndarray, L: float, idx: np.ndarray) -> np.ndarray:
        L = max(L, 1e-300)
        if self.reg is None:
            return -g_b / L
        return self.reg.prox(x_b - g_b / L, 1.0 / L, idx) - x_b

    def _prox_matrix(self, H: np.ndarray, x_b: np.ndarray, g_b: np.ndarray, idx: np.ndarray) -> np.ndarray:
        z = solve_block_qp(H, g_b, x_b, self.reg.lam[idx], self.reg.lower[idx])
        return z - x_b

    def _trial(self, s: np.ndarray, x: np.ndarray, idx: np.ndarray, d: np.ndarray) -> float:
        s2 = s.copy()
        self.problem._shift(s2, idx, d)
        x2 = x.copy()
        x2[idx] += d
        value = self.problem._value(s2, x2)
        if self.reg is not None:
            value += self.reg.value(x2[idx], idx) - self.reg.value(x[idx], idx)
        return value

    def _newton(self, s: np.ndarray, x: np.ndarray, idx: np.ndarray, g_b: np.ndarray) -> np.ndarray:
        """Block (proximal) Newton direction from the true Hessian, then Armijo backtracking on F."""
        H = self.problem._hessian(s, x, idx)
        x_b = x[idx]
        if self.reg is None:
            C, _ = cholesky_with_jitter(H)
            d = -cho_solve(C, g_b)
            decrease = float(g_b @ d)
        else:
            H = H + 1e-12 * max(float(np.mean(np.diag(H))), 1e-300) * np.eye(idx.size)
            d = self._prox_matrix(H, x_b, g_b, idx)
            decrease = float(g_b @ d) + self.reg.value(x_b + d, idx) - self.reg.value(x_b, idx)
        if decrease >= 0:
            return np.zeros_like(d)
        f0 = self.problem._value(s, x)
        if -decrease <= 1e-13 * max(1.0, abs(f0)):
            return d  # a decrease at rounding level cannot be tested: take the full Newton step
        t = 1.0
        for _ in range(50):
            if self._trial(s, x, idx, t * d) <= f0 + 1e-4 * t * decrease:
                return t * d
            t *= 0.5
            self.line_search_steps += 1
        return np.zeros_like(d)

    def _lipschitz_approximation(
        self, s: np.ndarray, x: np.ndarray, idx: np.ndarray, g_b: np.ndarray
    ) -> np.ndarray:
        """Diagonal step with per-coordinate estimates D_i, all doubled until f(x + d) <= its model."""
        f0 = self.problem._value(s, x)
        D = self.la[idx].copy()
        fresh = ~self.la_seen[idx]
        x_b = x[idx]
        for _ in range(200):
            d = -g_b / D if self.reg is None else self.reg.prox(x_b - g_b / D, 1.0 / D, idx) - x_b
            bound = f0 + float(g_b @ d) + 0.5 * float(D @ (d * d))
            if self.reg is not None:
                bound += self.reg.value(x_b + d, idx) - self.reg.value(x_b, idx)
            if self._trial(s, x, idx, d) <= bound + 16 * np.spacing(abs(f0)):  # rounding of f only
                break
            # grow never-tested estimates up to the calibrated ones first, so those are not inflated
            ceiling = D[~fresh].max() if (~fresh).any() else np.inf
            grow = fresh & (D < ceiling)
            D[grow if grow.any() else slice(None)] *= 2.0
            self.line_search_steps += 1
        else:
            return np.zeros_like(g_b)  # no decrease found: leave the block and its estimates alone
        self.la_seen[idx] = True
        self.la[idx] = 0.9 * D  # shrink slowly so an estimate can follow a flatter region
        return d

    def _message_passing(self, idx: np.ndarray, g_b: np.ndarray, key: int | None) -> np.ndarray:
        from .kernels import forest_eliminate

        order, parent, weight, diag = self.curvature.forest(idx, key, self._forest)
        d, ok = forest_eliminate(order, parent, weight, diag, -g_b)
        if not ok:
            raise bad_value(
                "problem",
                "a block Hessian Q_bb with a non-positive pivot",
                "a positive definite Q (message passing needs Q_bb > 0)",
            )
        return d

    def _forest(self, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        from .kernels import forest_order

        indptr, indices, data = self._csr
        order, parent, weight, diag, ok = forest_order(idx.astype(np.int64), indptr, indices, data, self._pos)
        if not ok:
            raise bad_value(
                "partition",
                f"a block of {idx.size} coordinates whose dependency graph has a cycle",
                "forest-structured blocks for update='message_passing' (see forest_partition)",
                PatternError,
            )
        return order, parent, weight, diag
