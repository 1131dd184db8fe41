"""Timing a compressed LLM against its dense original, next to the speed-up its size predicts.

Slicing (SliceGPT) and factorising (LoRD) shrink the GEMMs of a forward pass; whether the time
falls in proportion is the claim to check. :func:`compare_forward` times both models on the same
tokens in one process (:func:`sparsehub.bench.compare`) and records, beside the measured ratio,
the ratio the Linear multiply-adds predict and the parameter counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from sparsehub.bench import BenchResult, compare

__all__ = ["bench_windows", "compare_forward", "forward_runner", "linear_macs"]


def linear_macs(model: nn.Module) -> int:
    """Multiply-adds per token of every ``nn.Linear`` (LM head included, embedding lookups excluded)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def bench_windows(tokenizer: Any, *, quick: bool) -> torch.Tensor:
    """The timing input: 1 x 128 (quick) or 4 x 256 tokens of ``corpus("pydoc")`` from token 60 k."""
    from sparsehub import models

    from .text import text_windows

    n, length = (1, 128) if quick else (4, 256)
    return text_windows(tokenizer, models.corpus("pydoc"), n, length, start=60_000)


def forward_runner(model: nn.Module, input_ids: torch.Tensor) -> Callable[[], None]:
    """A zero-argument callable running ``model`` on ``input_ids`` without grad or KV cache."""

    def run() -> None:
        with torch.no_grad():
            model(input_ids=input_ids, use_cache=False)

    return run


def compare_forward(case: str, compressed: nn.Module, dense: nn.Module, input_ids: torch.Tensor, *,
                    name: str, threads: int, quick: bool, extra: dict[str, Any] | None = None) -> BenchResult:
    """Time ``compressed`` (called ``name``) against ``dense``; ratios above 1: compressed is faster.

    ``extra`` gains ``measured_ratio`` (dense time / compressed time), ``expected_ratio`` (dense /
    compressed Linear multiply-adds per token), ``parameter_ratio`` and the parameter counts.
    """
    n_dense = sum(p.numel() for p in dense.parameters())
    n_ours = sum(p.numel() for p in compressed.parameters())
    info = {
        "expected_ratio": round(linear_macs(dense) / linear_macs(compressed), 3),
        "parameters": {"dense": n_dense, name: n_ours},
        "parameter_ratio": round(n_dense / n_ours, 3),
        "target": "measured_ratio close to expected_ratio (speed-up in proportion to the multiply-adds removed)",
        **(extra or {}),
    }
    result = compare(case, {name: forward_runner(compressed, input_ids), "dense": forward_runner(dense, input_ids)},
                     ours=name, threads=threads, repeats=5 if quick else 9, warmup=1, min_time=0.0, extra=info)
    result.extra["measured_ratio"] = result.ratios["dense"]
    return result
