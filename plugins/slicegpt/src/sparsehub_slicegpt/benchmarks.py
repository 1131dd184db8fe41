"""Benchmark: the forward pass of SmolLM2-135M sliced by 25 % against the dense model (SliceGPT §4.3).

Every GEMM that touches the residual stream shrinks from D to D' (readers' inputs, writers'
outputs, the head), so the forward time should fall roughly in proportion to the Linear
multiply-adds removed; ``extra`` states that proportion (``expected_ratio``: dense MACs / sliced
MACs per token, embedding lookups excluded) beside the measured ratio.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from sparsehub.bench import BenchResult, compare

from .slicing import slice_model

__all__ = ["bench"]

FRACTION = 0.25


def _linear_macs(model: nn.Module) -> int:
    """Multiply-adds per token of every Linear (the head included, embedding lookups excluded)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def bench(quick: bool = True, threads: Iterable[int] = (1, 2)) -> list[BenchResult]:
    """Time dense vs sliced SmolLM2 forward passes on 1 x 128 tokens (quick) or 4 x 256 tokens.

    ``ratios["dense"]`` above 1 means the sliced model is faster.
    """
    from sparsehub import models
    from sparsehub.nn import text_windows

    dense, tok = models.smollm2()
    text = models.corpus("pydoc")
    sliced = slice_model(dense, FRACTION, calibration=text_windows(tok, text, 16, 64))
    tokens = text_windows(tok, text, 1, 128, start=60_000) if quick else text_windows(tok, text, 4, 256,
                                                                                        start=60_000)

    def forward(model: nn.Module):
        def run() -> None:
            with torch.no_grad():
                model(input_ids=tokens, use_cache=False)
        return run

    expected = _linear_macs(dense) / _linear_macs(sliced)
    results = []
    for n in threads:
        results.append(compare(
            f"SmolLM2-135M forward, {tuple(tokens.shape)} tokens, sliced {FRACTION:.0%} vs dense",
            {"sliced (ours)": forward(sliced), "dense": forward(dense)},
            ours="sliced (ours)", threads=n, repeats=5 if quick else 9, warmup=1, min_time=0.0,
            extra={"expected_ratio": expected, "hidden": [dense.config.hidden_size, sliced.config.hidden_size],
                   "target": "ratio close to expected_ratio (speed-up in proportion to the MACs removed)"},
        ))
    return results
