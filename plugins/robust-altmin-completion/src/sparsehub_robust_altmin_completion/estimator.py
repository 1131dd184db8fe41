"""A scikit-learn estimator around :func:`~.altmin.altmin_complete` (fit on observed entries, predict others).

``fit`` takes the observed matrix as scipy.sparse (only stored entries are observations);
learned state ends in ``_`` and ``__init__`` only stores parameters, as sklearn expects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from .altmin import altmin_complete
from .factors import predict_entries, to_dense

__all__ = ["AltMinCompletion"]


class AltMinCompletion(BaseEstimator):
    """Low-rank matrix completion by robust alternating minimisation (Gu, Song, Yin, Zhang 2024).

    Parameters are those of :func:`~.altmin.altmin_complete` (``random_state`` is its ``seed``).
    After ``fit(X_obs)`` (X_obs scipy.sparse (m, n), stored entries = observations): ``U_`` (m, k),
    ``V_`` (n, k) with X ≈ U_ V_ᵀ, ``singular_values_``, ``n_iter_``, ``converged_``, ``history_``,
    ``result_`` (the SolverResult), ``shape_``.

    >>> model = AltMinCompletion(rank=5).fit(X_obs)            # doctest: +SKIP
    >>> model.predict(rows, cols)                               # doctest: +SKIP
    """

    def __init__(
        self,
        rank: int = 10,
        *,
        solver: str = "cg",
        max_iter: int = 100,
        tol: float = 1e-6,
        inner_iter: int = 2,
        inner_tol: float = 0.0,
        sketch_size: int | None = None,
        init: str = "svd",
        trim: float | None = 2.0,
        incoherence: float | None = None,
        split_samples: bool = False,
        ridge: float = 1e-10,
        random_state: int | None = None,
    ) -> None:
        self.rank = rank
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.inner_iter = inner_iter
        self.inner_tol = inner_tol
        self.sketch_size = sketch_size
        self.init = init
        self.trim = trim
        self.incoherence = incoherence
        self.split_samples = split_samples
        self.ridge = ridge
        self.random_state = random_state

    def fit(self, X: Any, y: None = None) -> AltMinCompletion:
        """Complete X (scipy.sparse or SparseTensor, (m, n)) at rank ``rank``; returns self."""
        result = altmin_complete(
            X,
            self.rank,
            solver=self.solver,
            max_iter=self.max_iter,
            tol=self.tol,
            inner_iter=self.inner_iter,
            inner_tol=self.inner_tol,
            sketch_size=self.sketch_size,
            init=self.init,
            trim=self.trim,
            incoherence=self.incoherence,
            split_samples=self.split_samples,
            ridge=self.ridge,
            seed=self.random_state,
        )
        self.U_, self.V_ = result.x
        self.shape_ = (self.U_.shape[0], self.V_.shape[0])
        self.singular_values_ = result.info["singular_values"]
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        self.history_ = result.history
        self.result_ = result
        return self

    def _check_fitted(self) -> None:
        from sklearn.exceptions import NotFittedError

        if not hasattr(self, "U_"):
            raise NotFittedError("this AltMinCompletion is not fitted yet: call fit(X_obs) first")

    def predict(self, rows: Any, cols: Any = None) -> Any:
        """The completed entries: ``predict(rows, cols)`` -> array, or ``predict(X_pattern)`` -> sparse.

        With one scipy.sparse argument, returns a CSR matrix of the same shape holding the
        prediction at each stored position of ``X_pattern`` (e.g. a held-out test set).
        """
        self._check_fitted()
        if cols is None:
            import scipy.sparse as sp

            from sparsehub.errors import ShapeError, bad_value

            if not sp.issparse(rows):
                raise bad_value(
                    "rows", type(rows).__name__, "a scipy.sparse pattern, or pass rows and cols arrays"
                )
            if rows.shape != self.shape_:
                raise bad_value("X_pattern.shape", rows.shape, f"the fitted shape {self.shape_}", ShapeError)
            coo = rows.tocoo()
            values = predict_entries(self.U_, self.V_, coo.row, coo.col)
            return sp.csr_matrix((values, (coo.row, coo.col)), shape=self.shape_)
        return predict_entries(self.U_, self.V_, rows, cols)

    def to_dense(self) -> np.ndarray:
        """The completed (m, n) matrix U_ V_ᵀ (small matrices only)."""
        self._check_fitted()
        return to_dense(self.U_, self.V_)
