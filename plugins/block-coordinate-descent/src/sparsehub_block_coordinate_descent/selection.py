"""Block selection rules (paper Sections 3-4): which block to update given the gradient g.

Fixed blocks (a partition b_1..b_m), smooth f:

- ``cyclic`` b_{k mod m}; ``random`` uniform; ``lipschitz`` with probability proportional to L_b.
- ``gs`` (Gauss-Southwell) max ||g_b||; ``gsl`` max ||g_b||^2 / L_b with L_b = lambda_max(H_b);
  ``gsd`` max sum_{i in b} g_i^2 / (|b| L_i) (diagonal bound |b| diag(L_i) >= H_bb);
  ``gsq`` max g_b^T H_b^{-1} g_b, the progress of the matrix update (exact for fixed blocks).

Variable blocks of size τ (any τ coordinates, chosen afresh each iteration):

- ``gs`` the τ largest |g_i|; ``gsl`` = ``gsd`` the τ largest |g_i| / sqrt(L_i);
- ``gsd_hb`` the τ largest |g_i| / sqrt(d_i), d_i = sum_j |H_ij| (GSQ approximation (i));
- ``gsq`` / ``iht`` the support of 10 iterative-hard-thresholding steps on the quadratic model
  g^T d + 1/2 d^T H d restricted to τ non-zeros (GSQ approximation (ii); exact GSQ is NP-hard);
- ``tree`` (GS-Tree): add coordinates by decreasing |g_i| / sqrt(L_i) while the block's
  dependency graph stays a forest (quadratics on a sparse graph, for message passing).

With a regulariser g the greedy scores are proximal (Section 6): ``gs`` uses the min-norm
subgradient (GS-s), ``gsr`` the proximal step length (GS-r), ``gsl``/``gsd``/``gsq`` the decrease
of the diagonal proximal model (GS-q), and ``gsd_hb`` GS-q with the row-sum diagonal d_i.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sparsehub.errors import bad_value

__all__ = ["FIXED_RULES", "GREEDY", "VARIABLE_RULES", "Selector"]

FIXED_RULES = ("cyclic", "random", "lipschitz", "gs", "gsl", "gsd", "gsq", "gsr")
VARIABLE_RULES = ("cyclic", "random", "lipschitz", "gs", "gsl", "gsd", "gsd_hb", "gsq", "iht", "tree", "gsr")
GREEDY = frozenset({"gs", "gsl", "gsd", "gsd_hb", "gsq", "iht", "tree", "gsr"})


def _top(score: np.ndarray, tau: int) -> np.ndarray:
    """Indices of the τ largest scores (ties broken by index, so runs are reproducible)."""
    if tau >= score.size:
        return np.arange(score.size)
    part = np.argpartition(-score, tau - 1, kind="introselect")[:tau]
    return np.sort(part)


@dataclass
class Selector:
    """Chooses the block of each iteration; holds the state a rule needs (permutation, IHT bound, ...)."""

    rule: str
    problem: Any
    lipschitz: np.ndarray
    active: np.ndarray  # coordinates with L_i > 0 (all-zero features are never selected)
    tau: int | None
    blocks: list[np.ndarray] | None
    curvature: Any
    reg: Any
    rng: np.random.Generator
    _perm: np.ndarray | None = None
    _cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        allowed = FIXED_RULES if self.blocks is not None else VARIABLE_RULES
        if self.rule not in allowed:
            where = "fixed partitions" if self.blocks is not None else "partition='variable'"
            raise bad_value("selection", self.rule, f"one of {allowed} for {where}")
        prox_unsupported = self.rule in ("iht", "tree") or (self.blocks is not None and self.rule == "gsq")
        if self.reg is not None and prox_unsupported:
            raise bad_value(
                "selection",
                self.rule,
                "a rule without a regulariser, or for reg=... one of "
                "'gs', 'gsr', 'gsl', 'gsd', 'gsd_hb' (proximal greedy rules) or a random/cyclic rule",
            )
        if self.reg is None and self.rule == "gsr":
            raise bad_value(
                "selection", "gsr", "a regulariser (GS-r is the proximal rule; use 'gsl' when smooth)"
            )
        if self.rule == "tree" and not hasattr(self.problem, "graph"):
            raise bad_value("selection", "tree", "a problem with a sparse dependency graph (Quadratic)")
        self._sqrtL = np.sqrt(np.where(self.lipschitz > 0, self.lipschitz, 1.0))
        self._active_idx = np.flatnonzero(self.active)

    @property
    def needs_gradient(self) -> bool:
        return self.rule in GREEDY

    # ---------------------------------------------------------------- variable blocks
    def variable(self, it: int, g: np.ndarray | None, x: np.ndarray) -> np.ndarray:
        tau = self._active_idx.size if self.tau is None else min(self.tau, self._active_idx.size)
        act = self._active_idx
        if self.rule == "random":
            return np.sort(self.rng.choice(act, tau, replace=False))
        if self.rule == "cyclic":
            per_epoch = max(act.size // tau, 1)
            if self._perm is None or it % per_epoch == 0:
                self._perm = self.rng.permutation(act)
            k = it % per_epoch
            return np.sort(self._perm[k * tau : (k + 1) * tau])
        if self.rule == "lipschitz":
            w = self.lipschitz[act]
            return np.sort(self.rng.choice(act, tau, replace=False, p=w / w.sum()))
        if self.rule == "tree":
            return self._tree(g, tau)
        score = self._scores(g, x)
        score = np.where(self.active, score, -np.inf)
        if self.reg is not None:
            return self._top_prox(score, x, tau)
        if self.rule in ("gsq", "iht"):
            return self._iht(g, tau)
        return _top(score, tau)

    def _scores(self, g: np.ndarray, x: np.ndarray) -> np.ndarray:
        L = self.lipschitz
        if self.reg is None:
            if self.rule == "gs":
                return np.abs(g)
            if self.rule == "gsd_hb":
                return np.abs(g) / np.sqrt(self._row_sums())
            return np.abs(g) / self._sqrtL
        if self.rule == "gs":
            return self.reg.min_norm_subgradient(x, g)
        Lpos = np.where(L > 0, L, 1.0)
        if self.rule == "gsr":
            return np.abs(self.reg.step(x, g, Lpos))
        D = np.where(L > 0, self._row_sums(), 1.0) if self.rule == "gsd_hb" else Lpos
        return self.reg.model_decrease(x, g, D)

    def _top_prox(self, score: np.ndarray, x: np.ndarray, tau: int) -> np.ndarray:
        """Top-τ proximal scores; coordinates with no progress left fill the block non-zeros first.

        Near a solution most scores are exactly zero; preferring the current non-zeros among the
        ties keeps the support inside the block, the condition of the paper's superlinear result.
        """
        positive = np.flatnonzero(score > 0)
        if positive.size >= tau:
            return _top(score, tau)
        rest = np.flatnonzero((score <= 0) & self.active)
        nz_first = rest[np.argsort(x[rest] == 0, kind="stable")]
        return np.sort(np.concatenate([positive, nz_first[: tau - positive.size]]))

    def _row_sums(self) -> np.ndarray:
        if "rows" not in self._cache:
            d = self.problem.hessian_bound_row_sums()
            self._cache["rows"] = np.where(d > 0, d, 1.0)
        return self._cache["rows"]

    def _iht(self, g: np.ndarray, tau: int) -> np.ndarray:
        """Support of 10 IHT steps d <- T_τ(d - mu (g + H d)), mu = 1 / lambda_max(H), from -g / sqrt(L)."""
        if "mu" not in self._cache:
            self._cache["mu"] = 1.0 / self.problem.hessian_bound_norm()
        mu = self._cache["mu"]
        d = np.where(self.active, -g / self._sqrtL, 0.0)
        keep = _top(np.abs(d), tau)
        for _ in range(10):
            dk = np.zeros_like(d)
            dk[keep] = d[keep]
            d = dk - mu * (g + self.problem.hessian_bound_matvec(dk))
            d[~self.active] = 0.0
            new = _top(np.abs(d), tau)
            if np.array_equal(new, keep):
                break
            keep = new
        return keep

    def _tree(self, g: np.ndarray, tau: int | None) -> np.ndarray:
        from .kernels import grow_forest

        graph = self.problem.graph
        score = np.abs(g) / self._sqrtL
        order = self._active_idx[np.argsort(-score[self._active_idx], kind="stable")]
        if "comp" not in self._cache:
            self._cache["comp"] = -np.ones(self.lipschitz.size, dtype=np.int64)
        cap = order.size if self.tau is None else tau
        chosen = grow_forest(
            order, graph.indptr.astype(np.int64), graph.indices.astype(np.int64), cap, self._cache["comp"]
        )
        return np.sort(chosen)

    # ---------------------------------------------------------------- fixed blocks
    def fixed(self, it: int, g: np.ndarray | None, x: np.ndarray) -> int:
        m = len(self.blocks)
        if self.rule == "cyclic":
            return it % m
        if self.rule == "random":
            return int(self.rng.integers(m))
        if self.rule == "lipschitz":
            if "Lb" not in self._cache:
                Lb = np.array([self.curvature.L(b, k) for k, b in enumerate(self.blocks)])
                self._cache["Lb"] = Lb / Lb.sum()
            return int(self.rng.choice(m, p=self._cache["Lb"]))
        return int(np.argmax(self._block_scores(g, x)))

    def _block_scores(self, g: np.ndarray, x: np.ndarray) -> np.ndarray:
        blocks = self.blocks
        if "seg" not in self._cache:
            flat = np.concatenate(blocks)
            starts = np.cumsum([0] + [b.size for b in blocks[:-1]])
            sizes = np.array([b.size for b in blocks], dtype=np.float64)
            self._cache["seg"] = (flat, starts, sizes)
        flat, starts, sizes = self._cache["seg"]
        L = np.where(self.lipschitz > 0, self.lipschitz, np.inf)
        if self.rule == "gsq":
            return self._gsq_scores(g)
        if self.rule in ("gsl", "gsr") or (self.reg is not None and self.rule == "gs"):
            Lb = self._block_L()
        if self.reg is None:
            if self.rule == "gs":
                return np.sqrt(np.add.reduceat(g[flat] ** 2, starts))
            if self.rule == "gsl":
                return np.add.reduceat(g[flat] ** 2, starts) / Lb
            return np.add.reduceat(g[flat] ** 2 / L[flat], starts) / sizes  # gsd
        if self.rule == "gs":
            return np.sqrt(np.add.reduceat(self.reg.min_norm_subgradient(x, g)[flat] ** 2, starts))
        if self.rule in ("gsl", "gsr"):
            D = np.repeat(Lb, sizes.astype(np.int64))
            if self.rule == "gsr":
                step = self.reg.step(x[flat], g[flat], D, flat)
                return np.sqrt(np.add.reduceat(step**2, starts))
            return np.add.reduceat(self.reg.model_decrease(x[flat], g[flat], D, flat), starts)
        D = np.repeat(sizes, sizes.astype(np.int64)) * np.where(np.isfinite(L[flat]), L[flat], 1.0)
        return np.add.reduceat(self.reg.model_decrease(x[flat], g[flat], D, flat), starts)  # gsd

    def _block_L(self) -> np.ndarray:
        if "Lb_values" not in self._cache:
            self._cache["Lb_values"] = np.array(
                [max(self.curvature.L(b, k), 1e-300) for k, b in enumerate(self.blocks)]
            )
        return self._cache["Lb_values"]

    def _gsq_scores(self, g: np.ndarray) -> np.ndarray:
        """g_b^T H_b^{-1} g_b for every block, with the inverses padded into one (m, τ, τ) stack."""
        if "Hinv" not in self._cache:
            from .curvature import cho_solve

            width = max(b.size for b in self.blocks)
            m = len(self.blocks)
            Hinv = np.zeros((m, width, width))
            index = np.zeros((m, width), dtype=np.int64)
            mask = np.zeros((m, width))
            for k, b in enumerate(self.blocks):
                C = self.curvature.chol(b, k)
                Hinv[k, : b.size, : b.size] = cho_solve(C, np.eye(b.size))
                index[k, : b.size] = b
                mask[k, : b.size] = 1.0
            self._cache["Hinv"] = (Hinv, index, mask)
        Hinv, index, mask = self._cache["Hinv"]
        G = g[index] * mask
        return np.einsum("ki,kij,kj->k", G, Hinv, G)
