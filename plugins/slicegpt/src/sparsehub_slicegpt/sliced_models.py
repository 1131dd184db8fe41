"""Sliced OPT and GPT-2 models: the stock classes with a residual stream narrower than the attention.

Why not the stock class: ``OPTAttention`` and ``GPT2Attention`` size their heads from
``hidden_size`` (``head_dim = hidden_size / num_heads``, ``c_attn`` is ``hidden_size -> 3 hidden_size``),
so a stock config cannot hold a stream of width D' with the attention left at width D, which is
what SliceGPT produces. These subclasses keep the original config (``hidden_size = D``: heads,
attention and FFN unchanged) and add ``sliced_hidden_size = D'`` and ``sliced_norm_eps``; their
``__init__`` swaps in the D'-wide pieces:

* the embeddings (token and learned position) with D' columns;
* every reader (q, k, v / fused ``c_attn``, ``fc1`` / ``c_fc``) reading D' inputs, always with a
  bias (the folded LayerNorm shift ``W β`` lives there), every writer writing D' outputs;
* every LayerNorm on the stream replaced by an ``nn.RMSNorm(D')`` with ``ε' = ε·D/D'`` and weight
  ``sqrt(D/D')``: after centring, the stream is zero-mean, so LayerNorm over D is RMSNorm over D
  (SliceGPT §3.1, the official code's ``RMSN``), and RMSNorm over the D original coordinates equals
  this D'-wide one;
* the LM head reading D' inputs, untied and with a bias (the final norm's ``W_head β``).

``SlicedLlamaForCausalLM`` is the per-block variant for Llama (``slice_model(..., basis="block")``):
a stock ``LlamaForCausalLM`` of width D' plus, in every decoder layer, the paper's two shortcut
matrices ``attn_shortcut`` / ``mlp_shortcut`` (``Q_ℓᵀ Q_ℓ₊₁``, D' x D', as bias-free Linears) that
carry the residual from one site's basis into the next. Hooks on the stock modules apply them:
the sub-block's output gets ``z S - z`` added, so the layer's own ``residual + output`` becomes
``z S + output`` (no stock code replaced, the parameter names stay the stock ones).

Everything else (attention code, masks, caches, ``generate``) is the stock code. Importing this
module registers the classes with ``AutoConfig`` / ``AutoModelForCausalLM`` (model types
``sparsehub_sliced_opt``, ``sparsehub_sliced_gpt2`` and ``sparsehub_sliced_llama``), so ``save_pretrained`` and
``AutoModelForCausalLM.from_pretrained`` round-trip once ``sparsehub_slicegpt.sliced_models`` (or any
of these class names from ``sparsehub_slicegpt``) has been imported.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    OPTConfig,
    OPTForCausalLM,
)
from transformers.pytorch_utils import Conv1D

__all__ = [
    "SlicedGPT2Config",
    "SlicedGPT2LMHeadModel",
    "SlicedLlamaConfig",
    "SlicedLlamaForCausalLM",
    "SlicedOPTConfig",
    "SlicedOPTForCausalLM",
]


def _stream_norm(config: Any) -> nn.RMSNorm:
    return nn.RMSNorm(config.sliced_hidden_size, eps=config.sliced_norm_eps, elementwise_affine=True)


def _init_slice_fields(
    config: Any, sliced_hidden_size: int | None, sliced_norm_eps: float | None, eps: float
) -> None:
    config.sliced_hidden_size = int(
        sliced_hidden_size if sliced_hidden_size is not None else config.hidden_size
    )
    config.sliced_norm_eps = float(sliced_norm_eps if sliced_norm_eps is not None else eps)


class SlicedOPTConfig(OPTConfig):
    """``OPTConfig`` plus the residual width ``sliced_hidden_size`` (D') and its norms' ``sliced_norm_eps``."""

    model_type = "sparsehub_sliced_opt"

    def __init__(self, sliced_hidden_size: int | None = None, sliced_norm_eps: float | None = None, **kwargs):
        kwargs.pop("model_type", None)
        super().__init__(**kwargs)
        _init_slice_fields(
            self, sliced_hidden_size, sliced_norm_eps, 1e-5
        )  # OPT's LayerNorm: torch default ε


class SlicedOPTForCausalLM(OPTForCausalLM):
    """An ``OPTForCausalLM`` whose residual stream is ``config.sliced_hidden_size`` wide (see module doc)."""

    config_class = SlicedOPTConfig
    _tied_weights_keys: ClassVar[dict[str, str]] = {}

    def __init__(self, config: SlicedOPTConfig):
        super().__init__(config)
        width, full, bias = config.sliced_hidden_size, config.hidden_size, config.enable_bias
        decoder = self.model.decoder
        decoder.embed_tokens = nn.Embedding(config.vocab_size, width, decoder.padding_idx)
        positions = decoder.embed_positions
        decoder.embed_positions = type(positions)(config.max_position_embeddings, width)
        for layer in decoder.layers:
            attn = layer.self_attn
            attn.q_proj, attn.k_proj, attn.v_proj = (nn.Linear(width, full, bias=True) for _ in range(3))
            attn.out_proj = nn.Linear(full, width, bias=bias)
            layer.fc1 = nn.Linear(width, config.ffn_dim, bias=True)
            layer.fc2 = nn.Linear(config.ffn_dim, width, bias=bias)
            layer.self_attn_layer_norm = _stream_norm(config)
            layer.final_layer_norm = _stream_norm(config)
        decoder.final_layer_norm = _stream_norm(config)
        self.lm_head = nn.Linear(width, config.vocab_size, bias=True)


class SlicedGPT2Config(GPT2Config):
    """``GPT2Config`` plus the residual width ``sliced_hidden_size`` (D') and its norms' ``sliced_norm_eps``."""

    model_type = "sparsehub_sliced_gpt2"

    def __init__(self, sliced_hidden_size: int | None = None, sliced_norm_eps: float | None = None, **kwargs):
        kwargs.pop("model_type", None)
        super().__init__(**kwargs)
        _init_slice_fields(self, sliced_hidden_size, sliced_norm_eps, self.layer_norm_epsilon)


class SlicedGPT2LMHeadModel(GPT2LMHeadModel):
    """A ``GPT2LMHeadModel`` whose residual stream is ``config.sliced_hidden_size`` wide (see module doc)."""

    config_class = SlicedGPT2Config
    _tied_weights_keys: ClassVar[dict[str, str]] = {}

    def __init__(self, config: SlicedGPT2Config):
        super().__init__(config)
        width, full = config.sliced_hidden_size, config.hidden_size
        inner = config.n_inner if config.n_inner is not None else 4 * full
        body = self.transformer
        body.wte = nn.Embedding(config.vocab_size, width)
        body.wpe = nn.Embedding(config.max_position_embeddings, width)
        for block in body.h:
            block.ln_1, block.ln_2 = _stream_norm(config), _stream_norm(config)
            block.attn.c_attn = Conv1D(3 * full, width)  # Conv1D(nf=out, nx=in): weight (in, out)
            block.attn.c_proj = Conv1D(width, full)
            block.mlp.c_fc = Conv1D(inner, width)
            block.mlp.c_proj = Conv1D(width, inner)
        body.ln_f = _stream_norm(config)
        self.lm_head = nn.Linear(width, config.vocab_size, bias=True)


class Shortcut(nn.Linear):
    """The residual's change of basis ``z ↦ z S`` (weight ``Sᵀ``), applied through hooks on a sub-block.

    :meth:`capture` (pre-hook on the sub-block's norm) keeps the residual z; :meth:`add` (forward
    hook on the sub-block) adds ``z S - z`` to its output. Bound methods, so ``copy.deepcopy`` of the
    model rebinds them to the copy.
    """

    def __init__(self, width: int) -> None:
        super().__init__(width, width, bias=False)
        self._residual: torch.Tensor | None = None

    def capture(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self._residual = args[0]

    def add(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        z, self._residual = self._residual, None
        if z is None:
            raise RuntimeError("Shortcut.add ran without its captured residual (norm pre-hook missing)")
        change = self(z) - z
        if isinstance(output, tuple):
            return (output[0] + change, *output[1:])
        return output + change


class SlicedLlamaConfig(LlamaConfig):
    """``LlamaConfig`` of the sliced width D', which need not be a multiple of the number of heads.

    The stock config insists on ``hidden_size % num_attention_heads == 0`` even when ``head_dim``
    is given (SmolLM2: 9 heads, D' = 456 at 20 % slicing), although the model itself only needs
    ``head_dim``. This subclass runs the stock validation against the attention width instead.
    ``residual_shortcuts``: whether the layers carry the per-block shortcut matrices.
    """

    model_type = "sparsehub_sliced_llama"

    def __init__(self, residual_shortcuts: bool = True, **kwargs):
        kwargs.pop("model_type", None)
        width = kwargs.get("hidden_size")
        if width is not None and kwargs.get("head_dim") and kwargs.get("num_attention_heads"):
            kwargs["hidden_size"] = (
                kwargs["head_dim"] * kwargs["num_attention_heads"]
            )  # passes the stock check
        super().__init__(**kwargs)
        if width is not None:
            self.hidden_size = width
        self.residual_shortcuts = bool(residual_shortcuts)

    def validate(self) -> None:
        width = self.hidden_size
        self.hidden_size = self.num_attention_heads * self.head_dim
        try:
            super().validate()
        finally:
            self.hidden_size = width


class SlicedLlamaForCausalLM(LlamaForCausalLM):
    """A ``LlamaForCausalLM`` of width D'; with per-block bases each layer holds ``attn_shortcut`` and ``mlp_shortcut``.

    Also what a global-basis slice of a Llama model becomes when D' is not a multiple of the
    number of heads (``residual_shortcuts=False``), which the stock ``LlamaConfig`` refuses to save.
    """

    config_class = SlicedLlamaConfig
    _tied_weights_keys: ClassVar[dict[str, str]] = {}

    def __init__(self, config: SlicedLlamaConfig):
        super().__init__(config)
        if not config.residual_shortcuts:
            return
        for layer in self.model.layers:
            layer.attn_shortcut = Shortcut(config.hidden_size)
            layer.mlp_shortcut = Shortcut(config.hidden_size)
            layer.input_layernorm.register_forward_pre_hook(layer.attn_shortcut.capture)
            layer.self_attn.register_forward_hook(layer.attn_shortcut.add)
            layer.post_attention_layernorm.register_forward_pre_hook(layer.mlp_shortcut.capture)
            layer.mlp.register_forward_hook(layer.mlp_shortcut.add)


AutoConfig.register(SlicedOPTConfig.model_type, SlicedOPTConfig, exist_ok=True)
AutoConfig.register(SlicedGPT2Config.model_type, SlicedGPT2Config, exist_ok=True)
AutoModelForCausalLM.register(SlicedOPTConfig, SlicedOPTForCausalLM, exist_ok=True)
AutoModelForCausalLM.register(SlicedGPT2Config, SlicedGPT2LMHeadModel, exist_ok=True)
AutoConfig.register(SlicedLlamaConfig.model_type, SlicedLlamaConfig, exist_ok=True)
AutoModelForCausalLM.register(SlicedLlamaConfig, SlicedLlamaForCausalLM, exist_ok=True)
