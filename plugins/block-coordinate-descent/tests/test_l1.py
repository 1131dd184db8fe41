"""L1 / non-negative problems against cvxpy, active-set identification, and the numba Lasso solver."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import nnls

from sparsehub.errors import ConvergenceWarning, ShapeError
from sparsehub_block_coordinate_descent.bcd import bcd_minimize
from sparsehub_block_coordinate_descent.lasso import bcd_lasso, lasso_duality_gap
from sparsehub_block_coordinate_descent.problems import LeastSquares, Logistic
from sparsehub_block_coordinate_descent.updates import solve_block_qp

cp = pytest.importorskip("cvxpy")


def _data(seed=0, n=60, p=120, k=8):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p)) * rng.uniform(0.5, 2.0, p)
    w = np.zeros(p)
    w[rng.choice(p, k, replace=False)] = 3.0 * rng.standard_normal(k)
    return A, A @ w + 0.1 * rng.standard_normal(n), rng


def _cvx(objective, p, constraints=()):
    x = cp.Variable(p)
    prob = cp.Problem(cp.Minimize(objective(x)), [c(x) for c in constraints])
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return float(prob.value), x.value


A, B, RNG = _data()
LAM = 0.1 * float(np.abs(A.T @ B).max())
F_LASSO, X_LASSO = _cvx(lambda x: 0.5 * cp.sum_squares(A @ x - B) + LAM * cp.norm1(x), A.shape[1])


def _lasso_objective(x):
    return 0.5 * float(np.sum((A @ x - B) ** 2)) + LAM * float(np.abs(x).sum())


@pytest.mark.parametrize(
    "selection, update, tau",
    [
        ("gsd", "matrix", 20),
        ("gsd", "newton", 20),
        ("gsd", "gradient", 5),
        ("gs", "matrix", 10),
        ("gsr", "gradient", 5),
        ("gsd_hb", "matrix", 10),
        ("random", "matrix", 10),
        ("gsd", "la", 5),
    ],
)
def test_proximal_bcd_matches_cvxpy_on_the_lasso(selection, update, tau):
    res = bcd_minimize(
        LeastSquares(A, B),
        reg=("l1", LAM),
        selection=selection,
        update=update,
        block_size=tau,
        max_iter=50000,
        tol=1e-10,
        random_state=0,
    )
    assert res.converged
    assert abs(_lasso_objective(res.x) - F_LASSO) <= 1e-6 * F_LASSO


@pytest.mark.parametrize(
    "partition, selection",
    [("order", "gsl"), ("sort", "gsd"), ("order", "gs"), ("avg", "cyclic"), ("order", "gsr")],
)
def test_fixed_block_proximal_rules_match_cvxpy(partition, selection):
    res = bcd_minimize(
        LeastSquares(A, B),
        reg=("l1", LAM),
        partition=partition,
        selection=selection,
        update="matrix",
        block_size=6,
        max_iter=50000,
        tol=1e-10,
    )
    assert res.converged
    assert abs(_lasso_objective(res.x) - F_LASSO) <= 1e-6 * F_LASSO


def test_active_set_is_identified_and_newton_updates_then_terminate():
    res = bcd_minimize(
        LeastSquares(A, B),
        reg=("l1", LAM),
        selection="gsd",
        update="newton",
        block_size=30,
        max_iter=200,
        tol=1e-9,
    )
    assert res.converged
    k = res.info["active_set_iter"]
    assert 0 < k <= res.n_iter
    np.testing.assert_array_equal(res.x != 0, np.abs(X_LASSO) > 1e-6)  # the support cvxpy finds
    # finite termination: at most a couple of iterations after the zero pattern settled
    assert res.n_iter - k <= 2


def test_gradient_updates_identify_the_same_active_set_but_converge_only_linearly():
    fast = bcd_minimize(
        LeastSquares(A, B),
        reg=("l1", LAM),
        selection="gsd",
        update="newton",
        block_size=30,
        max_iter=500,
        tol=1e-9,
    )
    slow = bcd_minimize(
        LeastSquares(A, B),
        reg=("l1", LAM),
        selection="gsd",
        update="gradient",
        block_size=30,
        max_iter=20000,
        tol=1e-9,
    )
    np.testing.assert_array_equal(fast.x != 0, slow.x != 0)
    assert slow.n_iter - slow.info["active_set_iter"] > 5 * (fast.n_iter - fast.info["active_set_iter"])


def test_l1_logistic_matches_cvxpy():
    y = np.where(A @ X_LASSO + 0.5 * RNG.standard_normal(A.shape[0]) > 0, 1.0, -1.0)
    lam = 1.0
    f_cvx, _ = _cvx(lambda x: cp.sum(cp.logistic(-cp.multiply(y, A @ x))) + lam * cp.norm1(x), A.shape[1])
    problem = Logistic(A, y)
    for update in ("newton", "gradient", "matrix"):
        res = bcd_minimize(
            problem, reg=("l1", lam), selection="gsd", update=update, block_size=20, max_iter=50000, tol=1e-9
        )
        F = problem.value(res.x) + lam * np.abs(res.x).sum()
        assert res.converged and abs(F - f_cvx) <= 1e-6 * f_cvx, update


def test_non_negative_least_squares_matches_scipy_nnls():
    rng = np.random.default_rng(4)
    M = rng.standard_normal((80, 30))
    y = M @ rng.standard_normal(30) + 0.1 * rng.standard_normal(80)
    x_ref, _ = nnls(M, y)
    f = LeastSquares(M, y)
    for update in ("matrix", "gradient"):
        res = bcd_minimize(
            f, reg=("nonneg",), selection="gsd", update=update, block_size=10, max_iter=20000, tol=1e-10
        )
        assert res.converged and res.x.min() >= 0
        assert f.value(res.x) == pytest.approx(f.value(x_ref), rel=1e-9)
        np.testing.assert_allclose(res.x, x_ref, atol=1e-7)


def test_l1_plus_non_negativity_matches_cvxpy():
    f_cvx, _ = _cvx(
        lambda x: 0.5 * cp.sum_squares(A @ x - B) + LAM * cp.sum(x), A.shape[1], [lambda x: x >= 0]
    )
    res = bcd_minimize(
        LeastSquares(A, B),
        reg=("l1+nonneg", LAM),
        selection="gsd",
        update="matrix",
        block_size=20,
        max_iter=20000,
        tol=1e-10,
    )
    assert res.converged and res.x.min() >= 0
    F = LeastSquares(A, B).value(res.x) + LAM * res.x.sum()
    assert abs(F - f_cvx) <= 1e-6 * f_cvx


def test_per_coordinate_penalties_leave_zero_weight_coordinates_free():
    lam = np.full(A.shape[1], LAM)
    lam[:3] = 0.0
    f_cvx, _ = _cvx(
        lambda x: 0.5 * cp.sum_squares(A @ x - B) + cp.sum(cp.multiply(lam, cp.abs(x))), A.shape[1]
    )
    res = bcd_minimize(
        LeastSquares(A, B),
        reg=("l1", lam),
        selection="gsd",
        update="matrix",
        block_size=20,
        max_iter=20000,
        tol=1e-10,
    )
    F = LeastSquares(A, B).value(res.x) + float(lam @ np.abs(res.x))
    assert res.converged and abs(F - f_cvx) <= 1e-6 * f_cvx


def test_block_qp_solver_satisfies_the_kkt_conditions():
    rng = np.random.default_rng(1)
    M = rng.standard_normal((8, 8))
    H = M @ M.T + 0.1 * np.eye(8)
    g, x = rng.standard_normal(8), rng.standard_normal(8)
    lam = np.full(8, 0.7)
    z = solve_block_qp(H, g, x, lam, np.full(8, -np.inf))
    grad = H @ (z - x) + g
    nz = z != 0
    np.testing.assert_allclose(grad[nz], -lam[nz] * np.sign(z[nz]), atol=1e-9)
    assert np.all(np.abs(grad[~nz]) <= lam[~nz] + 1e-9)


# ------------------------------------------------------------------ the numba Lasso (bcd_lasso)


def test_bcd_lasso_matches_cvxpy_and_certifies_its_gap():
    res = bcd_lasso(A, B, LAM, tol=1e-12, block_size=8)
    assert res.converged
    assert abs(_lasso_objective(res.x) - F_LASSO) <= 1e-6 * F_LASSO
    gap = lasso_duality_gap(A, B, res.x, LAM)
    assert 0 <= gap <= 1e-12 * float(B @ B) * 1.0001
    assert res.history["gap"][-1] == pytest.approx(gap, rel=1e-6, abs=1e-12)


def test_bcd_lasso_sparse_and_dense_inputs_give_the_same_solution():
    mask = np.random.default_rng(2).random(A.shape) < 0.3
    As = A * mask
    dense = bcd_lasso(As, B, LAM / 3, tol=1e-12)
    sparse = bcd_lasso(sp.csc_matrix(As), B, LAM / 3, tol=1e-12)
    np.testing.assert_allclose(dense.x, sparse.x, atol=1e-8)


def test_duality_gap_is_non_negative_everywhere():
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.standard_normal(A.shape[1]) * rng.random(A.shape[1]) < 0.2
        assert lasso_duality_gap(A, B, x.astype(float), LAM) >= -1e-9


def test_bcd_lasso_warns_when_it_runs_out_of_iterations():
    with pytest.warns(ConvergenceWarning, match="bcd_lasso"):
        res = bcd_lasso(A, B, LAM / 50, tol=1e-14, max_iter=1, max_sweeps=1)
    assert not res.converged


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"lam": 0.0}, ValueError, "lam=0.0"),
        ({"lam": -1.0}, ValueError, "lam"),
        ({"lam": np.zeros(120)}, ValueError, "entries > 0"),
        ({"b": np.ones(59)}, ShapeError, "b.shape"),
        ({"A": np.full((60, 120), np.inf)}, ValueError, "NaN/Inf"),
        ({"tol": 0.0}, ValueError, "tol"),
        ({"block_size": 0}, ValueError, "block_size"),
    ],
)
def test_bcd_lasso_rejects_bad_input(kwargs, error, match):
    args = {"A": A, "b": B, "lam": LAM, **kwargs}
    with pytest.raises(error, match=match):
        bcd_lasso(args.pop("A"), args.pop("b"), args.pop("lam"), **args)
