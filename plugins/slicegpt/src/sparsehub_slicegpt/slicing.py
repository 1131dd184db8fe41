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

Pre-LayerNorm OPT and GPT-2 are first made RMSNorm-equivalent (:func:`.invariance.fold_layernorms`:
centre the writers, fold γ and β into the readers). Their stock attention is sized by
``hidden_size``, so no stock config can hold the narrower stream: they come back as
:class:`.sliced_models.SlicedOPTForCausalLM` / :class:`.sliced_models.SlicedGPT2LMHeadModel`,
subclasses of the stock classes that save and load with ``save_pretrained`` / ``from_pretrained``.
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

from .invariance import check_supported, fold_layernorms, fold_norms, is_conv1d, norm_names, reader_groups
from .pca import principal_basis, residual_covariance, sequential_site_bases

__all__ = ["ROUND_INTERVAL", "slice_model", "slice_variants", "sliced_width"]

ROUND_INTERVAL = 8  # official default: D' is a multiple of 8
_ROTATIONS = ("pca", "none")
_BASES = ("global", "block")


def sliced_width(hidden_size: int, fraction: float) -> int:
    """D' = floor((1 - fraction)·D) rounded down to a multiple of 8 (D itself when fraction is 0)."""
    width = int((1.0 - fraction) * hidden_size)
    return width if width == hidden_size else width - width % ROUND_INTERVAL


def _check_fraction(fraction: Any, hidden_size: int) -> int:
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0.0 <= fraction < 1.0:
        raise bad_value("fraction", fraction, "a slicing fraction in [0, 1)")
    width = sliced_width(hidden_size, float(fraction))
    if width < 1:
        raise bad_value(
            "fraction",
            fraction,
            f"a fraction that keeps at least {ROUND_INTERVAL} of the {hidden_size} hidden dimensions "
            f"(D' = (1 - fraction)·D rounded down to a multiple of {ROUND_INTERVAL})",
        )
    return width


def slice_model(
    model: nn.Module, fraction: float, *, calibration: Any, rotation: str = "pca", basis: str = "global"
) -> nn.Module:
    """A SliceGPT-compressed copy of a Llama-family ``transformers`` model; ``model`` is left unchanged.

    ``fraction``: share of the hidden dimension D to delete, in [0, 1) (0 rotates without deleting:
    same logits). ``calibration``: an iterable of LongTensor (batch, length) token batches or of
    dicts of model inputs, or one (n, length) LongTensor. ``rotation``: ``"pca"`` (the paper) or
    ``"none"`` (keep the highest-energy coordinates unrotated: the ablation baseline). ``basis``:
    ``"global"`` (one Q for every residual site: a stock model of the input's class) or ``"block"``
    (the paper's Q_ℓ per site with shortcut matrices ``Q_ℓᵀQ_ℓ₊₁``; Llama only, returns a
    :class:`.sliced_models.SlicedLlamaForCausalLM`).

    Every argument is checked before anything is computed; post-LayerNorm (BERT) and LayerNorm
    (OPT, GPT-2) models raise ``UnsupportedArchitecture`` explaining why.
    """
    return slice_variants(model, fraction, calibration=calibration, rotations=(rotation,), basis=basis)[
        rotation
    ]


def slice_variants(
    model: nn.Module,
    fraction: float,
    *,
    calibration: Any,
    rotations: tuple[str, ...] = _ROTATIONS,
    basis: str = "global",
) -> dict[str, nn.Module]:
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
    if basis not in _BASES:
        raise bad_value("basis", basis, f"one of {_BASES}")
    if basis == "block" and (getattr(model.config, "model_type", None) != "llama" or layout.head is None):
        raise bad_value(
            "basis",
            basis,
            "'global' for this model: per-block bases (shortcut matrices) are "
            f"implemented for LlamaForCausalLM only, got {type(model).__name__}",
        )
    model_type = getattr(model.config, "model_type", None)
    if layout.family == "llama" and width % layout.n_heads and (model_type != "llama" or layout.head is None):
        raise bad_value(
            "fraction",
            fraction,
            f"a fraction whose D' (here {width}) is a multiple of num_attention_heads={layout.n_heads}: "
            f"a stock {type(model.config).__name__} refuses any other hidden size (only model_type 'llama' "
            "with an LM head has a sliced class that lifts this)",
        )
    batches = check_calibration(calibration, vocab_size=getattr(model.config, "vocab_size", None))

    if layout.family != "llama":
        # the stream itself is not changed by folding; the centred stream's covariance is C H C
        was_training = model.training
        try:
            h = _centre(residual_covariance(model.eval(), layout, batches))
        finally:
            model.train(was_training)
        state = _layernorm_state(model, layout)
        return {
            rotation: _rebuild_layernorm(
                model, layout, state, principal_basis(h, rotation=rotation)[:, :width]
            )
            for rotation in rotations
        }
    work = copy.deepcopy(model).eval()
    work_layout = layout_of(work)
    fold_norms(work, work_layout)
    if basis == "block":  # sequential, as the official rotate_and_slice_sequential: one pass per rotation
        return {
            rotation: _rebuild(
                work,
                work_layout,
                sequential_site_bases(work, work_layout, batches, width, rotation=rotation),
                per_block=True,
            )
            for rotation in rotations
        }
    h = residual_covariance(work, work_layout, batches)
    return {
        rotation: _rebuild(work, work_layout, [principal_basis(h, rotation=rotation)[:, :width]])
        for rotation in rotations
    }


def _centre(h: torch.Tensor) -> torch.Tensor:
    """``C H C`` with ``C = I - 11ᵀ/D``: the covariance of the centred stream."""
    h = h - h.mean(dim=0, keepdim=True)
    return h - h.mean(dim=1, keepdim=True)


def _conv_names(model: nn.Module, layout: ModelLayout) -> set[str]:
    return {name for name, module in layout.all_linears() if is_conv1d(module)}


@torch.no_grad()
def _layernorm_state(model: nn.Module, layout: ModelLayout) -> dict[str, torch.Tensor]:
    """The model's state in float64, every weight (out, in), centred and LayerNorm-folded (not rotated)."""
    convs = _conv_names(model, layout)
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().to(torch.float64) if value.is_floating_point() else value.detach()
        if key.endswith(".weight") and key[: -len(".weight")] in convs:
            value = value.t()
        state[key] = value
    fold_layernorms(state, layout)
    return state


@torch.no_grad()
def _rebuild_layernorm(
    model: nn.Module, layout: ModelLayout, folded: dict[str, torch.Tensor], q: torch.Tensor
) -> nn.Module:
    """A :mod:`.sliced_models` model of stream width D' = q.shape[1] from the folded float64 state."""
    from .sliced_models import SlicedGPT2Config, SlicedGPT2LMHeadModel, SlicedOPTConfig, SlicedOPTForCausalLM

    full, width = q.shape
    state = dict(folded)
    for name in layout.embeddings:
        state[f"{name}.weight"] = state[f"{name}.weight"] @ q
    for index in range(len(layout)):
        for reader in layout.readers(index).values():
            state[f"{reader}.weight"] = state[f"{reader}.weight"] @ q
        for writer in layout.writers(index).values():
            state[f"{writer}.weight"] = q.t() @ state[f"{writer}.weight"]
            if f"{writer}.bias" in state:
                state[f"{writer}.bias"] = q.t() @ state[f"{writer}.bias"]
    for norm in norm_names(layout):
        state[f"{norm}.weight"] = torch.full((width,), math.sqrt(full / width), dtype=torch.float64)
    state[f"{layout.head}.weight"] = state[f"{layout.head}.weight"] @ q

    if layout.family == "opt":
        config_class, model_class, eps = SlicedOPTConfig, SlicedOPTForCausalLM, 1e-5
    else:
        config_class, model_class, eps = (
            SlicedGPT2Config,
            SlicedGPT2LMHeadModel,
            model.config.layer_norm_epsilon,
        )
    settings = {k: v for k, v in model.config.to_dict().items() if k not in ("model_type", "architectures")}
    settings.update(
        tie_word_embeddings=False, sliced_hidden_size=width, sliced_norm_eps=float(eps) * full / width
    )
    config = config_class(**settings)
    config.architectures = [model_class.__name__]

    dtype = next(model.parameters()).dtype
    convs = _conv_names(model, layout)
    with torch.device("meta"):
        sliced = model_class(config)
    wanted = sliced.state_dict()
    out = {}
    for key, target in wanted.items():
        value = state[key]
        if key.endswith(".weight") and key[: -len(".weight")] in convs:
            value = value.t()
        out[key] = value.to(target.dtype if not value.is_floating_point() else dtype).contiguous()
    sliced.load_state_dict(out, strict=True, assign=True)
    originals = dict(model.named_buffers())
    for name, buffer in list(sliced.named_buffers()):
        if buffer.is_meta:
            owner, _, leaf = name.rpartition(".")
            sliced.get_submodule(owner).register_buffer(leaf, originals[name].clone(), persistent=False)
    return sliced.eval()


@torch.no_grad()
def _rebuild(
    model: nn.Module, layout: ModelLayout, qs: list[torch.Tensor], *, per_block: bool = False
) -> nn.Module:
    """A fresh model with hidden size D' = q.shape[1], holding the rotated slices.

    ``qs``: one (D, D') basis for every site, or one per norm input (2 per block, then the final
    norm's) with ``per_block=True``; the latter returns a ``SlicedLlamaForCausalLM`` whose layers
    hold the shortcut matrices ``S = Q_aᵀ Q_b`` between consecutive sites a -> b.
    """
    full, width = qs[0].shape

    def site(index: int) -> torch.Tensor:
        return qs[index] if per_block else qs[0]

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

    def right(name: str, q: torch.Tensor) -> None:  # (out, D) -> (out, D'): W Q
        state[name] = _mm(state[name], q, state[name].dtype)

    def left(name: str, q: torch.Tensor) -> None:  # (D, ...) -> (D', ...): Qᵀ W
        state[name] = _mm(q.t(), state[name], state[name].dtype)

    for name in layout.embeddings:
        right(f"{name}.weight", site(0))
    groups = reader_groups(layout)
    for index in range(len(layout)):
        attn_in, mlp_in, out = site(2 * index), site(2 * index + 1), site(2 * index + 2)
        readers, writers = layout.readers(index), layout.writers(index)
        for role, reader in readers.items():
            right(f"{reader}.weight", attn_in if role in groups["attn"] else mlp_in)
        for role, writer in writers.items():
            q = mlp_in if role == "o" else out
            left(f"{writer}.weight", q)
            if f"{writer}.bias" in state:
                left(f"{writer}.bias", q)
        if per_block:  # Shortcut weight = Sᵀ = Q_bᵀ Q_a, so that z ↦ z S = z Q_aᵀ Q_b
            block = layout.block_name(index)
            dtype = state[f"{readers['q']}.weight"].dtype
            state[f"{block}.attn_shortcut.weight"] = _mm(mlp_in.t(), attn_in, dtype)
            state[f"{block}.mlp_shortcut.weight"] = _mm(out.t(), mlp_in, dtype)
    for norm in norm_names(layout):
        key = f"{norm}.weight"
        state[key] = torch.full((width,), math.sqrt(full / width), dtype=state[key].dtype)
    if layout.head is not None:
        right(f"{layout.head}.weight", site(2 * len(layout)))

    model_class = type(model)
    if per_block or width % config.num_attention_heads:
        from .sliced_models import SlicedLlamaConfig, SlicedLlamaForCausalLM

        settings = {k: v for k, v in config.to_dict().items() if k not in ("model_type", "architectures")}
        config = SlicedLlamaConfig(residual_shortcuts=per_block, **settings)
        config.architectures = [SlicedLlamaForCausalLM.__name__]
        model_class = SlicedLlamaForCausalLM
    # built on the meta device (no random initialisation of ~100 M weights), then given the tensors
    with torch.device("meta"):
        sliced = model_class(config)
    sliced.load_state_dict(state, strict=True, assign=True)
    originals = dict(model.named_buffers())
    for name, buffer in list(sliced.named_buffers()):
        if buffer.is_meta:  # non-persistent buffers (RoPE frequencies) do not depend on the width
            owner, _, leaf = name.rpartition(".")
            sliced.get_submodule(owner).register_buffer(leaf, originals[name].clone(), persistent=False)
    return sliced.eval()
