"""To prune, or not to prune: exploring the efficacy of pruning for model compression (Zhu & Gupta, 2017).

Gradual magnitude pruning during training: a cubic schedule raises sparsity step by step, each
time masking the smallest-magnitude weights per layer. :class:`GradualMagnitudePruner` follows the
sparse-training life cycle (``attach`` / ``step`` / ``state_dict`` / ``remove``).

Distribution ``sparsehub-gradual-magnitude-pruning``; paper: https://arxiv.org/abs/1710.01878

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "GradualMagnitudePruner": ".gradual",
        "reproduce": ".reproduction",
        "bench": ".benchmarks",
    },
)
