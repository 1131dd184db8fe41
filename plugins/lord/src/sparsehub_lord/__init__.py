"""LORD: Low Rank Decomposition Of Monolingual Code LLMs For One-Shot Compression.

One-shot compression of code LLMs that replaces linear layers by two low-rank factors from the
top eigenvectors of their output activation covariance.

Distribution ``sparsehub-lord``; paper: https://arxiv.org/abs/2309.14021

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "decompose": ".compress",
        "plan_ranks": ".compress",
        "LowRankLinear": ".factors",
        "lord_factors": ".factors",
        "input_root": ".factors",
        "load_decomposed": ".serialization",
        "reproduce": ".reproduction",
        "bench": ".benchmarks",
    },
)
