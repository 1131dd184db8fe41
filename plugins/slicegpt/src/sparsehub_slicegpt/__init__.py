"""SliceGPT: Compress Large Language Models by Deleting Rows and Columns (Ashkboos et al., ICLR 2024).

Computational invariance lets every residual stream of a pre-RMSNorm transformer be rotated by an
orthogonal Q; with Q the principal components of the stream on calibration data, the trailing
dimensions carry little signal and are deleted from the embedding, every reader and writer and the
head. :func:`slice_model` returns an ordinary, smaller ``transformers`` model for Llama-family
models, and a subclass of the stock class (``SlicedOPTForCausalLM``, ``SlicedGPT2LMHeadModel``,
``SlicedLlamaForCausalLM`` for per-block bases) where the stock class cannot hold the sliced shapes.

Distribution ``sparsehub-slicegpt``; paper: https://arxiv.org/abs/2401.15024

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "slice_model": ".slicing",
        "slice_variants": ".slicing",
        "sliced_width": ".slicing",
        "fold_norms": ".invariance",
        "reproduce": ".reproduction",
        "bench": ".benchmarks",
        "SlicedOPTForCausalLM": ".sliced_models",
        "SlicedGPT2LMHeadModel": ".sliced_models",
        "SlicedLlamaForCausalLM": ".sliced_models",
    },
)
