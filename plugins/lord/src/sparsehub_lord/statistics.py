"""The calibration statistics LoRD needs from one block: Gram matrices of Linear inputs or outputs.

The output second moment C = Σ y yᵀ (y = W x without the bias) is what LoRD decomposes. For a
layer with out <= in (down, o, k, v) C is accumulated directly from the layer's outputs: an (out,
out) matrix for tokens · out² multiply-adds, instead of Σ = XᵀX (tokens · in²) followed by
W Σ Wᵀ. For out > in (gate, up) the smaller object is Σ = XᵀX of the inputs, and layers fed the
same tensor share one accumulation. Everything is float64 and streaming: no activation is kept.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sparsehub.nn.calibration import BlockStep

__all__ = ["block_grams"]


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t.detach().reshape(-1, t.shape[-1]).to(torch.float64)


def _accumulate(grams: dict[str, torch.Tensor], key: str, rows: torch.Tensor) -> None:
    if key in grams:
        grams[key].addmm_(rows.t(), rows)
    else:
        grams[key] = rows.t() @ rows


def block_grams(step: BlockStep, inputs: list[str], outputs: list[str]) -> dict[str, torch.Tensor]:
    """Run ``step``'s block on its calibration batches; name -> float64 Gram matrix.

    ``inputs``: layers whose XᵀX (in, in) is wanted; Linears fed the very same tensor (q/k/v,
    gate/up) share one accumulation and the returned matrix is the same object. Sharing is
    decided on the first batch and must repeat on every batch (a block's forward is
    deterministic). ``outputs``: layers whose Σ (y - b)(y - b)ᵀ (out, out) is wanted.
    """
    grams: dict[str, torch.Tensor] = {}
    owner: dict[str, str] = {}
    seen: list[tuple[torch.Tensor, str]] = []  # (input, layer that accumulated it) in this batch

    def new_batch(module: nn.Module, args: Any) -> None:
        seen.clear()

    def input_hook(name: str):
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            x = args[0]
            source = next((n for t, n in seen if t is x), name)
            if owner.setdefault(name, source) != source:
                raise RuntimeError(
                    f"the input of {name!r} is shared with different layers from batch to batch"
                )
            if source == name:
                seen.append((x, name))
                _accumulate(grams, name, _rows(x))

        return hook

    def output_hook(name: str):
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            rows = _rows(output)
            if getattr(module, "bias", None) is not None:
                rows -= module.bias.detach().to(torch.float64)
            owner[name] = name
            _accumulate(grams, name, rows)

        return hook

    handles = [step.block.register_forward_pre_hook(new_batch)]
    handles += [step.linears[n].register_forward_hook(input_hook(n)) for n in inputs]
    handles += [step.linears[n].register_forward_hook(output_hook(n)) for n in outputs]
    try:
        step.forward()
    finally:
        for h in handles:
            h.remove()
        seen.clear()
    missing = [n for n in (*inputs, *outputs) if n not in owner]
    if missing:
        raise RuntimeError(
            f"{missing} received no input while block {step.index} ran on the calibration data"
        )
    return {n: grams[owner[n]] for n in (*inputs, *outputs)}
