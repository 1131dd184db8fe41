"""Benchmark: the forward pass of SmolLM2-135M sliced by 25 % against the dense model (SliceGPT §4.3).

Every GEMM that touches the residual stream shrinks from D to D' (readers' inputs, writers'
outputs, the head), so the forward time should fall roughly in proportion to the Linear
multiply-adds removed; ``extra`` states that proportion (``expected_ratio``: dense MACs / sliced
MACs per token, embedding lookups excluded) beside the measured ratio.
"""

from __future__ import annotations

from collections.abc import Iterable

from sparsehub.bench import BenchResult

from .slicing import slice_model

__all__ = ["bench"]

FRACTION = 0.25


def bench(quick: bool = True, threads: Iterable[int] = (1, 2)) -> list[BenchResult]:
    """Time dense vs sliced SmolLM2 forward passes on 1 x 128 tokens (quick) or 4 x 256 tokens.

    ``ratios["dense"]`` (copied to ``extra["measured_ratio"]``) above 1 means the sliced model is
    faster; ``extra["expected_ratio"]`` is what the Linear multiply-adds removed predict.
    """
    from sparsehub import models
    from sparsehub.nn import bench_windows, compare_forward, text_windows

    dense, tok = models.smollm2()
    sliced = slice_model(dense, FRACTION, calibration=text_windows(tok, models.corpus("pydoc"), 16, 64))
    tokens = bench_windows(tok, quick=quick)
    case = f"SmolLM2-135M forward, {tuple(tokens.shape)} tokens, sliced {FRACTION:.0%} vs dense"
    hidden = {"hidden": [dense.config.hidden_size, sliced.config.hidden_size]}
    results = [
        compare_forward(
            case, sliced, dense, tokens, name="sliced (ours)", threads=n, quick=quick, extra=hidden
        )
        for n in threads
    ]
    return results
