"""Sparse Model Soups: A Recipe for Improved Pruning via Model Averaging.

Iterative magnitude pruning in which each phase retrains several same-mask copies with varied
hyperparameters and averages them into one sparse model (:class:`SparseModelSoup`), beside its
baseline :class:`IterativeMagnitudePruning` and the soup recipes :func:`average_sparse` and
:func:`greedy_soup`.

Distribution ``sparsehub-sparse-model-soups``; paper: https://arxiv.org/abs/2306.16788

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "SparseModelSoup": ".estimators",
        "IterativeMagnitudePruning": ".estimators",
        "average_sparse": ".averaging",
        "greedy_soup": ".averaging",
        "support_masks": ".averaging",
        "magnitude_masks": ".pruning",
        "RetrainSetting": ".ingredients",
        "ingredient_settings": ".ingredients",
        "reproduce": ".reproduction",
    },
)
