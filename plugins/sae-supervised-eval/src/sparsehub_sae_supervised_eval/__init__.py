"""Towards Principled Evaluations of Sparse Autoencoders for Interpretability and Control (Makelov, Lange & Nanda, 2024).

Supervised feature dictionaries for a task with known attributes (centred conditional means),
and the paper's three evaluation axes applied to them and to unsupervised SAEs: approximation
(sufficiency / necessity of the patched reconstruction), control (greedy sparse controllability
of counterfactual edits against a budget) and interpretability (precision / recall / F1 of every
latent for every attribute value), plus the feature-occlusion and over-splitting diagnostics.
Any SAE with ``encode`` / ``decode`` / ``W_dec`` works (``sparsehub.sae`` and SAELens SAEs).

Distribution ``sparsehub-sae-supervised-eval``; paper: https://arxiv.org/abs/2405.08366

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "SupervisedDictionary": ".dictionary",
        "evaluate_approximation": ".evaluation",
        "evaluate_control": ".evaluation",
        "evaluate_interpretability": ".evaluation",
        "reconstruction": ".evaluation",
        "encode": ".evaluation",
        "ApproximationResult": ".evaluation",
        "ControlResult": ".evaluation",
        "InterpretabilityTable": ".evaluation",
        "AttributeScores": ".evaluation",
        "detect_occlusion": ".diagnostics",
        "detect_oversplitting": ".diagnostics",
        "OcclusionReport": ".diagnostics",
        "OversplittingReport": ".diagnostics",
        "toy_ioi": ".toy",
        "ToyIOI": ".toy",
        "minilm_ioi_comparison": ".realism",
        "reproduce": ".reproduction",
        "bench": ".benchmarks",
    },
)
