"""BCDLasso and BCDLogisticRegression: scikit-learn's objectives and conventions."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso
from sklearn.model_selection import GridSearchCV

from sparsehub_block_coordinate_descent.estimators import BCDLasso, BCDLogisticRegression

cp = pytest.importorskip("cvxpy")


def _regression(seed=0, n=80, p=40):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + 0.5
    w = np.zeros(p)
    w[:5] = rng.standard_normal(5) * 2
    return X, X @ w + 3.0 + 0.1 * rng.standard_normal(n)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_bcd_lasso_matches_sklearn_lasso(fit_intercept):
    X, y = _regression()
    ours = BCDLasso(alpha=0.05, fit_intercept=fit_intercept, tol=1e-12).fit(X, y)
    ref = Lasso(alpha=0.05, fit_intercept=fit_intercept, tol=1e-12, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-7)
    assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-7)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), atol=1e-6)
    assert ours.n_iter_ >= 1 and ours.n_features_in_ == X.shape[1]


def test_bcd_lasso_on_sparse_input_without_intercept():
    X, y = _regression(1)
    Xs = sp.csr_matrix(X * (np.abs(X) > 0.8))
    ours = BCDLasso(alpha=0.05, fit_intercept=False, tol=1e-12).fit(Xs, y)
    ref = Lasso(alpha=0.05, fit_intercept=False, tol=1e-12, max_iter=100000).fit(Xs, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-7)
    with pytest.raises(ValueError, match="fit_intercept=True"):
        BCDLasso(alpha=0.05).fit(Xs, y)


def test_bcd_lasso_is_cloneable_and_grid_searchable():
    X, y = _regression(2)
    est = BCDLasso(alpha=0.1, block_size=16)
    assert clone(est).get_params() == est.get_params()
    search = GridSearchCV(BCDLasso(), {"alpha": [0.01, 0.1, 1.0]}, cv=3).fit(X, y)
    assert search.best_params_["alpha"] in (0.01, 0.1, 1.0)


def test_bcd_lasso_not_converging_raises_sklearns_convergence_warning():
    X, y = _regression(3)
    with pytest.warns(ConvergenceWarning, match="bcd_lasso did not converge"):
        BCDLasso(alpha=1e-4, tol=1e-15, max_iter=1).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"alpha": 0.0}, "alpha=0.0"),
        ({"alpha": -1}, "alpha=-1"),
        ({"tol": 0}, "tol=0"),
        ({"max_iter": 0}, "max_iter=0"),
        ({"block_size": 2.5}, "block_size=2.5"),
    ],
)
def test_bcd_lasso_validates_its_parameters_in_fit(params, match):
    X, y = _regression()
    est = BCDLasso(**params)  # __init__ only stores
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)


def test_bcd_lasso_rejects_nan_data():
    X, y = _regression()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        BCDLasso().fit(X, y)


def _classification(seed=0, n=120, p=15, k=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((p, k)) * (rng.random((p, k)) < 0.4) * 2
    labels = np.argmax(X @ W + rng.gumbel(size=(n, k)), axis=1)
    return X, np.array(["a", "b", "c", "d"])[labels]


def test_binary_l1_logistic_regression_reaches_the_cvxpy_objective():
    X, y = _classification()
    C = 0.5
    est = BCDLogisticRegression(C=C, tol=1e-9).fit(X, y)
    s = np.where(y == est.classes_[1], 1.0, -1.0)
    w, b = cp.Variable(X.shape[1]), cp.Variable()
    prob = cp.Problem(cp.Minimize(cp.sum(cp.logistic(-cp.multiply(s, X @ w + b))) + cp.norm1(w) / C))
    prob.solve(solver=cp.CLARABEL)
    ours = float(np.logaddexp(0, -s * est.decision_function(X)).sum() + np.abs(est.coef_).sum() / C)
    assert ours == pytest.approx(prob.value, rel=1e-6)
    assert est.coef_.shape == (1, X.shape[1]) and est.intercept_.shape == (1,)
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(est.predict(X)) <= set(est.classes_)
    assert (est.predict(X) == y).mean() > 0.7


def test_multinomial_l1_logistic_regression_reaches_the_cvxpy_objective():
    X, y = _classification(1, k=3)
    C = 1.0
    est = BCDLogisticRegression(C=C, tol=1e-9, block_size=30).fit(X, y)
    k = est.classes_.size
    Y = (y[:, None] == est.classes_[None, :]).astype(float)
    W, b = cp.Variable((X.shape[1], k)), cp.Variable(k)
    Z = X @ W + np.ones((X.shape[0], 1)) @ cp.reshape(b, (1, k), order="C")
    prob = cp.Problem(
        cp.Minimize(cp.sum(cp.log_sum_exp(Z, axis=1)) - cp.sum(cp.multiply(Y, Z)) + cp.sum(cp.abs(W)) / C)
    )
    prob.solve(solver=cp.CLARABEL)
    scores = est.decision_function(X)
    m = scores.max(axis=1)
    ours = float(
        (m + np.log(np.exp(scores - m[:, None]).sum(axis=1))).sum()
        - (Y * scores).sum()
        + np.abs(est.coef_).sum() / C
    )
    assert ours == pytest.approx(prob.value, rel=1e-6)
    assert est.coef_.shape == (k, X.shape[1])


def test_logistic_regression_rejects_a_single_class_and_bad_c():
    X, y = _classification()
    with pytest.raises(ValueError, match="two classes"):
        BCDLogisticRegression().fit(X, np.zeros(X.shape[0]))
    with pytest.raises(ValueError, match="C=0"):
        BCDLogisticRegression(C=0).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@pytest.mark.parametrize(
    "estimator",
    [BCDLasso(alpha=0.1), BCDLasso(alpha=0.1, fit_intercept=False), BCDLogisticRegression()],
    ids=repr,
)
def test_estimators_pass_sklearns_estimator_checks(estimator):
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(estimator, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
