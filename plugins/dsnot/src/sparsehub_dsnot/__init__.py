"""Dynamic Sparse No Training (DSnoT): training-free fine-tuning for sparse LLMs.

Training-free refinement of a sparse LLM mask that swaps pruned and kept weights per row to
cancel the expected reconstruction error, with no weight updates (Zhang et al., ICLR 2024).

Distribution ``sparsehub-dsnot``; paper: https://arxiv.org/abs/2310.08915

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "prune": ".pruner",
        "refine_unstructured": ".refine",
        "refine_nm": ".refine",
        "expected_error": ".refine",
        "RefineResult": ".refine",
        "reproduce": ".reproduction",
    },
)
