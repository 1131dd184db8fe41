"""Flash-LLM: Enabling Cost-Effective and Highly-Efficient Large Generative Model Inference with Unstructured Sparsity.

"Load as sparse, compute as dense": unstructured sparse weights stay compressed in the Tiled-CSL
format (:class:`TiledCSL`) and each tile is expanded only on chip. This package provides the
format (registered as SparseTensor plugin format ``"tiled-csl"``), the skinny SpMM
``Y = W @ X`` on it (:func:`flash_llm_spmm`; numba CPU kernel and numba.cuda kernel, also
registered as ``sparsehub.ops.spmm(..., algorithm="tiled-csl")``) and an inference Linear
(:class:`FlashLLMLinear`).

Distribution ``sparsehub-flash-llm-spmm``; paper: https://arxiv.org/abs/2309.10285

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "TiledCSL": ".tiled_csl",
        "flash_llm_spmm": ".spmm",
        "FlashLLMLinear": ".linear",
        "footprint": ".spmm",
        "reproduce": ".reproduction",
        "bench": ".benchmarks",
    },
)
