"""Torch machinery shared by the pruning and sparse-training plugins (extra ``sparsehub[nn]``).

- masked training (:func:`attach`, :class:`MaskedTraining`) and DDP mask sync (:func:`sync_masks`);
- layer-wise allocation (uniform, uniform+, ER, ERK, global magnitude) and exact random masks;
- schedules (the cubic :class:`PolynomialSchedule` of Zhu & Gupta, iterative-magnitude phases);
- counters (parameters, non-zeros, dense and sparse FLOPs), sparse-aware initialisation,
  same-mask model averaging with BatchNorm recalibration;
- the fixtures every reproduction uses (``synth10``, ``digits``, tiny MLP/CNN builders, ``train``);
- one-shot LLM compression machinery for ``transformers`` models (extra ``sparsehub[models]``):
  the model-layout adapter (:func:`layout_of`), the sequential calibration runner with float64
  streaming input statistics (:func:`sequential_blocks`), the text evaluator (:func:`text_windows`,
  :func:`perplexity`), forward-pass timing against the dense model (:func:`compare_forward`)
  and the baselines in :mod:`sparsehub.nn.oneshot` (magnitude, Wanda, SparseGPT).

Importing this package imports torch; nothing else in the core does. Submodules load on first use.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError("sparsehub.nn needs torch: pip install 'sparsehub[nn]'") from exc

from ..lazy import attach as _lazy

_EXPORTS = {
    ".masking": ("attach", "MaskedTraining", "masking_of", "MASK_SUFFIX", "DEFAULT_INCLUDE"),
    ".distributed": ("broadcast_masks", "sync_masks", "is_distributed"),
    ".allocation": ("prunable_parameters", "layer_densities", "global_magnitude_densities", "layer_counts",
                    "random_masks", "DEFAULT_PRUNABLE", "RULES"),
    ".schedule": ("PolynomialSchedule", "IMPSchedule", "imp_phase_fractions"),
    ".counters": ("count", "CountTable", "LayerCount"),
    ".init": ("sparse_init_rescale_",),
    ".merge": ("average_models", "average_state_dicts", "recalibrate_batchnorm", "MaskMismatchError"),
    ".fixtures": ("synth10", "digits", "mlp", "tiny_cnn", "train", "evaluate", "minibatches"),
    ".layout": ("ModelLayout", "UnsupportedArchitecture", "layout_of", "weight_matrix", "is_linear"),
    ".calibration": ("InputStats", "BlockStep", "sequential_blocks", "collect_input_stats", "check_calibration"),
    ".text": ("text_windows", "perplexity"),
    ".speed": ("compare_forward", "forward_runner", "linear_macs", "bench_windows"),
}

__getattr__, __dir__, __all__ = _lazy(
    __name__, {**{name: module for module, names in _EXPORTS.items() for name in names}, "oneshot": None}
)
