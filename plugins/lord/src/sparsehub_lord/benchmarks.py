"""Benchmark: the forward pass of LoRD's factorised layer against the dense ``nn.Linear`` it replaces.

LoRD's inference claim (up to 22.35 % faster on StarCoder) comes from doing two GEMMs of
r · (in + out) multiply-adds instead of one of in · out. Here one SmolLM2-sized MLP projection
(576 -> 1536, and 1536 -> 576 in full mode) runs on 128 tokens, dense against factorised at
``keep`` = 0.5 and 0.75 of its parameters; the ratio dense / ours above 1 means ours is faster,
and ``extra["expected"]`` is the parameter ratio it would reach if time followed parameters.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from sparsehub.bench import BenchResult, compare

from .factors import LowRankLinear

__all__ = ["bench"]


def _pair(in_f: int, out_f: int, keep: float) -> tuple[nn.Linear, LowRankLinear, int]:
    torch.manual_seed(0)
    dense = nn.Linear(in_f, out_f, bias=False)
    rank = int(keep * in_f * out_f / (in_f + out_f))
    low = LowRankLinear(in_f, out_f, rank)
    return dense, low, rank


def bench(quick: bool = True, threads: Iterable[int] = (1, 2)) -> list[BenchResult]:
    """Time dense vs factorised forward passes (128 tokens); ratios above 1 mean the factors are faster."""
    shapes = [(576, 1536)] if quick else [(576, 1536), (1536, 576)]
    results = []
    for n in threads:
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

                results.append(compare(
                    f"forward {in_f}->{out_f}, 128 tokens, keep={keep} (rank {rank})",
                    {"LowRankLinear (ours)": run_low, "nn.Linear (dense)": run_dense},
                    ours="LowRankLinear (ours)", threads=n, repeats=7 if quick else 15, warmup=2,
                    extra={"rank": rank, "expected": round(in_f * out_f / (rank * (in_f + out_f)), 3)},
                ))
    return results
