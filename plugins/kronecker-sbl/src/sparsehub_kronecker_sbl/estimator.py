"""A scikit-learn estimator around :func:`~sparsehub_kronecker_sbl.krosbl.kron_sbl`.

``X`` is the Kronecker dictionary given by its factors — a sequence ``[A_1, …, A_I]`` — because
the point of KroSBL is never to form ``A_1 ⊗ … ⊗ A_I``; ``y`` is the measurement vector. So
``KroSBLRegressor().fit([A1, A2], y).coef_`` is the recovered x, ``predict([A1, A2])`` is
``(A1 ⊗ A2) coef_``, and ``get_params`` / ``set_params`` / ``clone`` behave as for any estimator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from sparsehub.errors import ShapeError, bad_value

from .kronecker import kron_matvec
from .krosbl import kron_sbl
from .validation import as_factors

__all__ = ["KroSBLRegressor"]


class KroSBLRegressor(RegressorMixin, BaseEstimator):
    """Kronecker-structured sparse Bayesian learning as an sklearn regressor (He & Joseph, Alg. 1/2).

    Parameters are those of :func:`kron_sbl` (``method``, ``noise_var``, ``max_iter``, ``tol``,
    ``prune_rel``, ``block``, ``inner_tol``, ``max_inner``); they are validated in :meth:`fit`.

    Attributes
    ----------
    coef_ : (N,) posterior mean of x, ``N = Π N_i`` (C order: ``coef_.reshape(N_1, …, N_I)``).
    coef_variance_ : (N,) posterior variances.
    gammas_ : list of the prior-variance factors γ_i (full length, zeros where pruned).
    support_ : tuple of the kept indices of every factor.
    noise_var_ : σ² used at the end (the given one, or the estimate).
    n_iter_, converged_ : EM iterations and whether ``tol`` was met.
    factor_shapes_ : the ``(M_i, N_i)`` seen in fit; ``n_features_in_`` = N.
    result_ : the full :class:`~sparsehub.solver.SolverResult` (history, flops).
    """

    def __init__(self, method: str = "svd", noise_var: float | None = None, max_iter: int = 150,
                 tol: float = 1e-4, prune_rel: float | None = None, block: Any = None,
                 inner_tol: float = 1e-6, max_inner: int = 200) -> None:
        self.method = method
        self.noise_var = noise_var
        self.max_iter = max_iter
        self.tol = tol
        self.prune_rel = prune_rel
        self.block = block
        self.inner_tol = inner_tol
        self.max_inner = max_inner

    def fit(self, X: Sequence[Any], y: Any) -> KroSBLRegressor:
        """Run KroSBL on ``y = (X[0] ⊗ … ⊗ X[-1]) x + n``; X is the sequence of factor matrices."""
        factors = _factor_list(X)
        result = kron_sbl(y, *factors, method=self.method, noise_var=self.noise_var, max_iter=self.max_iter,
                          tol=self.tol, prune_rel=self.prune_rel, block=self.block,
                          inner_tol=self.inner_tol, max_inner=self.max_inner)
        self.result_ = result
        self.coef_ = result.x
        self.coef_variance_ = result.info["variance"]
        self.gammas_ = result.info.get("gammas", [result.info.get("gamma")])
        support = result.info["support"]
        self.support_ = support if isinstance(support, tuple) else (support,)
        self.noise_var_ = result.info["noise_var"]
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        self.factor_shapes_ = [f.shape for f in factors]
        self.n_features_in_ = int(np.prod([f.shape[1] for f in factors]))
        return self

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        """``(X[0] ⊗ … ⊗ X[-1]) coef_`` without forming the Kronecker matrix; factors need N_i as in fit."""
        check_is_fitted(self, "coef_")
        factors = as_factors(_factor_list(X))
        widths = [f.shape[1] for f in factors]
        fitted = [s[1] for s in self.factor_shapes_]
        if widths != fitted:
            raise bad_value("X column counts", widths, f"{fitted} as in fit", ShapeError)
        return kron_matvec(factors, self.coef_)


def _factor_list(X: Any) -> list[Any]:
    if isinstance(X, np.ndarray) and X.ndim == 2:
        return [X]  # a single dense dictionary: classical SBL (kron_sbl warns)
    if not isinstance(X, (list, tuple)):
        raise bad_value("X", type(X).__name__, "a list of factor matrices [A_1, ..., A_I]")
    return list(X)
