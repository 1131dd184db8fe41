"""Benchmark: the masked training step against the dense one on the reference MLP.

The issue's budget: masked training of the reference MLP (40-512-512-10, batch 128, SGD with
momentum 0.9 and weight decay 1e-4) costs at most 15 % more time per step than the dense step.
Both candidates run the same full step (zero_grad, forward, cross-entropy, backward, step) on the
same fixed batch; the masked one carries 90 % sparse unstructured masks on all three weights.
``overhead = median(masked) / median(dense) - 1`` is stored in each result's ``extra``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from sparsehub.bench import BenchResult, compare
from sparsehub.mask import Mask

from .masking import attach

__all__ = ["bench", "reference_mlp"]

SPARSITY = 0.9
BATCH = 128


def reference_mlp(seed: int = 0, hidden: int = 512) -> nn.Sequential:
    """The 40-H-H-10 ReLU MLP of the briefs' ``synth10`` task, initialised from ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(40, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10)
    )


def _training_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor):
    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step


def _sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)


def _candidates(seed: int = 0) -> dict[str, Callable[[], None]]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, 40, generator=generator)
    y = torch.randint(0, 10, (BATCH,), generator=generator)
    dense = reference_mlp(seed)
    masked = reference_mlp(seed)
    optimizer = _sgd(masked)
    weights = {name: p for name, p in masked.named_parameters() if name.endswith("weight")}
    masks = {
        name: Mask.random(tuple(p.shape), SPARSITY, seed + i) for i, (name, p) in enumerate(weights.items())
    }
    attach(masked, masks, optimizer=optimizer)
    return {
        "dense": _training_step(dense, _sgd(dense), x, y),
        "masked": _training_step(masked, optimizer, x, y),
    }


def bench(quick: bool = True, threads: Iterable[int] = (1, 2)) -> list[BenchResult]:
    """Time one masked training step against one dense step of the reference MLP, per thread count.

    ``ratios["dense"] = median(dense) / median(masked)``; ``extra["overhead"]`` is the masked
    step's extra time as a fraction of the dense step (0.05 = 5 % slower).
    """
    results = []
    for n in threads:
        candidates = _candidates()
        result = compare(
            "masked training step, MLP 40-512-512-10, batch 128, SGD momentum, 90% sparse",
            candidates,
            ours="masked",
            threads=n,
            repeats=7 if quick else 21,
            warmup=5,
            min_time=0.05 if quick else 0.2,
            extra={"sparsity": SPARSITY, "batch": BATCH},
        )
        result.extra["overhead"] = round(1.0 / result.ratios["dense"] - 1.0, 4)
        results.append(result)
    return results


if __name__ == "__main__":  # pragma: no cover - manual use: python -m sparsehub.nn.bench_masking
    from sparsehub.bench import format_results

    print(format_results(bench(quick=False)))
