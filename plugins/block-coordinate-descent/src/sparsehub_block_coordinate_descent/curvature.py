"""Per-block curvature: the Hessian bound H_b, its Cholesky factor and L_b = lambda_max(H_b), cached.

Fixed partitions reuse the same blocks, so their H_b, factors and forest structures are computed
once (the official code also caches the block eigenvalues). Variable blocks are computed afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sparsehub.errors import bad_value

__all__ = ["BlockCurvature", "cholesky_with_jitter"]


def cholesky_with_jitter(H: np.ndarray) -> tuple[np.ndarray, float]:
    """Lower Cholesky factor of H + jitter I, with the smallest jitter that succeeds (0 when H is PD).

    A singular block (duplicate or zero features) gets a jitter of 1e-12 * mean(diag) times powers
    of 10; a matrix that needs more than 1e-4 * mean(diag) is not positive semidefinite and raises.
    """
    try:
        return np.linalg.cholesky(H), 0.0
    except np.linalg.LinAlgError:
        pass
    scale = max(float(np.mean(np.diag(H))), 1e-300)
    jitter = 1e-12 * scale
    while jitter <= 1e-4 * scale:
        try:
            return np.linalg.cholesky(H + jitter * np.eye(H.shape[0])), jitter
        except np.linalg.LinAlgError:
            jitter *= 10.0
    raise bad_value(
        "H_b",
        "a block Hessian that is not positive semidefinite",
        "a convex f (update='matrix' needs H_b >= 0)",
    )


def cho_solve(C: np.ndarray, v: np.ndarray) -> np.ndarray:
    from scipy.linalg import solve_triangular

    return solve_triangular(C.T, solve_triangular(C, v, lower=True), lower=False)


@dataclass
class _Entry:
    H: np.ndarray | None = None
    chol: np.ndarray | None = None
    jitter: float = 0.0
    L: float | None = None
    forest: Any = None


@dataclass
class BlockCurvature:
    """Lazily computed H_b, chol(H_b), L_b for the blocks of a problem (keyed by fixed block number)."""

    problem: Any
    blocks: list[np.ndarray] | None = None
    entries: dict[int, _Entry] = field(default_factory=dict)
    jittered: int = 0

    def _entry(self, key: int | None, idx: np.ndarray) -> _Entry:
        if key is None:
            return _Entry()
        return self.entries.setdefault(key, _Entry())

    def H(self, idx: np.ndarray, key: int | None = None) -> np.ndarray:
        e = self._entry(key, idx)
        if e.H is None:
            e.H = self.problem.hessian_bound(idx)
        return e.H

    def chol(self, idx: np.ndarray, key: int | None = None) -> np.ndarray:
        e = self._entry(key, idx)
        if e.chol is None:
            if e.H is None:
                e.H = self.problem.hessian_bound(idx)
            e.chol, e.jitter = cholesky_with_jitter(e.H)
            self.jittered += e.jitter > 0
        return e.chol

    def L(self, idx: np.ndarray, key: int | None = None) -> float:
        """lambda_max(H_b): the block Lipschitz constant of the gradient step."""
        e = self._entry(key, idx)
        if e.L is None:
            if idx.size == 1:
                e.L = float(self.problem.coord_lipschitz()[idx[0]])
            else:
                if e.H is None:
                    e.H = self.problem.hessian_bound(idx)
                e.L = float(np.linalg.eigvalsh(e.H)[-1])
        return e.L

    def forest(self, idx: np.ndarray, key: int | None, build: Any) -> Any:
        e = self._entry(key, idx)
        if e.forest is None:
            e.forest = build(idx)
        return e.forest
