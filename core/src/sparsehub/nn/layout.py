"""Where things are in a ``transformers`` model: embeddings, blocks, readers, writers, norms, head.

One-shot LLM compression (Wanda, SparseGPT, DSnoT, SliceGPT, LoRD, ...) walks a model block by
block and treats the Linears of a block by their role on the residual stream:

* **readers** take the residual stream as input: ``q``, ``k``, ``v`` (or GPT-2's fused ``qkv``),
  ``gate``, ``up``;
* **writers** add their output to it: ``o`` and ``down``.

:func:`layout_of` recognises Llama-style models (Llama, Mistral, Qwen2: pre-RMSNorm, SwiGLU),
OPT (pre-LayerNorm), GPT-2 (pre-LayerNorm, ``Conv1D`` layers whose weight is stored (in, out))
and BERT (post-LayerNorm), with or without their LM head, and raises
:class:`UnsupportedArchitecture` naming the class for anything else. :func:`weight_matrix` gives
every layer's weight as an (out, in) view, so algorithms never special-case ``Conv1D``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from sparsehub.errors import SparsehubError

__all__ = [
    "ModelLayout",
    "UnsupportedArchitecture",
    "is_linear",
    "layout_of",
    "weight_matrix",
]


class UnsupportedArchitecture(SparsehubError, TypeError):
    """A model class the layout adapter (or a method) does not support; the message names the class."""


def is_linear(module: nn.Module) -> bool:
    """``nn.Linear`` or transformers' ``Conv1D`` (GPT-2: ``y = x @ W + b`` with W of shape (in, out))."""
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def weight_matrix(module: nn.Module) -> torch.Tensor:
    """The layer's weight as an (out, in) tensor that shares storage with the parameter.

    For ``nn.Linear`` it is ``module.weight``; for ``Conv1D`` the transposed view, so writing into
    it (``weight_matrix(m)[mask] = 0``) changes the module.
    """
    if isinstance(module, nn.Linear):
        return module.weight.data
    if type(module).__name__ == "Conv1D":
        return module.weight.data.t()
    raise UnsupportedArchitecture(f"{type(module).__name__} is not a Linear or Conv1D layer")


# module paths, relative to a block, of the readers and writers of each family, in execution order
_FAMILIES: dict[str, dict[str, object]] = {
    "llama": {
        "base": "model", "blocks": "layers", "embeddings": ("embed_tokens",), "final_norm": "norm",
        "readers": {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
                    "gate": "mlp.gate_proj", "up": "mlp.up_proj"},
        "writers": {"o": "self_attn.o_proj", "down": "mlp.down_proj"},
        "norms": {"attn": "input_layernorm", "mlp": "post_attention_layernorm"},
        "order": ("q", "k", "v", "o", "gate", "up", "down"), "norm_position": "pre",
    },
    "opt": {
        "base": "model", "blocks": "decoder.layers",
        "embeddings": ("decoder.embed_tokens", "decoder.embed_positions"),
        "final_norm": "decoder.final_layer_norm",
        "readers": {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "up": "fc1"},
        "writers": {"o": "self_attn.out_proj", "down": "fc2"},
        "norms": {"attn": "self_attn_layer_norm", "mlp": "final_layer_norm"},
        "order": ("q", "k", "v", "o", "up", "down"), "norm_position": "pre",
    },
    "gpt2": {
        "base": "transformer", "blocks": "h", "embeddings": ("wte", "wpe"), "final_norm": "ln_f",
        "readers": {"qkv": "attn.c_attn", "up": "mlp.c_fc"},
        "writers": {"o": "attn.c_proj", "down": "mlp.c_proj"},
        "norms": {"attn": "ln_1", "mlp": "ln_2"},
        "order": ("qkv", "o", "up", "down"), "norm_position": "pre",
    },
    "bert": {
        "base": "bert", "blocks": "encoder.layer",
        "embeddings": ("embeddings.word_embeddings", "embeddings.position_embeddings",
                       "embeddings.token_type_embeddings"),
        "final_norm": None,
        "readers": {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                    "up": "intermediate.dense"},
        "writers": {"o": "attention.output.dense", "down": "output.dense"},
        "norms": {"embeddings": "!embeddings.LayerNorm", "attn": "attention.output.LayerNorm",
                  "mlp": "output.LayerNorm"},
        "order": ("q", "k", "v", "o", "up", "down"), "norm_position": "post",
    },
}
_MODEL_TYPES = {"llama": "llama", "mistral": "llama", "qwen2": "llama", "opt": "opt", "gpt2": "gpt2",
                "bert": "bert"}


@dataclass
class ModelLayout:
    """The map of one model: names are full module paths as in ``model.named_modules()``.

    ``family``: ``"llama"`` (also Mistral, Qwen2), ``"opt"``, ``"gpt2"`` or ``"bert"``.
    ``norm_position``: ``"pre"`` (a norm before each sub-block; the residual stream is never
    normalised in place) or ``"post"`` (BERT). ``head``: the LM head's name or None (a bare
    ``LlamaModel``/``BertModel``); ``tied_head``: the head shares the input embedding's weight.
    ``n_heads``/``n_kv_heads``/``head_dim``: attention shape (GQA group size = n_heads // n_kv_heads).
    """

    model: nn.Module = field(repr=False)
    family: str
    blocks_name: str
    embeddings: tuple[str, ...]
    final_norm: str | None
    head: str | None
    tied_head: bool
    norm_position: str
    hidden_size: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    _prefix: str = field(repr=False, default="")

    # --- blocks -------------------------------------------------------------------------------

    @property
    def blocks(self) -> nn.ModuleList:
        """The blocks in order (the ``ModuleList`` itself, so a plugin may replace entries)."""
        return self.model.get_submodule(self.blocks_name)

    def __len__(self) -> int:
        return len(self.blocks)

    def block_name(self, index: int) -> str:
        """``"model.layers.3"`` for block 3 of a Llama model."""
        return f"{self.blocks_name}.{index}"

    def _roles(self, index: int, kind: str) -> dict[str, str]:
        spec = _FAMILIES[self.family][kind]
        return {role: self._resolve(index, path) for role, path in spec.items()}  # type: ignore[union-attr]

    def _resolve(self, index: int, path: str) -> str:
        return path[1:] if path.startswith("!") else f"{self.block_name(index)}.{path}"

    def readers(self, index: int) -> dict[str, str]:
        """Role -> module name of the layers of block ``index`` that read the residual stream."""
        return self._roles(index, "readers")

    def writers(self, index: int) -> dict[str, str]:
        """Role -> module name of the layers of block ``index`` that write to the residual stream."""
        return self._roles(index, "writers")

    def norms(self, index: int) -> dict[str, str]:
        """``{"attn": ..., "mlp": ...}``: the norms of block ``index`` (BERT's block 0 adds ``embeddings``)."""
        norms = self._roles(index, "norms")
        if index != 0:
            norms.pop("embeddings", None)
        return {role: self._prefix + name if not name.startswith(self.blocks_name) else name
                for role, name in norms.items()}

    def linears(self, index: int) -> dict[str, nn.Module]:
        """Module name -> layer for every reader and writer of block ``index``, in execution order."""
        roles = {**self.readers(index), **self.writers(index)}
        order = _FAMILIES[self.family]["order"]
        return {roles[r]: self.model.get_submodule(roles[r]) for r in order}  # type: ignore[union-attr]

    def all_linears(self) -> Iterator[tuple[str, nn.Module]]:
        """``(name, layer)`` for the readers and writers of every block, block by block."""
        for index in range(len(self)):
            yield from self.linears(index).items()

    def module(self, name: str) -> nn.Module:
        """The module called ``name`` in this model."""
        return self.model.get_submodule(name)


def layout_of(model: nn.Module) -> ModelLayout:
    """The :class:`ModelLayout` of a ``transformers`` model; UnsupportedArchitecture otherwise.

    Recognised by ``model.config.model_type``: llama, mistral, qwen2 (family ``"llama"``), opt,
    gpt2, bert; both the bare model (``LlamaModel``) and the one with a head (``LlamaForCausalLM``).
    """
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    family = _MODEL_TYPES.get(model_type)  # type: ignore[arg-type]
    if family is None:
        raise UnsupportedArchitecture(
            f"{type(model).__name__} (model_type={model_type!r}) is not supported by the layout adapter: "
            f"expected a transformers model of type {sorted(_MODEL_TYPES)}"
        )
    spec = _FAMILIES[family]
    base = str(spec["base"])
    names = dict(model.named_modules())
    blocks = str(spec["blocks"])
    prefix = f"{base}." if f"{base}.{blocks}" in names else ""
    if f"{prefix}{blocks}" not in names:
        raise UnsupportedArchitecture(
            f"{type(model).__name__} has model_type={model_type!r} but no {base}.{blocks} or {blocks} module "
            "where the blocks should be"
        )
    head = next((h for h in ("lm_head",) if h in names), None)
    embed = names[prefix + spec["embeddings"][0]]  # type: ignore[index]
    tied = head is not None and names[head].weight is embed.weight
    n_heads = int(getattr(config, "num_attention_heads", None) or config.n_head)
    hidden = int(getattr(config, "hidden_size", None) or config.n_embd)
    n_kv = int(getattr(config, "num_key_value_heads", None) or n_heads)
    head_dim = int(getattr(config, "head_dim", None) or hidden // n_heads)
    return ModelLayout(
        model=model, family=family, blocks_name=prefix + blocks,
        embeddings=tuple(prefix + e for e in spec["embeddings"] if prefix + e in names),  # type: ignore[union-attr]
        final_norm=prefix + spec["final_norm"] if spec["final_norm"] else None,  # type: ignore[operator]
        head=head, tied_head=tied, norm_position=str(spec["norm_position"]), hidden_size=hidden,
        n_heads=n_heads, n_kv_heads=n_kv, head_dim=head_dim, _prefix=prefix,
    )
