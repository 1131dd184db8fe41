"""Computational invariance (SliceGPT §3.1-3.2): fold every RMSNorm scale into the Linears that read it.

A pre-RMSNorm block computes ``reader(RMSNorm(x) * γ)``. Folding ``W_in ← W_in diag(γ)`` and
setting ``γ ← 1`` leaves the output unchanged, and a weightless RMSNorm commutes with any
orthogonal Q: ``RMSNorm(x Q) = RMSNorm(x) Q``. After folding, every residual "site" may be
rotated by Q (embedding ``E Q``, readers ``W_in Q``, writers ``Qᵀ W_out``, head ``W_head Q``)
without changing the logits. The head is untied from the embedding first, since the final
norm's γ is folded into the head but not into the embedding.

Pre-LayerNorm models (OPT, GPT-2) first get the LayerNorm's mean subtraction taken out of the norm
(:func:`fold_layernorms`, §3.1 and Appendix A.1 of the paper): every writer into the residual stream
(embeddings, ``o``, ``down``) is multiplied by the centring matrix ``C = I - 11ᵀ/D`` so the stream is
zero-mean, LayerNorm then equals RMSNorm, and its scale γ and shift β go into the readers
(``W ← W diag(γ)``, ``b ← b + W β``). See :func:`check_supported` for what is rejected and why.
"""

from __future__ import annotations

import torch
from torch import nn

from sparsehub.nn.layout import ModelLayout, UnsupportedArchitecture

__all__ = ["check_supported", "fold_layernorms", "fold_norms", "norm_names", "reader_groups"]


def check_supported(layout: ModelLayout) -> None:
    """Raise :class:`UnsupportedArchitecture` unless SliceGPT's invariance holds for the model.

    * post-LayerNorm (BERT, MiniLM, OPT-350m's ``do_layer_norm_before=False``): the norm sits *on*
      the residual stream after the addition, so the stream is renormalised elementwise by γ and β at
      every block; ``LN(x Q) ≠ LN(x) Q`` and no rotation of the stream can be undone by the next layer.
    * OPT with ``word_embed_proj_dim != hidden_size`` (``project_in``/``project_out``) or without
      its final LayerNorm, GPT-2 with cross-attention: layouts this package does not map.
    """
    name = type(layout.model).__name__
    config = layout.model.config
    post = layout.norm_position == "post" or (layout.family == "opt" and not config.do_layer_norm_before)
    if post:
        raise UnsupportedArchitecture(
            f"{name} is a post-LayerNorm model (family {layout.family!r}): its LayerNorms act on the "
            "residual stream itself after every addition, so LayerNorm(x Q) != LayerNorm(x) Q and "
            "SliceGPT's computational invariance does not hold; only pre-norm models can be sliced"
        )
    if layout.family == "opt" and (
        config.word_embed_proj_dim != config.hidden_size or getattr(config, "_remove_final_layer_norm", False)
    ):
        raise UnsupportedArchitecture(
            f"{name} has word_embed_proj_dim={config.word_embed_proj_dim} != hidden_size={config.hidden_size} "
            "(project_in/project_out layers) or no final LayerNorm; supported: pre-LayerNorm OPT with "
            "word_embed_proj_dim == hidden_size (OPT-125m, 1.3b, ...)"
        )
    if layout.family == "gpt2" and getattr(config, "add_cross_attention", False):
        raise UnsupportedArchitecture(f"{name} has cross-attention (add_cross_attention=True); not supported")
    if layout.family in ("opt", "gpt2") and layout.head is None:
        raise UnsupportedArchitecture(
            f"{name} has no LM head: slicing an OPT/GPT-2 body is not supported (the final LayerNorm's shift "
            "β must be folded into a head); pass the ...ForCausalLM / ...LMHeadModel model"
        )
    if layout.family not in ("llama", "opt", "gpt2"):
        raise UnsupportedArchitecture(f"{name} (family {layout.family!r}) is not supported by SliceGPT")


def reader_groups(layout: ModelLayout) -> dict[str, tuple[str, ...]]:
    """Norm site -> the reader roles that read its output (``attn``: q/k/v or qkv; ``mlp``: gate/up)."""
    roles = set(layout.readers(0))
    return {
        "attn": tuple(r for r in ("q", "k", "v", "qkv") if r in roles),
        "mlp": tuple(r for r in ("gate", "up") if r in roles),
    }


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
        groups = reader_groups(layout)
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


def is_conv1d(module: nn.Module) -> bool:
    """GPT-2's ``Conv1D``: ``y = x W + b`` with W stored (in, out)."""
    return type(module).__name__ == "Conv1D"


@torch.no_grad()
def fold_layernorms(state: dict[str, torch.Tensor], layout: ModelLayout) -> None:
    """Centre every writer and fold every LayerNorm's γ, β into its readers, in ``state`` (in place).

    ``state`` holds float64 tensors with every weight as (out, in) (Conv1D weights transposed
    first). Afterwards the stream is zero-mean, every norm is a plain weightless RMSNorm over D
    (its ``.weight`` set to ones, ``.bias`` removed), the readers (and the head) carry the shift
    ``W β`` in their bias and the logits are unchanged.
    """

    def centre_columns(key: str) -> None:  # rows of an (n, D) table: x ← x C
        state[key] = state[key] - state[key].mean(dim=1, keepdim=True)

    def centre_outputs(name: str) -> None:  # writer (D, in): W ← C W, b ← C b
        state[f"{name}.weight"] = state[f"{name}.weight"] - state[f"{name}.weight"].mean(dim=0, keepdim=True)
        if f"{name}.bias" in state:
            state[f"{name}.bias"] = state[f"{name}.bias"] - state[f"{name}.bias"].mean()

    def fold(norm: str, readers: list[str]) -> None:
        width = layout.hidden_size
        gamma = state.pop(f"{norm}.weight", torch.ones(width, dtype=torch.float64))
        beta = state.pop(f"{norm}.bias", torch.zeros(width, dtype=torch.float64))
        for reader in readers:
            w = state[f"{reader}.weight"]
            bias = state.get(f"{reader}.bias", torch.zeros(w.shape[0], dtype=torch.float64))
            state[f"{reader}.bias"] = bias + w @ beta
            state[f"{reader}.weight"] = w * gamma[None, :]
        state[f"{norm}.weight"] = torch.ones(width, dtype=torch.float64)

    for name in layout.embeddings:
        centre_columns(f"{name}.weight")
    groups = reader_groups(layout)
    for index in range(len(layout)):
        for writer in layout.writers(index).values():
            centre_outputs(writer)
        readers, norms = layout.readers(index), layout.norms(index)
        for site, roles in groups.items():
            fold(norms[site], [readers[r] for r in roles])
    if layout.final_norm is not None:
        fold(layout.final_norm, [layout.head] if layout.head is not None else [])
