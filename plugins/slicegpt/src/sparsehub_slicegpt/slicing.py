"""SliceGPT's public entry: fold norms, rotate the residual stream by its PCA basis, delete dimensions.

``slice_model(model, fraction, calibration=...)`` (SliceGPT §3.3-3.4) returns a new, smaller model
of the same ``transformers`` class: hidden size D' = (1 - fraction)·D rounded down to a multiple
of 8 (the official ``round_interval``), every reader's input columns and every writer's output
rows, the embedding's and the head's columns cut to D'. Heads (q/k/v outputs, head_dim, the GQA
layout) and the FFN width are unchanged.

The norms stay ordinary RMSNorms: the weightless RMSNorm over the *original* width D that
invariance needs (``x · rsqrt(Σx²/D + ε)``) equals a D'-wide RMSNorm with ``ε' = ε·D/D'`` and a
constant weight ``sqrt(D/D')``, so the config stores ``hidden_size=D'``, ``rms_norm_eps=ε'``,
``head_dim`` and ``tie_word_embeddings=False``, and ``save_pretrained``/``from_pretrained``
round-trip it with no custom code.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from sparsehub.errors import bad_value
from sparsehub.nn.calibration import check_calibration
from sparsehub.nn.layout import ModelLayout, layout_of

from .invariance import check_supported, fold_norms, norm_names
from .pca import principal_basis, residual_covariance

__all__ = ["ROUND_INTERVAL", "slice_model", "slice_variants", "sliced_width"]

ROUND_INTERVAL = 8  # official default: D' is a multiple of 8
_ROTATIONS = ("pca", "none")


def sliced_width(hidden_size: int, fraction: float) -> int:
    """D' = floor((1 - fraction)·D) rounded down to a multiple of 8 (D itself when fraction is 0)."""
    width = int((1.0 - fraction) * hidden_size)
    return width if width == hidden_size else width - width % ROUND_INTERVAL


def _check_fraction(fraction: Any, hidden_size: int) -> int:
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0.0 <= fraction < 1.0:
        raise bad_value("fraction", fraction, "a slicing fraction in [0, 1)")
    width = sliced_width(hidden_size, float(fraction))
    if width < 1:
        raise bad_value("fraction", fraction,
                        f"a fraction that keeps at least {ROUND_INTERVAL} of the {hidden_size} hidden dimensions "
                        f"(D' = (1 - fraction)·D rounded down to a multiple of {ROUND_INTERVAL})")
    return width


def slice_model(model: nn.Module, fraction: float, *, calibration: Any, rotation: str = "pca") -> nn.Module:
    """A SliceGPT-compressed copy of a Llama-family ``transformers`` model; ``model`` is left unchanged.

    ``fraction``: share of the hidden dimension D to delete, in [0, 1) (0 rotates without deleting:
    same logits). ``calibration``: an iterable of LongTensor (batch, length) token batches or of
    dicts of model inputs, or one (n, length) LongTensor. ``rotation``: ``"pca"`` (the paper) or
    ``"none"`` (keep the highest-energy coordinates unrotated: the ablation baseline).

    Every argument is checked before anything is computed; post-LayerNorm (BERT) and LayerNorm
    (OPT, GPT-2) models raise ``UnsupportedArchitecture`` explaining why.
    """
    return slice_variants(model, fraction, calibration=calibration, rotations=(rotation,))[rotation]


def slice_variants(model: nn.Module, fraction: float, *, calibration: Any,
                   rotations: tuple[str, ...] = _ROTATIONS) -> dict[str, nn.Module]:
    """``{rotation: slice_model(model, fraction, calibration=..., rotation=rotation)}`` for each rotation.

    The folding and the calibration pass are shared, so comparing SliceGPT with its no-rotation
    ablation costs one calibration pass instead of two.
    """
    layout = layout_of(model)
    check_supported(layout)
    width = _check_fraction(fraction, layout.hidden_size)
    for rotation in rotations:
        if rotation not in _ROTATIONS:
            raise bad_value("rotation", rotation, f"one of {_ROTATIONS}")
    batches = check_calibration(calibration, vocab_size=getattr(model.config, "vocab_size", None))

    work = copy.deepcopy(model).eval()
    work_layout = layout_of(work)
    fold_norms(work, work_layout)
    h = residual_covariance(work, work_layout, batches)
    return {rotation: _rebuild(work, work_layout, principal_basis(h, rotation=rotation)[:, :width])
            for rotation in rotations}


@torch.no_grad()
def _rebuild(model: nn.Module, layout: ModelLayout, q: torch.Tensor) -> nn.Module:
    """A fresh model of the same class with hidden size D' = q.shape[1], holding the rotated slices."""
    full, width = q.shape
    config = copy.deepcopy(model.config)
    config.head_dim = layout.head_dim
    config.hidden_size = width
    config.rms_norm_eps = float(config.rms_norm_eps) * full / width
    config.tie_word_embeddings = False
    state = {k: v.detach() for k, v in model.state_dict().items()}
    # Q is found in float64; the rotation runs in float32 at least (float32 weights: ~1e-7 relative
    # error, far below the 1e-4 invariance budget, and 3x faster than float64 on a CPU; half
    # precision weights are rotated in float32 and rounded once).

    def _mm(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        work = torch.promote_types(dtype, torch.float32)
        return (a.to(work) @ b.to(work)).to(dtype).contiguous()

    def right(name: str) -> None:  # (out, D) -> (out, D'): W Q
        state[name] = _mm(state[name], q, state[name].dtype)

    def left(name: str) -> None:  # (D, ...) -> (D', ...): Qᵀ W
        state[name] = _mm(q.t(), state[name], state[name].dtype)

    for name in layout.embeddings:
        right(f"{name}.weight")
    for index in range(len(layout)):
        for reader in layout.readers(index).values():
            right(f"{reader}.weight")
        for writer in layout.writers(index).values():
            left(f"{writer}.weight")
            if f"{writer}.bias" in state:
                left(f"{writer}.bias")
    for norm in norm_names(layout):
        key = f"{norm}.weight"
        state[key] = torch.full((width,), math.sqrt(full / width), dtype=state[key].dtype)
    if layout.head is not None:
        right(f"{layout.head}.weight")

    # built on the meta device (no random initialisation of ~100 M weights), then given the tensors
    with torch.device("meta"):
        sliced = type(model)(config)
    sliced.load_state_dict(state, strict=True, assign=True)
    originals = dict(model.named_buffers())
    for name, buffer in list(sliced.named_buffers()):
        if buffer.is_meta:  # non-persistent buffers (RoPE frequencies) do not depend on the width
            owner, _, leaf = name.rpartition(".")
            sliced.get_submodule(owner).register_buffer(leaf, originals[name].clone(), persistent=False)
    return sliced.eval()
