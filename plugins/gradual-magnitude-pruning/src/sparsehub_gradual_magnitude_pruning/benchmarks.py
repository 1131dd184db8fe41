"""Benchmark: one GMP pruning step against torch.ao.pruning's WeightNormSparsifier.step() (brief 31 §6).

The brief's budget: on a model of about 10 M parameters, a pruning step of ours within 1.5x of
``WeightNormSparsifier.step()`` (1x1 blocks, L1 norm: the same unstructured magnitude masks)
driven by ``CubicSL``. Both candidates start every call from the same dense weights and all-ones
masks (a copy and a fill, done alike on both sides) and prune every layer but the first to the
same sparsity, so each call does a full selection over the same weights. Between pruning steps
neither costs anything beyond the masked training step (``sparsehub.nn.bench_masking``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from sparsehub.bench import BenchResult, compare
from sparsehub.nn.schedule import PolynomialSchedule

from .gradual import GradualMagnitudePruner

__all__ = ["bench"]

SPARSITY = 0.9


def _model(width: int, seed: int = 0) -> nn.Sequential:
    """A 4-layer MLP: width x width x 3 + an input and an output layer (width 1792: 9.9 M weights pruned)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(64, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, 10),
    )


def _candidates(width: int) -> tuple[dict[str, Callable[[], None]], int]:
    from torch.ao.pruning import WeightNormSparsifier

    ours_model, theirs_model = _model(width), _model(width)
    schedule = PolynomialSchedule(SPARSITY, begin_step=0, end_step=1, frequency=1)
    pruner = GradualMagnitudePruner(schedule).attach(ours_model)
    names = list(pruner.names)
    keeps = list(pruner.masking_.mask_tensors().values())
    ours_weights = [dict(ours_model.named_parameters())[n] for n in names]
    initial = [w.detach().clone() for w in ours_weights]

    @torch.no_grad()
    def ours() -> None:  # restore the dense start, then one pruning step
        for keep, weight, start in zip(keeps, ours_weights, initial):
            keep.fill_(True)
            weight.copy_(start)
        pruner._prune_to(pruner.masking_, SPARSITY)

    sparsifier = WeightNormSparsifier(
        sparsity_level=SPARSITY, sparse_block_shape=(1, 1), zeros_per_block=1, norm=1
    )
    sparsifier.prepare(theirs_model, [{"tensor_fqn": name} for name in names])
    modules = [theirs_model.get_submodule(n.rpartition(".")[0]) for n in names]
    their_masks = [m.parametrizations.weight[0].mask for m in modules]
    their_weights = [m.parametrizations.weight.original for m in modules]

    @torch.no_grad()
    def theirs() -> None:
        for mask, weight, start in zip(their_masks, their_weights, initial):
            mask.fill_(1)
            weight.copy_(start)
        sparsifier.step()

    pruned = sum(k.numel() for k in keeps)
    return {"GMP step (ours)": ours, "WeightNormSparsifier.step": theirs}, pruned


def bench(quick: bool = True, threads: Iterable[int] = (1, 2)) -> list[BenchResult]:
    """Time one pruning step at sparsity 0.9 over ~10 M weights (quick: ~2.5 M), ours vs torch.ao's.

    ``ratios["WeightNormSparsifier.step"]`` above 1 means ours is faster; the brief's budget is a
    ratio of at least 1 / 1.5 = 0.67.
    """
    width = 896 if quick else 1792
    results = []
    for n in threads:
        candidates, pruned = _candidates(width)
        results.append(
            compare(
                f"one GMP pruning step, {pruned / 1e6:.1f} M weights to sparsity {SPARSITY}",
                candidates,
                ours="GMP step (ours)",
                threads=n,
                repeats=5 if quick else 9,
                warmup=1,
                min_time=0.0,
                extra={"pruned_weights": pruned, "budget": "ratio >= 0.67 (ours within 1.5x)"},
            )
        )
    return results
