"""Test problems: the coherent design of the paper's lower bound, and a plain Gaussian design.

The separation between dense and sparse sketches needs two things (paper, lower bound for sparse
sketches; Price, Song & Woodruff 2017): rows of A with leverage close to 1, and a residual
b - A x* concentrated on a few coordinates. A sparse sketch sends such a residual coordinate
unspread into the bucket of a heavy row with probability about d s / m, and that coordinate of
x' then moves by O(1); a dense sketch spreads every coordinate over all m rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sparsehub.errors import bad_value

__all__ = ["RegressionProblem", "coherent_spike_problem", "gaussian_problem"]


@dataclass
class RegressionProblem:
    """A, b, the planted x and the residual r = b - A x* (orthogonal to range(A))."""

    A: np.ndarray
    b: np.ndarray
    x_true: np.ndarray
    residual: np.ndarray


def _sizes(n: Any, d: Any) -> tuple[int, int]:
    for name, value in (("n", n), ("d", d)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise bad_value(name, value, "a positive int")
    return int(n), int(d)


def coherent_spike_problem(n: int, d: int, spikes: int = 1, noise: float = 0.1,
                           seed: Any = None) -> RegressionProblem:
    """A = [I_d; 0] + noise N(0, 1)/sqrt(n) (the first d rows have leverage ~ 1) and
    b = A x + r, r the projection orthogonal to range(A) of ``spikes`` unit spikes on random rows
    beyond the first d (a concentrated residual). Needs n > d + spikes.
    """
    n, d = _sizes(n, d)
    if not isinstance(spikes, (int, np.integer)) or not 1 <= spikes <= n - d - 1:
        raise bad_value("spikes", spikes, f"an int in [1, n - d - 1] = [1, {n - d - 1}]")
    rng = np.random.default_rng(seed)
    A = noise * rng.standard_normal((n, d)) / np.sqrt(n)
    A[np.arange(d), np.arange(d)] += 1.0
    spike = np.zeros(n)
    spike[d + rng.choice(n - d, size=int(spikes), replace=False)] = rng.choice([-1.0, 1.0], size=int(spikes))
    Q, _ = np.linalg.qr(A)
    r = spike - Q @ (Q.T @ spike)
    x = rng.standard_normal(d)
    return RegressionProblem(A, A @ x + r, x, r)


def gaussian_problem(n: int, d: int, noise: float = 1.0, seed: Any = None) -> RegressionProblem:
    """A with i.i.d. N(0, 1) entries (incoherent: every leverage score ~ d / n), b = A x + noise."""
    n, d = _sizes(n, d)
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d))
    x = rng.standard_normal(d)
    b = A @ x + noise * rng.standard_normal(n)
    Q, _ = np.linalg.qr(A)
    r = b - A @ x
    return RegressionProblem(A, b, x, r - Q @ (Q.T @ r))
