"""SoftImpute against a dense numpy reference of Mazumder-Hastie-Tibshirani's iteration."""

import numpy as np
import pytest
import scipy.sparse as sp

from sparsehub.errors import ConvergenceWarning, ShapeError
from sparsehub_robust_altmin_completion.softimpute import lambda_max, soft_impute


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    m, n = 9, 8
    M = rng.standard_normal((m, 2)) @ rng.standard_normal((2, n))
    mask = rng.random((m, n)) < 0.6
    X = sp.coo_array((M[mask], np.nonzero(mask)), shape=(m, n))
    return X, M, mask


def _dense_soft_impute(M, mask, lam, iters=20000):
    """Z <- S_lam(P_Ω(M) + P_Ω⊥(Z)) with a full SVD each step, to its fixed point."""
    Z = np.zeros_like(M)
    for _ in range(iters):
        u, s, vt = np.linalg.svd(np.where(mask, M, Z), full_matrices=False)
        new = (u * np.maximum(s - lam, 0.0)) @ vt
        if np.linalg.norm(new - Z) < 1e-14:
            return new
        Z = new
    raise AssertionError("dense reference did not converge")


@pytest.mark.parametrize("lam", [0.3, 1.0])
def test_fixed_point_matches_the_dense_reference(tiny, lam):
    X, M, mask = tiny
    res = soft_impute(X, lam, max_iter=5000, tol=1e-24, seed=0)
    U, V = res.x
    assert res.converged and not res.info["rank_capped"]
    np.testing.assert_allclose(U @ V.T, _dense_soft_impute(M, mask, lam), atol=1e-9)


def test_objective_never_increases(tiny):
    # SoftImpute is a majorise-minimise scheme (MHT Lemma 2): the objective is monotone
    X, *_ = tiny
    obj = np.array(soft_impute(X, 0.3, max_iter=200, tol=1e-12, seed=0).history["objective"])
    assert np.all(np.diff(obj) <= 1e-10 * obj[0])


def test_lambda_max_is_the_largest_observed_singular_value_and_gives_zero(tiny):
    X, M, mask = tiny
    lmax = lambda_max(X)
    assert lmax == pytest.approx(np.linalg.svd(np.where(mask, M, 0.0), compute_uv=False)[0], rel=1e-10)
    res = soft_impute(X, 1.001 * lmax, seed=0)
    assert res.converged and res.info["singular_values"].size == 0
    assert res.x[0].shape == (9, 0)


def test_warm_start_reaches_the_same_fixed_point_in_fewer_iterations(tiny):
    X, *_ = tiny
    cold = soft_impute(X, 0.3, max_iter=5000, tol=1e-20, seed=0)
    warm = soft_impute(X, 0.3, max_iter=5000, tol=1e-20, x0=cold.x, seed=0)
    assert warm.n_iter < cold.n_iter
    np.testing.assert_allclose(warm.x[0] @ warm.x[1].T, cold.x[0] @ cold.x[1].T, atol=1e-8)


def test_rank_cap_is_reported_when_it_binds(tiny):
    X, *_ = tiny
    assert soft_impute(X, 0.01, max_rank=1, max_iter=500, tol=1e-6, seed=0).info["rank_capped"]


def test_hitting_max_iter_warns_and_reports_not_converged(tiny):
    X, *_ = tiny
    with pytest.warns(ConvergenceWarning, match="soft_impute"):
        res = soft_impute(X, 0.3, max_iter=2, tol=1e-15, seed=0)
    assert not res.converged


@pytest.mark.parametrize("lam", [0.0, -1.0, np.nan, np.inf, "a"])
def test_non_positive_or_non_finite_lambda_is_rejected(tiny, lam):
    with pytest.raises(ValueError, match="lam="):
        soft_impute(tiny[0], lam)


def test_other_bad_arguments_are_rejected(tiny):
    X, *_ = tiny
    with pytest.raises(ValueError, match="max_rank="):
        soft_impute(X, 0.3, max_rank=8)
    with pytest.raises(ValueError, match="svd_solver="):
        soft_impute(X, 0.3, svd_solver="lobpcg")
    with pytest.raises(ShapeError, match="x0"):
        soft_impute(X, 0.3, x0=(np.ones((9, 2)), np.ones((7, 2))))
    with pytest.raises(ValueError, match="NaN/Inf"):
        soft_impute(sp.coo_array((np.array([np.nan]), (np.array([0]), np.array([0]))), shape=(4, 4)), 0.3)


@pytest.mark.parametrize("shape", [(30, 20), (20, 30)])
def test_arpack_and_propack_reach_the_same_fixed_point_on_wide_and_tall_matrices(shape):
    rng = np.random.default_rng(0)
    m, n = shape
    M = rng.standard_normal((m, 2)) @ rng.standard_normal((2, n))
    mask = rng.random((m, n)) < 0.6
    X = sp.coo_array((M[mask], np.nonzero(mask)), shape=shape)
    a, b = (
        soft_impute(X, 2.0, max_rank=8, max_iter=3000, tol=1e-20, svd_solver=s, seed=0).x
        for s in ("arpack", "propack")
    )
    np.testing.assert_allclose(a[0] @ a[1].T, b[0] @ b[1].T, atol=1e-10)
    np.testing.assert_allclose(a[0] @ a[1].T, _dense_soft_impute(M, mask, 2.0), atol=1e-8)
