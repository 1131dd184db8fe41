"""Generators of the paper's test problems (datasets A-D of the official experiments), any size.

A: least squares with a sparse, badly scaled design; B: logistic regression on the same design;
C: multi-class logistic; D: label propagation on a lattice. The designs follow the official
generator: A = (N(0,1) + 1) diag(10 N(0,1)), each entry kept with probability 10 log(n) / n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparsehub.errors import bad_value

from .partitions import lattice_red_black, lattice_tree_partition
from .problems import LeastSquares, Logistic, Quadratic, Softmax

__all__ = [
    "LatticeProblem",
    "lattice_label_propagation",
    "least_squares_problem",
    "logistic_problem",
    "scaled_sparse_design",
    "softmax_problem",
]


def _check_size(name: str, value: int, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise bad_value(name, value, f"an int >= {low}")
    return int(value)


def scaled_sparse_design(n: int, p: int, rng: np.random.Generator):
    """(N(0,1) + 1) * 10 N(0,1) per column, each entry kept with probability min(1, 10 log(n) / n). CSC."""
    import scipy.sparse as sp

    n, p = _check_size("n", n, 2), _check_size("p", p)
    A = (rng.standard_normal((n, p)) + 1.0) * (10.0 * rng.standard_normal(p))
    A *= rng.random((n, p)) < min(1.0, 10.0 * np.log(n) / n)
    return sp.csc_matrix(A)


def least_squares_problem(n: int = 1000, p: int = 2000, seed: int = 1) -> LeastSquares:
    """Dataset A: b = A w + N(0, 1) with w 10% non-zero."""
    rng = np.random.default_rng(seed)
    A = scaled_sparse_design(n, p, rng)
    w = rng.standard_normal(p) * (rng.random(p) < 0.1)
    return LeastSquares(A, A @ w + rng.standard_normal(n))


def logistic_problem(n: int = 500, p: int = 1000, seed: int = 1, l2: float = 1.0) -> Logistic:
    """Dataset B: y = sign(A w) with 10% of the signs flipped (l2 > 0 keeps the minimiser finite)."""
    rng = np.random.default_rng(seed)
    A = scaled_sparse_design(n, p, rng)
    w = rng.standard_normal(p) * (rng.random(p) < 0.1)
    y = np.sign(A @ w)
    y[y == 0] = 1.0
    y *= np.where(rng.random(n) < 0.1, -1.0, 1.0)
    return Logistic(A, y, l2=l2)


def softmax_problem(n: int = 300, p: int = 100, k: int = 10, seed: int = 1, l2: float = 1.0) -> Softmax:
    """Dataset C: labels argmax(A W + N(0, 1)) for a dense W of shape (p, k)."""
    rng = np.random.default_rng(seed)
    A = scaled_sparse_design(n, p, rng)
    W = rng.standard_normal((p, _check_size("k", k, 2)))
    labels = np.argmax(A @ W + rng.standard_normal((n, k)), axis=1)
    return Softmax(A, labels, l2=l2, n_classes=k)


@dataclass
class LatticeProblem:
    """A lattice label-propagation problem with its red-black and tree partitions (over unlabelled nodes)."""

    problem: Quadratic
    red_black: list[np.ndarray]
    trees: list[np.ndarray]
    nrows: int
    ncols: int
    labeled: np.ndarray


def lattice_label_propagation(
    nrows: int = 50, ncols: int = 50, n_labeled: int = 100, weight: float = 1e5, seed: int = 1
) -> LatticeProblem:
    """Dataset D: an nrows x ncols 4-neighbour lattice with weights ``weight``; ``n_labeled`` random
    nodes get labels 10 N(0, 1) and stay fixed. Node (r, c) is c * nrows + r.
    """
    import scipy.sparse as sp

    nrows, ncols = _check_size("nrows", nrows, 2), _check_size("ncols", ncols, 2)
    N = nrows * ncols
    n_labeled = _check_size("n_labeled", n_labeled)
    if n_labeled >= N:
        raise bad_value("n_labeled", n_labeled, f"fewer than the {N} nodes")
    rng = np.random.default_rng(seed)
    node = np.arange(N).reshape(ncols, nrows)  # node[c, r]
    down = np.stack([node[:, :-1].ravel(), node[:, 1:].ravel()])
    right = np.stack([node[:-1, :].ravel(), node[1:, :].ravel()])
    i, j = np.concatenate([down, right], axis=1)
    W = sp.coo_matrix((np.full(i.size, float(weight)), (i, j)), shape=(N, N))
    W = (W + W.T).tocsr()
    labeled = np.zeros(N, dtype=bool)
    labeled[rng.choice(N, n_labeled, replace=False)] = True
    y = np.zeros(N)
    y[labeled] = 10.0 * rng.standard_normal(n_labeled)
    problem = Quadratic.label_propagation(W, y, labeled)
    local = -np.ones(N, dtype=np.int64)
    local[~labeled] = np.arange(int((~labeled).sum()))

    def restrict(blocks: list[np.ndarray]) -> list[np.ndarray]:
        return [local[b[~labeled[b]]] for b in blocks]

    return LatticeProblem(
        problem,
        restrict(lattice_red_black(nrows, ncols)),
        restrict(lattice_tree_partition(nrows, ncols)),
        nrows,
        ncols,
        labeled,
    )
