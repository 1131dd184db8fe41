"""bcd_minimize: every rule reaches the optimum, the greedy rules choose what their definitions say,
updates solve their block models, and bad input fails loudly without side effects."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.sparse.linalg import spsolve

from sparsehub.errors import ConvergenceWarning, PatternError, ShapeError
from sparsehub_block_coordinate_descent.bcd import bcd_minimize
from sparsehub_block_coordinate_descent.datasets import lattice_label_propagation
from sparsehub_block_coordinate_descent.problems import LeastSquares, Logistic, Quadratic, Softmax
from sparsehub_block_coordinate_descent.selection import Selector


def _ls(seed=0, n=40, p=12):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p)) * rng.uniform(0.3, 4.0, p)
    return LeastSquares(A, rng.standard_normal(n))


LS = _ls()
X_STAR = np.linalg.lstsq(LS.A, LS.b, rcond=None)[0]

RULES = [
    ("order", "cyclic", "gradient"),
    ("order", "random", "gradient"),
    ("sort", "lipschitz", "gradient"),
    ("order", "gs", "matrix"),
    ("avg", "gsl", "matrix"),
    ("order", "gsd", "gradient"),
    ("order", "gsq", "matrix"),
    ("variable", "cyclic", "matrix"),
    ("variable", "random", "gradient"),
    ("variable", "lipschitz", "matrix"),
    ("variable", "gs", "gradient"),
    ("variable", "gsl", "matrix"),
    ("variable", "gsd", "matrix"),
    ("variable", "gsd_hb", "matrix"),
    ("variable", "gsq", "matrix"),
    ("variable", "iht", "gradient"),
    ("variable", "gsd", "newton"),
    ("variable", "gsd", "la"),
]


@pytest.mark.parametrize("partition, selection, update", RULES)
def test_every_rule_and_update_reaches_the_least_squares_solution(partition, selection, update):
    res = bcd_minimize(
        LS,
        partition=partition,
        selection=selection,
        update=update,
        block_size=3,
        max_iter=20000,
        tol=1e-9,
        random_state=0,
    )
    assert res.converged
    np.testing.assert_allclose(res.x, X_STAR, rtol=1e-6, atol=1e-7)
    F = np.asarray(res.history["objective"])
    assert np.all(np.diff(F) <= 1e-9 * abs(F[0]))  # every rule here is a descent method


def test_gsd_variable_block_is_the_top_tau_of_scaled_gradients():
    x = np.random.default_rng(1).standard_normal(LS.n_params)
    g = LS.grad(x)
    L = LS.coord_lipschitz()
    sel = Selector("gsd", LS, L, L > 0, 4, None, None, None, np.random.default_rng(0))
    chosen = sel.variable(0, g, x)
    expected = np.sort(np.argsort(-np.abs(g) / np.sqrt(L))[:4])
    np.testing.assert_array_equal(chosen, expected)
    gs = Selector("gs", LS, L, L > 0, 4, None, None, None, np.random.default_rng(0)).variable(0, g, x)
    np.testing.assert_array_equal(gs, np.sort(np.argsort(-np.abs(g))[:4]))


def test_fixed_gsq_picks_the_block_with_the_largest_newton_decrement():
    from sparsehub_block_coordinate_descent.curvature import BlockCurvature

    blocks = [np.arange(i, i + 3) for i in range(0, 12, 3)]
    x = np.random.default_rng(2).standard_normal(LS.n_params)
    g = LS.grad(x)
    L = LS.coord_lipschitz()
    sel = Selector("gsq", LS, L, L > 0, 3, blocks, BlockCurvature(LS, blocks), None, np.random.default_rng(0))
    brute = [g[b] @ np.linalg.solve(LS.A[:, b].T @ LS.A[:, b], g[b]) for b in blocks]
    assert sel.fixed(0, g, x) == int(np.argmax(brute))


def test_matrix_update_is_exact_block_minimisation_for_least_squares():
    x0 = np.random.default_rng(3).standard_normal(LS.n_params)
    with pytest.warns(ConvergenceWarning):
        res = bcd_minimize(
            LS,
            x0,
            partition=[np.arange(0, 6), np.arange(6, 12)],
            selection="cyclic",
            update="matrix",
            max_iter=1,
            tol=0.0,
        )
    g = LS.grad(res.x)
    np.testing.assert_allclose(g[:6], 0.0, atol=1e-9)  # block 0 is now optimal given block 1
    np.testing.assert_array_equal(res.x[6:], x0[6:])


def test_message_passing_on_a_tree_block_equals_the_dense_block_solve():
    lp = lattice_label_propagation(6, 7, n_labeled=5, seed=4)
    problem = lp.problem
    x0 = np.random.default_rng(5).standard_normal(problem.n_params)
    out = {}
    for update in ("message_passing", "matrix"):
        with pytest.warns(ConvergenceWarning):
            out[update] = bcd_minimize(
                problem, x0, partition=lp.trees, selection="cyclic", update=update, max_iter=3, tol=0.0
            ).x
    np.testing.assert_allclose(out["message_passing"], out["matrix"], rtol=1e-10, atol=1e-10)


def test_tree_partitions_and_greedy_forests_solve_label_propagation():
    lp = lattice_label_propagation(10, 10, n_labeled=8, seed=6)
    problem = lp.problem
    x_star = spsolve(problem.Q.tocsc(), problem.c)
    for kwargs in (
        {"partition": lp.trees, "selection": "cyclic"},
        {"partition": lp.trees, "selection": "gsq"},
        {"selection": "tree"},
        {"partition": lp.red_black, "selection": "gs"},
    ):
        res = bcd_minimize(problem, update="message_passing", max_iter=5000, tol=1e-8, **kwargs)
        assert res.converged, kwargs
        np.testing.assert_allclose(res.x, x_star, rtol=1e-6, atol=1e-6)


def test_message_passing_on_a_block_with_a_cycle_raises_before_any_iteration():
    lp = lattice_label_propagation(4, 4, n_labeled=1, seed=0)
    p = lp.problem.n_params
    with pytest.raises(PatternError, match="cycle"):
        bcd_minimize(lp.problem, partition=[np.arange(p)], selection="cyclic", update="message_passing")


def test_logistic_and_softmax_reach_the_lbfgs_optimum():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((60, 8))
    problems = [
        Logistic(A, np.where(rng.random(60) < 0.5, -1.0, 1.0), l2=0.5),
        Softmax(sp.csc_matrix(A), rng.integers(0, 3, 60), l2=0.5),
    ]
    for problem in problems:
        ref = minimize(
            lambda x, pr=problem: (pr.value(x), pr.grad(x).ravel()),
            np.zeros(problem.n_params),
            jac=True,
            method="L-BFGS-B",
            options={"gtol": 1e-11, "ftol": 1e-16, "maxiter": 5000},
        )
        for update in ("newton", "gradient", "matrix"):
            res = bcd_minimize(
                problem, selection="gsd", update=update, block_size=4, max_iter=20000, tol=1e-7
            )
            assert res.converged and res.x.shape == problem.shape
            assert problem.value(res.x) == pytest.approx(ref.fun, rel=1e-9)


def test_not_converging_warns_and_reports_converged_false():
    with pytest.warns(ConvergenceWarning, match="bcd_minimize did not converge"):
        res = bcd_minimize(LS, selection="random", update="gradient", max_iter=3, tol=1e-12, random_state=0)
    assert not res.converged and res.n_iter == 3 and "max_iter" in res.message


def test_random_rules_are_reproducible_from_the_seed():
    kwargs = dict(selection="random", update="gradient", max_iter=50, tol=0.0)
    with pytest.warns(ConvergenceWarning):
        a = bcd_minimize(LS, random_state=3, **kwargs)
        b = bcd_minimize(LS, random_state=3, **kwargs)
        c = bcd_minimize(LS, random_state=4, **kwargs)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)


def test_all_zero_features_are_skipped_and_reported():
    rng = np.random.default_rng(8)
    A = rng.standard_normal((30, 6))
    A[:, 2] = 0.0
    problem = LeastSquares(A, rng.standard_normal(30))
    x0 = np.full(6, 0.5)
    res = bcd_minimize(problem, x0, selection="gsd", update="matrix", block_size=2, max_iter=1000, tol=1e-9)
    assert res.converged and res.info["zero_lipschitz"].tolist() == [2]
    assert res.x[2] == 0.5  # never updated: f does not depend on it
    keep = [0, 1, 3, 4, 5]
    np.testing.assert_allclose(res.x[keep], np.linalg.lstsq(A[:, keep], problem.b, rcond=None)[0], atol=1e-7)
    res_l1 = bcd_minimize(
        problem, x0, reg=("l1", 0.1), selection="gsd", block_size=2, max_iter=1000, tol=1e-9
    )
    assert res_l1.x[2] == 0.0  # with a penalty its minimiser is 0


def test_a_failed_call_does_not_modify_x0():
    x0 = np.ones(LS.n_params)
    with pytest.raises(ValueError):
        bcd_minimize(LS, x0, selection="nope")
    res = bcd_minimize(LS, x0, max_iter=5000, tol=1e-8)
    assert res.converged
    np.testing.assert_array_equal(x0, 1.0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"block_size": 0}, ValueError, "block_size=0"),
        ({"block_size": 13}, ValueError, r"block_size=13 .* \[1, 12\]"),
        ({"selection": "greedy"}, ValueError, "selection='greedy'"),
        ({"update": "exact"}, ValueError, "update='exact'"),
        ({"partition": "rows"}, ValueError, "partition='rows'"),
        ({"partition": [np.arange(6), np.arange(5, 12)]}, PatternError, "overlap"),
        ({"partition": [np.arange(6)]}, PatternError, "missing"),
        ({"reg": ("l1", 0.0)}, ValueError, "lam"),
        ({"reg": ("l1", -1.0)}, ValueError, "lam"),
        ({"reg": ("l2", 1.0)}, ValueError, "reg="),
        ({"max_iter": -1}, ValueError, "max_iter"),
        ({"tol": -1e-3}, ValueError, "tol"),
        ({"x0": np.ones(5)}, ShapeError, "x.shape"),
        ({"x0": np.full(12, np.nan)}, ValueError, "NaN"),
        ({"selection": "tree"}, ValueError, "graph"),
        ({"update": "message_passing"}, ValueError, "graph"),
        ({"selection": "gsr"}, ValueError, "regulariser"),
        ({"partition": "order", "selection": "gsd_hb"}, ValueError, "fixed partitions"),
    ],
)
def test_bad_arguments_name_the_argument_and_what_is_allowed(kwargs, error, match):
    with pytest.raises(error, match=match):
        bcd_minimize(LS, **kwargs)


def test_problem_must_be_a_problem():
    with pytest.raises(ValueError, match="problem="):
        bcd_minimize("least squares")


def test_matrix_update_on_a_non_convex_quadratic_is_refused():
    Q = np.array([[1.0, 3.0], [3.0, 1.0]])  # indefinite
    with pytest.raises(ValueError, match="positive semidefinite"):
        bcd_minimize(
            Quadratic(Q, np.ones(2)), partition=[np.array([0, 1])], selection="cyclic", update="matrix"
        )
