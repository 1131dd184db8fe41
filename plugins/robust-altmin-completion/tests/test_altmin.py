"""altmin_complete: exact recovery of incoherent low-rank matrices, its result contract and bad inputs."""

import itertools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from sparsehub.errors import ConvergenceWarning, FormatError, ShapeError
from sparsehub.tensor import SparseTensor
from sparsehub_robust_altmin_completion.altmin import altmin_complete, spectral_init
from sparsehub_robust_altmin_completion.factors import factor_distance
from sparsehub_robust_altmin_completion.observations import as_observations
from sparsehub_robust_altmin_completion.problems import random_low_rank_problem


@pytest.fixture(scope="module")
def problem():
    return random_low_rank_problem(150, 120, 3, oversampling=4.0, seed=1)


@pytest.mark.parametrize("solver", ["cg", "sketched", "exact"])
def test_every_solver_recovers_a_small_incoherent_matrix_to_1e_6(problem, solver):
    res = altmin_complete(problem.X_obs, 3, solver=solver, tol=1e-9, seed=0)
    assert res.converged
    assert factor_distance(*res.x, problem.A, problem.B) < 1e-6


def test_recovered_entries_match_the_truth_off_the_observed_set(problem):
    U, V = altmin_complete(problem.X_obs, 3, tol=1e-10, seed=0).x
    truth = problem.A @ problem.B.T
    observed = problem.X_obs.toarray() != 0
    np.testing.assert_allclose((U @ V.T)[~observed], truth[~observed], atol=1e-6 * np.abs(truth).max())


def test_factors_are_balanced_and_carry_the_singular_values(problem):
    res = altmin_complete(problem.X_obs, 3, tol=1e-10, seed=0)
    U, V = res.x
    sigma = res.info["singular_values"]
    np.testing.assert_allclose(U.T @ U, np.diag(sigma), atol=1e-9 * sigma.max())
    np.testing.assert_allclose(V.T @ V, np.diag(sigma), atol=1e-9 * sigma.max())
    np.testing.assert_allclose(sigma, np.linalg.svd(problem.A @ problem.B.T, compute_uv=False)[:3], rtol=1e-6)


def test_history_tracks_a_linearly_falling_residual_and_growing_flops(problem):
    res = altmin_complete(problem.X_obs, 3, tol=1e-9, seed=0)
    residual = np.array(res.history["residual"])
    flops = np.array(res.history["flops"])
    assert len(residual) == res.n_iter + 1
    assert min(residual[-1], res.history["gradient"][-1]) <= 1e-9 < residual[0]
    assert np.all(np.diff(flops) > 0)
    assert residual[-1] < residual[len(residual) // 2] * 1e-2


def test_scipy_formats_and_sparse_tensor_give_the_same_completion(problem):
    coo = problem.X_obs
    runs = [
        altmin_complete(x, 3, tol=1e-9, seed=0).x
        for x in (
            coo,
            sp.csr_matrix(coo),
            sp.csc_array(coo),
            SparseTensor.coo(coo.row, coo.col, coo.data, coo.shape),
        )
    ]
    for U, V in runs[1:]:
        np.testing.assert_allclose(U @ V.T, runs[0][0] @ runs[0][1].T, atol=1e-10)


def test_explicit_zeros_are_observations_not_missing_entries():
    rng = np.random.default_rng(0)
    rows, cols = np.nonzero(rng.random((30, 20)) < 0.6)
    values = rng.standard_normal(rows.size)
    values[:10] = 0.0
    obs = as_observations(sp.coo_array((values, (rows, cols)), shape=(30, 20)))
    assert obs.nnz == rows.size


def test_an_approximate_solver_with_10_percent_error_keeps_the_linear_rate(problem):
    exact = altmin_complete(problem.X_obs, 3, solver="exact", tol=1e-9, seed=0)
    noisy = altmin_complete(problem.X_obs, 3, solver="exact", solver_error=0.1, tol=1e-9, seed=0)
    assert noisy.converged and noisy.n_iter <= 2 * exact.n_iter
    assert factor_distance(*noisy.x, problem.A, problem.B) < 1e-6


def test_cold_started_truncated_solves_stall(problem):
    with pytest.warns(ConvergenceWarning):
        res = altmin_complete(
            problem.X_obs, 3, solver="cg", inner_iter=1, warm_start=False, max_iter=40, tol=1e-9, seed=0
        )
    assert factor_distance(*res.x, problem.A, problem.B) > 1e-3


def test_sample_splitting_uses_fresh_samples_and_still_contracts():
    # the theorem's device: a disjoint part of Ω per half-step; with parts of ~9x the degrees of freedom
    prob = random_low_rank_problem(200, 200, 2, n_obs=30000, seed=1)
    errors = []
    with pytest.warns(ConvergenceWarning):
        altmin_complete(
            prob.X_obs,
            2,
            solver="exact",
            split_samples=True,
            max_iter=3,
            tol=1e-14,
            seed=0,
            callback=lambda U, V: errors.append(factor_distance(U, V, prob.A, prob.B)) and False,
        )
    assert len(errors) == 3
    assert all(b < a for a, b in itertools.pairwise(errors))
    assert errors[-1] < errors[0] / 5


def test_trimming_zeroes_rows_that_break_incoherence():
    prob = random_low_rank_problem(200, 200, 2, oversampling=5.0, seed=2)
    coo = prob.X_obs
    spiky = coo.data.copy()
    spiky[coo.row == 0] *= 200.0  # one row far heavier than the rest: a coherent row space
    obs = as_observations(sp.coo_array((spiky, (coo.row, coo.col)), shape=coo.shape))
    rng = np.random.default_rng(0)
    U, _, trimmed = spectral_init(obs, 2, trim=2.0, incoherence=1.0, rng=rng)
    assert trimmed >= 1 and np.linalg.norm(U[0]) < 1e-12
    np.testing.assert_allclose(U.T @ U, np.eye(2), atol=1e-12)
    assert spectral_init(obs, 2, trim=None, rng=rng)[2] == 0


def test_callback_can_stop_the_iteration(problem):
    seen = []
    res = altmin_complete(
        problem.X_obs, 3, tol=1e-12, seed=0, callback=lambda U, V: seen.append(1) or len(seen) == 3
    )
    assert res.converged and res.n_iter == 3 and res.message == "stopped by callback"


def test_hitting_max_iter_warns_and_reports_not_converged(problem):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = altmin_complete(problem.X_obs, 3, max_iter=2, tol=1e-14, seed=0)
    assert not res.converged and res.n_iter == 2


def test_a_fixed_seed_gives_identical_results(problem):
    a = altmin_complete(problem.X_obs, 3, solver="sketched", tol=1e-8, seed=4).x
    b = altmin_complete(problem.X_obs, 3, solver="sketched", tol=1e-8, seed=4).x
    np.testing.assert_array_equal(a[0], b[0])


def test_too_few_samples_and_short_rows_are_warned_about():
    rng = np.random.default_rng(0)
    rows, cols = np.nonzero(rng.random((40, 40)) < 0.08)
    X = sp.coo_array((rng.standard_normal(rows.size), (rows, cols)), shape=(40, 40))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        altmin_complete(X, 5, max_iter=2, tol=0.5, seed=0)
    messages = " ".join(str(w.message) for w in caught)
    assert "degrees of freedom" in messages and "fewer than rank=5 observations" in messages


def _obs(values=None, shape=(20, 20)):
    rng = np.random.default_rng(0)
    rows, cols = np.nonzero(rng.random(shape) < 0.5)
    v = rng.standard_normal(rows.size) if values is None else values(rows.size)
    return sp.coo_array((v, (rows, cols)), shape=shape)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (lambda: _obs(lambda k: np.r_[np.nan, np.ones(k - 1)]), ValueError, "1 NaN/Inf"),
        (lambda: _obs(lambda k: np.r_[np.inf, -np.inf, np.ones(k - 2)]), ValueError, "2 NaN/Inf"),
        (lambda: sp.coo_array((20, 20)), ValueError, "Ω is empty"),
        (lambda: np.ones((20, 20)), FormatError, "scipy.sparse"),
        (
            lambda: sp.coo_array((np.ones(3), (np.array([0, 0, 1]), np.array([1, 1, 2]))), shape=(20, 20)),
            ValueError,
            "1 duplicated",
        ),
    ],
)
def test_bad_observations_are_rejected_with_the_reason(bad, error, match):
    with pytest.raises(error, match=match):
        altmin_complete(bad(), 2)


@pytest.mark.parametrize("rank", [0, -1, 20, 25, 2.0, True])
def test_rank_outside_1_to_min_shape_is_rejected(rank):
    with pytest.raises(ValueError, match="rank="):
        altmin_complete(_obs(), rank)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"solver": "lsqr"}, "solver="),
        ({"max_iter": 0}, "max_iter="),
        ({"tol": 0}, "tol="),
        ({"tol": -1.0}, "tol="),
        ({"inner_iter": 0}, "inner_iter="),
        ({"init": "zeros"}, "init="),
        ({"sketch_size": 1}, "sketch_size="),
        ({"ridge": -1.0}, "ridge="),
        ({"callback": 3}, "callback="),
    ],
)
def test_bad_options_are_rejected_naming_the_option(kwargs, match):
    with pytest.raises(ValueError, match=match):
        altmin_complete(_obs(), 2, **kwargs)


def test_input_shape_must_be_two_dimensional_and_non_empty():
    with pytest.raises(ShapeError):
        altmin_complete(sp.coo_array((0, 5)), 1)


def test_a_failed_call_does_not_touch_the_input():
    X = _obs(lambda k: np.r_[np.nan, np.ones(k - 1)])
    before = X.data.copy()
    with pytest.raises(ValueError):
        altmin_complete(X, 2)
    np.testing.assert_array_equal(X.data, before)
