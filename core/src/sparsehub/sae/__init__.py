"""Shared sparse-autoencoder machinery (needs the ``torch`` extra: ``pip install 'sparsehub[torch]'``).

- :class:`SparseAutoencoder` with SAELens parameter names and shapes (``W_enc`` [d_in, d_sae],
  ``W_dec`` [d_sae, d_in], ``b_enc``, ``b_dec``), tied or untied, unit-norm decoder rows;
- selections (the activation that picks the active latents): :class:`TopK`, :class:`JumpReLU`,
  :class:`ReLU` and the :class:`Selection` base that plugins subclass (batch allocations,
  gradient-scored selection: a score decides *which* latents fire, the values are the original
  pre-activations);
- the auxiliary loss of dead or under-used latents (:func:`aux_k_loss`,
  :func:`weighted_aux_loss`) and firing statistics (:class:`FiringTracker`);
- activation collection from a torch model with forward hooks (:func:`collect_activations`,
  :func:`capture`), a streaming trainer (:func:`train_sae`, one step at a time with
  :class:`Trainer`), metrics (:func:`evaluate`) and a
  synthetic generator with known ground-truth features (:class:`SyntheticFeatures`).

Importing this package imports nothing heavy; torch is imported with the first name used.
"""

from __future__ import annotations

from ..lazy import attach as _lazy

_EXPORTS = {
    ".model": ("SparseAutoencoder",),
    ".selection": ("Selection", "TopK", "JumpReLU", "ReLU", "topk_codes", "select_by_score"),
    ".losses": ("reconstruction_loss", "aux_k_loss", "weighted_aux_loss"),
    ".tracking": ("FiringTracker",),
    ".metrics": ("reconstruction_metrics", "evaluate", "Metrics"),
    ".collect": ("collect_activations", "capture", "resolve_module"),
    ".train": ("train_sae", "TrainResult", "Trainer"),
    ".synthetic": ("SyntheticFeatures", "feature_recovery", "zipf_probabilities"),
    ".validate": ("check_activations",),
}

__getattr__, __dir__, __all__ = _lazy(
    __name__, {name: module for module, names in _EXPORTS.items() for name in names}
)
