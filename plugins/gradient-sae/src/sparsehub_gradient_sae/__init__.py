"""Features that Make a Difference: Leveraging Gradients for Improved Dictionary Learning (Olmo et al., 2024).

g-SAE: a TopK sparse autoencoder that chooses its k active latents by activation plus their
gradient-weighted effect on the downstream loss (s = z + β·z⊙|W_dec g|), while outputting the
plain activations; the collection of activations with their loss gradients at a hook; and the
spliced-in downstream loss evaluation. Built on the core's :mod:`sparsehub.sae`.

Distribution ``sparsehub-gradient-sae``; paper: https://arxiv.org/abs/2411.10397

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "GradientTopKSAE": ".sae",
        "gradient_scores": ".sae",
        "collect_acts_and_grads": ".downstream",
        "spliced_loss": ".downstream",
        "SplicedLoss": ".downstream",
        "digits_task": ".digits",
        "reproduce": ".reproduction",
        "bench": ".benchmarks",
    },
)
