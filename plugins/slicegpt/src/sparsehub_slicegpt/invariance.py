"""Computational invariance (SliceGPT §3.1-3.2): fold every RMSNorm scale into the Linears that read it.

A pre-RMSNorm block computes ``reader(RMSNorm(x) * γ)``. Folding ``W_in ← W_in diag(γ)`` and
setting ``γ ← 1`` leaves the output unchanged, and a weightless RMSNorm commutes with any
orthogonal Q: ``RMSNorm(x Q) = RMSNorm(x) Q``. After folding, every residual "site" may be
rotated by Q (embedding ``E Q``, readers ``W_in Q``, writers ``Qᵀ W_out``, head ``W_head Q``)
without changing the logits. The head is untied from the embedding first, since the final
norm's γ is folded into the head but not into the embedding.

Only Llama-family models (pre-RMSNorm: Llama, Mistral, Qwen2) are supported; see
:func:`check_supported` for why post-LayerNorm (BERT) and LayerNorm (OPT, GPT-2) models are not.
"""

from __future__ import annotations

import torch
from torch import nn

from sparsehub.nn.layout import ModelLayout, UnsupportedArchitecture

__all__ = ["check_supported", "fold_norms", "norm_names"]


def check_supported(layout: ModelLayout) -> None:
    """Raise :class:`UnsupportedArchitecture` unless SliceGPT's invariance holds for the model.

    * post-LayerNorm (BERT, MiniLM): the norm sits *on* the residual stream after the addition,
      so the stream is renormalised elementwise by γ and β at every block; ``LN(x Q) ≠ LN(x) Q``
      and no rotation of the stream can be undone by the next layer.
    * pre-LayerNorm (OPT, GPT-2): invariance needs the LayerNorm's mean subtraction replaced by
      a plain RMSNorm over the original width, which no stock ``transformers`` class offers, so
      the result would not be an ordinary model that ``from_pretrained`` loads (not supported
      in this version).
    """
    name = type(layout.model).__name__
    if layout.norm_position == "post":
        raise UnsupportedArchitecture(
            f"{name} is a post-LayerNorm model (family {layout.family!r}): its LayerNorms act on the "
            "residual stream itself after every addition, so LayerNorm(x Q) != LayerNorm(x) Q and "
            "SliceGPT's computational invariance does not hold; only pre-norm models can be sliced"
        )
    if layout.family != "llama":
        raise UnsupportedArchitecture(
            f"{name} (family {layout.family!r}) uses LayerNorm: slicing it needs the mean subtraction "
            "replaced by an RMSNorm over the original width, which a stock transformers class cannot "
            "express; supported: pre-RMSNorm Llama-family models (Llama, Mistral, Qwen2)"
        )


def norm_names(layout: ModelLayout) -> list[str]:
    """Every norm that reads the residual stream, in execution order (2 per block, then the final one)."""
    names = [n for i in range(len(layout)) for n in layout.norms(i).values()]
    if layout.final_norm is not None:
        names.append(layout.final_norm)
    return names


@torch.no_grad()
def fold_norms(model: nn.Module, layout: ModelLayout) -> None:
    """Fold every norm's γ into its readers (and the final γ into the head), in place; untie the head.

    After this every RMSNorm has weight 1 and the model computes the same function (to rounding).
    """
    if layout.head is not None and layout.tied_head:
        head = layout.module(layout.head)
        head.weight = nn.Parameter(head.weight.detach().clone())
        model.config.tie_word_embeddings = False
    for index in range(len(layout)):
        readers = layout.readers(index)
        norms = layout.norms(index)
        groups = {"attn": ("q", "k", "v"), "mlp": ("gate", "up")}
        for site, roles in groups.items():
            norm = layout.module(norms[site])
            for role in roles:
                _scale_inputs(layout.module(readers[role]), norm.weight)
            norm.weight.fill_(1.0)
    if layout.final_norm is not None:
        norm = layout.module(layout.final_norm)
        if layout.head is not None:
            _scale_inputs(layout.module(layout.head), norm.weight)
            norm.weight.fill_(1.0)


def _scale_inputs(linear: nn.Module, gamma: torch.Tensor) -> None:
    linear.weight.mul_(gamma.to(linear.weight.dtype)[None, :])
