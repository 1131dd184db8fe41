"""Benchmark: forward passes of LoRD-factorised layers and models against the dense ones.

LoRD's inference claim (up to 22.35 % faster on StarCoder) comes from doing two GEMMs of
r · (in + out) multiply-adds instead of one of in · out. Two cases:

* one SmolLM2-sized MLP projection (576 -> 1536, and 1536 -> 576 in full mode) on 128 tokens,
  ``LowRankLinear`` against ``nn.Linear`` at ``keep`` = 0.5 and 0.75 of its parameters;
* the whole SmolLM2-135M forward pass (1 x 128 tokens; 4 x 256 in full mode), dense against the
  model with every block Linear at keep = 0.5 (weight mode: timing does not depend on the values).

``ratios`` above 1 mean the factorised version is faster; ``extra["expected_ratio"]`` is the ratio
it would reach if time followed the Linear multiply-adds per token (the parameters of every
Linear, the LM head included, embedding lookups excluded), so the two can be read side by side.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from sparsehub.bench import BenchResult, compare

from .factors import LowRankLinear

__all__ = ["bench"]

MODEL_KEEP = 0.5


def _pair(in_f: int, out_f: int, keep: float) -> tuple[nn.Linear, LowRankLinear, int]:
    torch.manual_seed(0)
    dense = nn.Linear(in_f, out_f, bias=False)
    rank = int(keep * in_f * out_f / (in_f + out_f))
    low = LowRankLinear(in_f, out_f, rank)
    return dense, low, rank


def _layer_cases(quick: bool, n: int) -> list[BenchResult]:
    shapes = [(576, 1536)] if quick else [(576, 1536), (1536, 576)]
    results = []
    for in_f, out_f in shapes:
        for keep in (0.5, 0.75):
            dense, low, rank = _pair(in_f, out_f, keep)
            x = torch.randn(128, in_f)

            @torch.no_grad()
            def run_dense(layer=dense, x=x) -> None:
                layer(x)

            @torch.no_grad()
            def run_low(layer=low, x=x) -> None:
                layer(x)

            results.append(
                compare(
                    f"forward {in_f}->{out_f}, 128 tokens, keep={keep} (rank {rank})",
                    {"LowRankLinear (ours)": run_low, "nn.Linear (dense)": run_dense},
                    ours="LowRankLinear (ours)",
                    threads=n,
                    repeats=7 if quick else 15,
                    warmup=2,
                    extra={"rank": rank, "expected_ratio": round(in_f * out_f / (rank * (in_f + out_f)), 3)},
                )
            )
    return results


def bench(quick: bool = True, threads: Iterable[int] = (1, 2)) -> list[BenchResult]:
    """Time dense vs factorised forward passes (one layer, then SmolLM2); ratios above 1 mean ours is faster."""
    from sparsehub import models
    from sparsehub.nn import bench_windows, compare_forward

    from .compress import decompose

    dense, tok = models.smollm2()
    factorised = decompose(copy.deepcopy(dense), keep=MODEL_KEEP, mode="weight")
    tokens = bench_windows(tok, quick=quick)
    case = f"SmolLM2-135M forward, {tuple(tokens.shape)} tokens, every block Linear at keep={MODEL_KEEP} vs dense"
    results = []
    for n in threads:
        results += _layer_cases(quick, n)
        results.append(
            compare_forward(case, factorised, dense, tokens, name="factorised (ours)", threads=n, quick=quick)
        )
    return results
