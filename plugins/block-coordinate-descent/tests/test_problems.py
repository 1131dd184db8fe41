"""The problem classes: gradients, Hessians and their bounds against finite differences and brute force."""

import numpy as np
import pytest
import scipy.sparse as sp

from sparsehub.errors import ShapeError
from sparsehub_block_coordinate_descent.problems import LeastSquares, Logistic, Quadratic, Softmax


def _problems():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 8)) * rng.uniform(0.5, 3.0, 8)
    y = np.where(rng.random(30) < 0.5, -1.0, 1.0)
    M = rng.standard_normal((10, 10))
    return {
        "least_squares": LeastSquares(A, rng.standard_normal(30), l2=0.3),
        "least_squares_sparse": LeastSquares(
            sp.csc_matrix(A * (rng.random(A.shape) < 0.5)), rng.standard_normal(30)
        ),
        "logistic": Logistic(A, y, l2=0.1),
        "softmax": Softmax(A, rng.integers(0, 4, 30), l2=0.2, n_classes=4),
        "quadratic": Quadratic(M @ M.T + np.eye(10), rng.standard_normal(10)),
    }


PROBLEMS = _problems()


def _numeric_grad(problem, x, h=1e-6):
    g = np.zeros(x.size)
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        g[i] = (problem.value(x + e) - problem.value(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_gradient_matches_central_differences(name):
    problem = PROBLEMS[name]
    x = np.random.default_rng(1).standard_normal(problem.n_params) * 0.3
    np.testing.assert_allclose(problem.grad(x).ravel(), _numeric_grad(problem, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_block_gradient_and_incremental_state_agree_with_a_fresh_evaluation(name):
    problem = PROBLEMS[name]
    rng = np.random.default_rng(2)
    x = rng.standard_normal(problem.n_params) * 0.3
    idx = np.sort(rng.choice(problem.n_params, 3, replace=False))
    d = rng.standard_normal(3)
    s = problem._state(x)
    np.testing.assert_allclose(
        problem._grad_block(s, x, idx), problem._grad(s, x)[idx], rtol=1e-12, atol=1e-12
    )
    problem._shift(s, idx, d)
    x2 = x.copy()
    x2[idx] += d
    np.testing.assert_allclose(s, problem._state(x2), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_block_hessian_matches_differences_of_the_gradient(name):
    problem = PROBLEMS[name]
    rng = np.random.default_rng(3)
    x = rng.standard_normal(problem.n_params) * 0.3
    idx = np.sort(rng.choice(problem.n_params, 4, replace=False))
    H = problem.block_hessian(x, idx)
    h = 1e-6
    for t, i in enumerate(idx):
        e = np.zeros(problem.n_params)
        e[i] = h
        column = (problem.grad(x + e).ravel() - problem.grad(x - e).ravel())[idx] / (2 * h)
        np.testing.assert_allclose(H[:, t], column, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_hessian_bound_dominates_the_true_block_hessian_everywhere(name):
    problem = PROBLEMS[name]
    rng = np.random.default_rng(4)
    for _ in range(5):
        x = rng.standard_normal(problem.n_params)
        idx = np.sort(rng.choice(problem.n_params, 5, replace=False))
        gap = problem.hessian_bound(idx) - problem.block_hessian(x, idx)
        assert np.linalg.eigvalsh(gap).min() >= -1e-9


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_coordinate_lipschitz_is_the_one_coordinate_bound_and_at_most_any_block_diagonal(name):
    problem = PROBLEMS[name]
    L = problem.coord_lipschitz()
    single = [problem.hessian_bound(np.array([i]))[0, 0] for i in range(problem.n_params)]
    np.testing.assert_allclose(L, single, rtol=1e-12)
    idx = np.arange(min(problem.n_params, 6))
    assert np.all(L[idx] <= np.diag(problem.hessian_bound(idx)) * (1 + 1e-12))


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_bound_matvec_and_row_sums_match_the_dense_bound(name):
    problem = PROBLEMS[name]
    full = problem.hessian_bound(np.arange(problem.n_params))
    v = np.random.default_rng(5).standard_normal(problem.n_params)
    if name != "softmax":  # softmax's full bound uses k; a sub-block bound uses the tighter k' <= k
        np.testing.assert_allclose(problem.hessian_bound_matvec(v), full @ v, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(problem.hessian_bound_row_sums(), np.abs(full).sum(axis=1), rtol=1e-10)
    assert problem.hessian_bound_norm() >= np.linalg.eigvalsh(full)[-1] * 0.99


def test_softmax_full_bound_is_bohning_kron():
    problem = PROBLEMS["softmax"]
    A, k = problem.A, problem.k
    bohning = 0.5 * np.kron(A.T @ A, np.eye(k) - np.ones((k, k)) / k) + problem.l2 * np.eye(problem.n_params)
    v = np.random.default_rng(6).standard_normal(problem.n_params)
    np.testing.assert_allclose(problem.hessian_bound_matvec(v), bohning @ v, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        problem.hessian_bound(np.arange(problem.n_params)), bohning, rtol=1e-10, atol=1e-10
    )


def test_label_propagation_matches_the_criterion_with_labels():
    rng = np.random.default_rng(8)
    N = 7
    W = np.triu(rng.random((N, N)) * (rng.random((N, N)) < 0.6), 1)
    W = W + W.T
    y = rng.standard_normal(N)
    labeled = np.array([True, False, True, False, False, True, False])
    problem = Quadratic.label_propagation(W, y, labeled)

    def criterion(xu):
        z = y.copy()
        z[~labeled] = xu
        return 0.25 * float((W * (z[:, None] - z[None, :]) ** 2).sum())

    x1, x2 = rng.standard_normal(4), rng.standard_normal(4)
    # equal up to a constant: compare differences
    assert criterion(x1) - criterion(x2) == pytest.approx(problem.value(x1) - problem.value(x2), rel=1e-10)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: Logistic(np.ones((3, 2)), [0, 1, 1]), "labels in"),
        (lambda: LeastSquares(np.ones((3, 2)), np.ones(4)), "b.shape"),
        (lambda: LeastSquares(np.array([[1.0, np.nan]]), np.ones(1)), "NaN"),
        (lambda: LeastSquares(np.ones((3, 2)), [1.0, np.inf, 0.0]), "NaN"),
        (lambda: LeastSquares(np.ones((3, 2)), np.ones(3), l2=-1.0), "l2"),
        (lambda: Quadratic(np.array([[2.0, 1.0], [0.0, 2.0]]), np.ones(2)), "symmetric"),
        (lambda: Quadratic(np.eye(3), np.ones(2)), "c.shape"),
        (lambda: Softmax(np.ones((3, 2)), [0, 1.5, 1]), "integer class labels"),
        (lambda: Softmax(np.ones((3, 2)), [0, 0, 0]), "n_classes"),
    ],
)
def test_bad_problem_data_is_rejected_with_the_argument_named(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_shape_errors_are_shape_errors():
    with pytest.raises(ShapeError):
        LeastSquares(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ShapeError):
        PROBLEMS["least_squares"].value(np.ones(3))
