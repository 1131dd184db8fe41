"""scikit-learn estimators on top of the greedy BCD solvers: ``BCDLasso`` and ``BCDLogisticRegression``.

They follow scikit-learn's conventions (``__init__`` only stores parameters, validation happens in
``fit``, learned attributes end in ``_``), so they drop into pipelines and grid searches.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from sparsehub.errors import ConvergenceWarning, bad_value

__all__ = ["BCDLasso", "BCDLogisticRegression"]


def _positive(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise bad_value(name, value, "a finite number > 0") from None
    if not np.isfinite(v) or v <= 0:
        raise bad_value(name, value, "a finite number > 0")
    return v


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise bad_value(name, value, "an int >= 1")
    return int(value)


def _relay(caught: list[warnings.WarningMessage]) -> None:
    """Re-emit sparsehub's ConvergenceWarning as scikit-learn's, which model selection tools expect."""
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            warnings.warn(str(w.message), SklearnConvergenceWarning, stacklevel=3)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


class BCDLasso(RegressorMixin, BaseEstimator):
    """Lasso fitted by greedy variable-block BCD (GS-q blocks, exact block updates, numba inner loops).

    Minimises 1 / (2 n) ||y - X w - w0||^2 + alpha ||w||_1, scikit-learn's Lasso objective, and
    stops at the same certified accuracy (duality gap <= tol * ||y||^2, on centred data).

    Parameters: alpha > 0; fit_intercept (dense X only: the data are centred); tol; max_iter
    (outer BCD iterations); block_size (the smallest variable block).
    Attributes: coef_ (p,), intercept_, n_iter_, dual_gap_, n_features_in_, result_ (SolverResult).
    """

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        fit_intercept: bool = True,
        tol: float = 1e-4,
        max_iter: int = 200,
        block_size: int = 64,
    ) -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.block_size = block_size

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = not self.fit_intercept  # centring sparse X would densify it
        return tags

    def fit(self, X: Any, y: Any) -> BCDLasso:
        """Fit on X (n, p) dense or scipy.sparse and y (n,)."""
        from .lasso import bcd_lasso

        alpha = _positive("alpha", self.alpha)
        tol = _positive("tol", self.tol)
        max_iter = _count("max_iter", self.max_iter)
        block_size = _count("block_size", self.block_size)
        X, y = validate_data(self, X, y, accept_sparse="csc", dtype=np.float64, order="F", y_numeric=True)
        sparse = hasattr(X, "tocsc")
        if sparse and self.fit_intercept:
            raise bad_value("fit_intercept", True, "False for scipy.sparse X (centring would densify it)")
        n = X.shape[0]
        x_mean, y_mean = np.zeros(X.shape[1]), 0.0
        if self.fit_intercept:
            x_mean, y_mean = X.mean(axis=0), float(y.mean())
            X = np.asfortranarray(X - x_mean)
            y = y - y_mean
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = bcd_lasso(
                X, y, alpha * n, tol=tol, max_iter=max_iter, block_size=block_size, check_input=False
            )
        _relay(caught)
        self.coef_ = res.x
        self.intercept_ = y_mean - float(x_mean @ res.x) if self.fit_intercept else 0.0
        self.n_iter_ = res.n_iter
        self.dual_gap_ = res.info["gap"] / n
        self.result_ = res
        return self

    def predict(self, X: Any) -> np.ndarray:
        """X w + w0 for X (m, p)."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=np.float64, reset=False)
        return np.asarray(X @ self.coef_).reshape(-1) + self.intercept_


class BCDLogisticRegression(ClassifierMixin, BaseEstimator):
    """L1-regularised logistic regression by greedy BCD with proximal-Newton block updates.

    Minimises sum_i loss_i + (1 / C) ||W||_1 (scikit-learn's penalty='l1' objective), the
    intercept unpenalised. Two classes use the binary logistic loss, more the multinomial
    (softmax) loss. Blocks: the GS-q rule over variable blocks of ``block_size``.

    Attributes: coef_ (1, p) or (k, p), intercept_, classes_, n_iter_, n_features_in_, result_.
    """

    def __init__(
        self,
        C: float = 1.0,
        *,
        fit_intercept: bool = True,
        tol: float = 1e-6,
        max_iter: int = 1000,
        block_size: int = 50,
        update: str = "newton",
    ) -> None:
        self.C = C
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.block_size = block_size
        self.update = update

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def fit(self, X: Any, y: Any) -> BCDLogisticRegression:
        """Fit on X (n, p) dense or scipy.sparse and labels y (n,)."""
        from .bcd import bcd_minimize
        from .problems import Logistic, Softmax

        C = _positive("C", self.C)
        tol = _positive("tol", self.tol)
        max_iter = _count("max_iter", self.max_iter)
        block_size = _count("block_size", self.block_size)
        X, y = validate_data(self, X, y, accept_sparse="csc", dtype=np.float64)
        check_classification_targets(y)
        self.classes_, labels = np.unique(y, return_inverse=True)
        k = self.classes_.size
        if k < 2:
            raise bad_value("y", f"one class {self.classes_.tolist()}", "at least two classes")
        if self.fit_intercept:
            import scipy.sparse as sp

            ones = np.ones((X.shape[0], 1))
            X = sp.hstack([X, ones], format="csc") if hasattr(X, "tocsc") else np.hstack([X, ones])
        p = X.shape[1]
        problem = Logistic(X, 2.0 * labels - 1.0) if k == 2 else Softmax(X, labels, n_classes=k)
        lam = np.full(problem.shape, 1.0 / C)
        if self.fit_intercept:
            lam[p - 1] = 0.0  # the intercept row is unpenalised
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = bcd_minimize(
                problem,
                reg=("l1", lam.ravel()),
                selection="gsd",
                update=self.update,
                block_size=min(block_size, problem.n_params),
                max_iter=max_iter,
                tol=tol,
            )
        _relay(caught)
        W = res.x.reshape(p, -1)  # (p, 1) binary, (p, k) multinomial
        self.coef_ = (W[:-1] if self.fit_intercept else W).T.copy()
        self.intercept_ = W[-1].copy() if self.fit_intercept else np.zeros(W.shape[1])
        self.n_iter_ = res.n_iter
        self.result_ = res
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """X W^T + w0: (m,) for two classes, (m, k) otherwise."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=np.float64, reset=False)
        scores = np.asarray(X @ self.coef_.T) + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (m, k)."""
        from scipy.special import expit, softmax

        scores = self.decision_function(X)
        if scores.ndim == 1:
            p1 = expit(scores)
            return np.column_stack([1.0 - p1, p1])
        return softmax(scores, axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row of X."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
