"""AltMinCompletion follows scikit-learn's estimator conventions and completes held-out entries."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from sparsehub.errors import ShapeError
from sparsehub_robust_altmin_completion.estimator import AltMinCompletion
from sparsehub_robust_altmin_completion.problems import random_low_rank_problem


@pytest.fixture(scope="module")
def problem():
    return random_low_rank_problem(100, 90, 2, oversampling=4.0, n_test=500, seed=3)


def test_fit_then_predict_recovers_held_out_entries(problem):
    model = AltMinCompletion(rank=2, tol=1e-10, random_state=0).fit(problem.X_obs)
    pred = model.predict(problem.test_rows, problem.test_cols)
    np.testing.assert_allclose(pred, problem.test_values, atol=1e-6)
    assert model.converged_ and model.n_iter_ == model.result_.n_iter
    assert model.U_.shape == (100, 2) and model.V_.shape == (90, 2) and model.shape_ == (100, 90)


def test_predict_on_a_sparse_pattern_returns_values_at_its_positions(problem):
    model = AltMinCompletion(rank=2, tol=1e-10, random_state=0).fit(problem.X_obs)
    pattern = sp.coo_array(
        (np.ones(problem.test_rows.size), (problem.test_rows, problem.test_cols)), shape=(100, 90)
    )
    out = model.predict(pattern)
    np.testing.assert_allclose(
        out.toarray()[problem.test_rows, problem.test_cols], problem.test_values, atol=1e-6
    )
    np.testing.assert_allclose(
        model.to_dense()[problem.test_rows, problem.test_cols], problem.test_values, atol=1e-6
    )
    with pytest.raises(ShapeError):
        model.predict(sp.coo_array((5, 5)))


def test_init_only_stores_parameters_and_clone_round_trips():
    model = AltMinCompletion(rank=7, solver="sketched", random_state=3)
    params = model.get_params()
    assert params["rank"] == 7 and params["solver"] == "sketched" and params["random_state"] == 3
    twin = clone(model)
    assert twin.get_params() == params and not hasattr(twin, "U_")
    # validation happens in fit, not in __init__
    bad = AltMinCompletion(rank=-1)
    with pytest.raises(ValueError, match="rank=-1"):
        bad.fit(random_low_rank_problem(20, 20, 2, oversampling=3.0).X_obs)


def test_predict_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        AltMinCompletion().predict(np.array([0]), np.array([0]))
