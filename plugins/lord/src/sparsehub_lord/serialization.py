"""Reload a LoRD-factorised model saved with ``save_pretrained``.

``save_pretrained`` writes the factors (``...gate_proj.A.weight``, ``...gate_proj.B.weight``) and
the plan (``config.lord``: module name -> rank). ``from_pretrained`` alone would rebuild dense
Linears and drop the factors, so :func:`load_decomposed` builds the architecture from the config,
swaps in empty :class:`~sparsehub_lord.factors.LowRankLinear` layers of the recorded ranks, then
loads the saved tensors strictly (only a tied LM head may be absent from the file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sparsehub.errors import bad_value
from sparsehub.nn.layout import weight_matrix

from .factors import LowRankLinear

__all__ = ["load_decomposed"]


def _state_dict(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    index = folder / "model.safetensors.index.json"
    files = (
        sorted(set(json.loads(index.read_text())["weight_map"].values()))
        if index.is_file()
        else ["model.safetensors"]
    )
    state: dict[str, torch.Tensor] = {}
    for name in files:
        state.update(load_file(str(folder / name)))
    return state


def load_decomposed(path: str | Path, **config_kwargs: Any) -> nn.Module:
    """The factorised model saved in ``path`` by ``decompose(...)`` then ``save_pretrained(path)``."""
    import transformers

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise bad_value("path", str(path), "a folder written by save_pretrained (with config.json)")
    config = transformers.AutoConfig.from_pretrained(str(folder), **config_kwargs)
    plan = getattr(config, "lord", None)
    if not isinstance(plan, dict) or "ranks" not in plan:
        raise bad_value(
            "path", str(path), "a model saved after sparsehub_lord.decompose (config.lord missing)"
        )
    cls = getattr(transformers, (config.architectures or ["AutoModel"])[0])
    model = cls(config) if not hasattr(cls, "from_config") else cls.from_config(config)
    for name, rank in plan["ranks"].items():
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        dense = getattr(parent, attr)
        out_f, in_f = weight_matrix(dense).shape
        setattr(
            parent,
            attr,
            LowRankLinear(in_f, out_f, int(rank), bias=dense.bias is not None, dtype=dense.weight.dtype),
        )
    missing, unexpected = model.load_state_dict(_state_dict(folder), strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if unexpected or set(missing) - tied:
        raise ValueError(
            f"{path}: the saved tensors do not match the recorded plan "
            f"(missing {sorted(set(missing) - tied)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    if tied:
        model.tie_weights()
    return model.eval()
