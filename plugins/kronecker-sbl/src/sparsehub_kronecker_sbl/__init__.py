"""KroSBL: sparse Bayesian learning for Kronecker-structured dictionaries (He & Joseph, arXiv:2307.14719).

Recovers x from ``y = (A_1 ⊗ … ⊗ A_I) x + n`` with a prior whose variances are themselves a
Kronecker product ``γ_1 ⊗ … ⊗ γ_I``, fitted by EM with the paper's AM or SVD hyperparameter
updates, never forming the Kronecker matrix. Also: classical SBL (the baseline), the block-sparse
(pattern-coupled) extension, an sklearn estimator and the Kronecker products themselves.

Distribution ``sparsehub-kronecker-sbl``; paper: https://arxiv.org/abs/2307.14719

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "kron_sbl": ".krosbl",
    "classical_sbl": ".classical",
    "KroSBLRegressor": ".estimator",
    "kron_matvec": ".kronecker",
    "kron_rmatvec": ".kronecker",
    "kron_posterior": ".posterior",
    "kronecker_sparse_problem": ".problems",
    "nmse": ".problems",
    "reproduce": ".reproduction",
})
