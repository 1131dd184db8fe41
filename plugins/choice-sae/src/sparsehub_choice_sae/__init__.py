"""Adaptive Sparse Allocation with Mutual Choice & Feature Choice Sparse Autoencoders (Ayonrinde, 2024).

Sparse autoencoders that allocate active latents across a batch: Mutual Choice (one global
top-k over the batch's token × feature matrix) and Feature Choice (each feature takes at most
m_i tokens, uniform or Zipf capacities), the aux_zipf loss that extends aux_k to under-used
features, dead and under-used feature statistics, and JumpReLU thresholds for inference.
Built on the core's :mod:`sparsehub.sae` (SAELens parameter names and shapes).

Distribution ``sparsehub-choice-sae``; paper: https://arxiv.org/abs/2411.02124

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "MutualChoiceSAE": ".saes",
        "FeatureChoiceSAE": ".saes",
        "MutualChoice": ".selection",
        "FeatureChoice": ".selection",
        "mutual_choice_codes": ".allocation",
        "feature_choice_codes": ".allocation",
        "uniform_capacities": ".allocation",
        "zipf_capacities": ".allocation",
        "aux_zipf_loss": ".losses",
        "zipf_targets": ".losses",
        "zipf_underuse_weights": ".losses",
        "usage_statistics": ".statistics",
        "reproduce": ".reproduction",
        "bench": ".benchmarks",
    },
)
