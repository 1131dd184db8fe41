"""Benchmarks against SAELens (``pip install 'sparsehub-gradient-sae[bench]'``): step time and quality.

1. **Training step, excluding the model backward** — on the same batch x [B, d_in] and a
   precomputed gradient g: our g-SAE step (β = 1, RMS-normalised), our TopK step (β = 0, the same
   class) and SAELens's ``TopKTrainingSAE`` step driven as its ``SAETrainer._train_step`` does
   (forward with the dead mask, firing counts, backward, clipping at 1.0, Adam). Same d_in, d_sae,
   k, batch, Adam, clipping and thread count. Target (brief): g-SAE step ≤ 1.3 × SAELens TopK
   step, i.e. ``ratios["SAELens TopK step"] >= 1 / 1.3``.
2. **Downstream quality on a real model** (reported, not a target): :func:`real_model_comparison`
   on the tiny byte-level LM of :func:`sparsehub.models.tiny_lm` (residual stream after block 0),
   ΔCE and NMSE of TopK, g-SAE and SAELens TopK at equal width and k.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from sparsehub.bench import BenchResult, compare
from sparsehub.sae import Trainer
from sparsehub.sae.saelens import SAELensTrainStep, saelens_topk

from .sae import GradientTopKSAE

__all__ = ["bench"]


def bench(quick: bool = True, threads: Iterable[int] = (1, 2)) -> list[BenchResult]:
    """Step time of g-SAE and our TopK against SAELens's TopK; real-model ΔCE comparison in ``extra``.

    ``ratios[name] > 1`` means ours (the g-SAE step) is faster than ``name``. Needs ``sae-lens``
    (the ``bench`` extra); the real-model comparison also needs ``transformers`` (skipped with a
    note when absent).
    """
    d_in, d_sae, k, batch = (128, 1024, 16, 1024) if quick else (512, 8192, 32, 4096)
    gen = torch.Generator().manual_seed(0)
    x, g = torch.randn(batch, d_in, generator=gen), torch.randn(batch, d_in, generator=gen)
    results = []
    for n in threads:
        gsae = Trainer(GradientTopKSAE(d_in, d_sae, k, beta=1.0, seed=0), lr=1e-4, clip_grad_norm=1.0)
        topk = Trainer(GradientTopKSAE(d_in, d_sae, k, beta=0.0, seed=0), lr=1e-4, clip_grad_norm=1.0)
        theirs = SAELensTrainStep(saelens_topk(d_in, d_sae, k), lr=1e-4)
        results.append(compare(
            f"one SAE training step, model backward excluded (d_in={d_in}, d_sae={d_sae}, k={k}, batch={batch})",
            {"g-SAE step (ours)": lambda s=gsae: s.step((x, g)), "TopK step (ours)": lambda s=topk: s.step(x),
             "SAELens TopK step": lambda s=theirs: s(x)},
            ours="g-SAE step (ours)", threads=n, repeats=7 if quick else 11, warmup=3, min_time=0.05,
            extra={"target": "g-SAE step <= 1.3 x SAELens TopK step (ratio >= 0.769)", "tokens_per_call": batch}))
    try:
        from .realmodel import real_model_comparison

        results[0].extra["real_model"] = real_model_comparison(quick=quick)
    except ImportError as exc:  # transformers is optional
        results[0].extra["real_model"] = {"skipped": str(exc)}
    return results
