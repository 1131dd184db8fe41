"""Synthetic completion problems: a random incoherent rank-k matrix, observed at uniformly random entries.

M = A Bᵀ with Gaussian A (m, k), B (n, k) has incoherent row and column spaces (μ = O(√log n)) and
condition number close to 1 — the setting of the paper's Theorem 1.2 and of Jain et al. 2013.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sparsehub.errors import bad_value

__all__ = ["CompletionProblem", "random_low_rank_problem"]


@dataclass(frozen=True)
class CompletionProblem:
    """Observed entries ``X_obs`` (scipy coo, (m, n)), the truth M = A Bᵀ and held-out test entries."""

    X_obs: Any
    A: np.ndarray
    B: np.ndarray
    test_rows: np.ndarray
    test_cols: np.ndarray
    test_values: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return (self.A.shape[0], self.B.shape[0])


def random_low_rank_problem(
    m: int,
    n: int,
    rank: int,
    *,
    n_obs: int | None = None,
    oversampling: float | None = None,
    noise: float = 0.0,
    n_test: int = 0,
    seed: int | None = 0,
) -> CompletionProblem:
    """A rank-``rank`` m x n matrix, ``n_obs`` uniformly random observed entries and ``n_test`` held out.

    ``oversampling`` c sets n_obs = c·(m + n − k)·k, a multiple of the degrees of freedom (give one
    of the two). A and B are Gaussian scaled by k^(-1/4), so entries of M have unit variance;
    ``noise`` adds N(0, noise²) to the observed values only (test values are noiseless).
    """
    import scipy.sparse as sp

    if (n_obs is None) == (oversampling is None):
        raise bad_value("(n_obs, oversampling)", (n_obs, oversampling), "exactly one of the two")
    if n_obs is None:
        n_obs = round(oversampling * (m + n - rank) * rank)
    if not 1 <= n_obs + n_test <= m * n:
        raise bad_value("n_obs + n_test", n_obs + n_test, f"between 1 and m * n = {m * n}")
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, rank)) / rank**0.25
    B = rng.standard_normal((n, rank)) / rank**0.25
    flat = rng.choice(m * n, n_obs + n_test, replace=False)
    rows, cols = np.divmod(flat, n)
    values = np.einsum("ij,ij->i", A[rows], B[cols])
    obs_values = values[:n_obs] + noise * rng.standard_normal(n_obs)
    X_obs = sp.coo_array((obs_values, (rows[:n_obs], cols[:n_obs])), shape=(m, n))
    return CompletionProblem(X_obs, A, B, rows[n_obs:], cols[n_obs:], values[n_obs:])
