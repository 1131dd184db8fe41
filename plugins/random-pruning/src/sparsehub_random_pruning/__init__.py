"""The Unreasonable Effectiveness of Random Pruning: Return of the Most Naive Baseline for Sparse Training.

Prunes at initialisation with random positions and per-layer densities (uniform, uniform+, ER,
ERK, or SNIP ratios), then trains the fixed sparse network from scratch:
``RandomPruner(density=0.1, distribution="erk", seed=0).fit(model).apply(model, optimizer)``.

Distribution ``sparsehub-random-pruning``; paper: https://arxiv.org/abs/2202.02643

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "DISTRIBUTIONS": ".pruner",
        "RandomPruner": ".pruner",
        "snip_densities": ".snip_ratios",
        "reproduce": ".reproduction",
    },
)
