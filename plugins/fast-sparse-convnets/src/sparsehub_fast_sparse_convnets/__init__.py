"""Fast Sparse ConvNets (Elsen, Dukhan, Gale, Simonyan; arXiv:1911.09723).

Runs gradually pruned 1x1 convolutions in CHW layout as unstructured sparse x dense products with
XNNPACK's ``f32-spmm`` micro-kernel on the CPU (numba) and a numba.cuda kernel:

- :func:`spmm_chw` — the sparse 1x1 convolution with fused bias and ReLU/ReLU6 clamp;
- :func:`pack_xnnpack` — W and b as XNNPACK's streams (values with bias, nnz per channel, deltas);
- :class:`SparseConv1x1CHW`, :func:`convert` — inference modules, with BatchNorm folding and a dense
  fallback where the kernel does not pay (:func:`prefers_sparse`);
- :class:`PointwisePruner` — the paper's recipe: gradual magnitude pruning of the 1x1 convs only;
- :func:`mobilenet_v1`, :func:`tiny_mobilenet`, :func:`pointwise_shapes` — the networks.

Distribution ``sparsehub-fast-sparse-convnets``; paper: https://arxiv.org/abs/1911.09723

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "spmm_chw": ".chw",
    "clamp_bounds": ".chw",
    "pack_xnnpack": ".packing",
    "XnnpackWeights": ".packing",
    "prefers_sparse": ".dispatch",
    "SparseConv1x1CHW": ".modules",
    "convert": ".modules",
    "pointwise_problem": ".modules",
    "PointwisePruner": ".pruning",
    "mobilenet_v1": ".mobilenet",
    "tiny_mobilenet": ".mobilenet",
    "pointwise_shapes": ".mobilenet",
    "reproduce": ".reproduction",
})
