"""KroSBLRegressor follows scikit-learn's estimator conventions and wraps kron_sbl faithfully."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from sparsehub.errors import ShapeError
from sparsehub_kronecker_sbl import KroSBLRegressor, kron_sbl, kronecker_sparse_problem, nmse


@pytest.fixture
def problem():
    return kronecker_sparse_problem([(16, 32), (16, 32)], 4, snr_db=20.0, seed=0)


def test_fit_stores_the_kron_sbl_solution_and_its_hyperparameters(problem):
    model = KroSBLRegressor(method="am").fit(problem.factors, problem.y)
    direct = kron_sbl(problem.y, *problem.factors, method="am")
    np.testing.assert_array_equal(model.coef_, direct.x)
    assert model.n_iter_ == direct.n_iter and model.converged_
    assert model.noise_var_ == direct.info["noise_var"]
    assert model.n_features_in_ == 32 * 32
    assert [g.shape for g in model.gammas_] == [(32,), (32,)]
    assert nmse(model.coef_, problem.x) < 1e-2


def test_predict_is_the_kronecker_product_with_the_coefficients(problem):
    model = KroSBLRegressor().fit(problem.factors, problem.y)
    np.testing.assert_allclose(model.predict(problem.factors), problem.dense() @ model.coef_, atol=1e-12)
    assert model.score(problem.factors, problem.y) > 0.9


def test_estimator_obeys_the_sklearn_parameter_conventions():
    model = KroSBLRegressor(method="am", block=0.5)
    check_parameters_default_constructible("KroSBLRegressor", model)
    check_no_attributes_set_in_init("KroSBLRegressor", model)
    check_get_params_invariance("KroSBLRegressor", model)
    check_set_params("KroSBLRegressor", model)
    assert clone(model).get_params() == model.get_params()


def test_parameters_are_validated_in_fit_not_in_init(problem):
    model = KroSBLRegressor(noise_var=-1.0)  # accepted here, as sklearn requires
    with pytest.raises(ValueError, match=r"noise_var=-1.0 is not allowed"):
        model.fit(problem.factors, problem.y)
    with pytest.raises(ValueError, match=r"X='ndarray' is not allowed"):
        KroSBLRegressor().fit(np.ones((2, 2, 2)), problem.y)


def test_predict_needs_a_fit_and_matching_factor_widths(problem):
    with pytest.raises(NotFittedError):
        KroSBLRegressor().predict(problem.factors)
    model = KroSBLRegressor().fit(problem.factors, problem.y)
    with pytest.raises(ShapeError, match=r"X column counts=\[32, 31\]"):
        model.predict([problem.factors[0], problem.factors[1][:, :31]])
