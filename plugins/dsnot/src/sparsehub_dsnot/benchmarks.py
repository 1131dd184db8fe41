"""Benchmark: DSnoT's cost on top of Wanda on SmolLM2-135M (target: DSnoT <= 2x Wanda's time).

Both candidates prune a fresh copy of the model with the same calibration batches, so each call
contains the same sequential calibration pass; DSnoT's extra work is its per-layer sorts and the
swap loop. The ratio printed is Wanda / DSnoT time (below 1: DSnoT is slower; the target is a
ratio of at least 0.5).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from sparsehub.bench import BenchResult, compare

__all__ = ["bench"]


def bench(quick: bool = True, threads: Iterable[int] = (1, 2)) -> list[BenchResult]:
    """Time DSnoT (from Wanda, 60 %) against Wanda alone on SmolLM2, calibration 8 (full: 32) x 128."""
    from sparsehub import models
    from sparsehub.nn import oneshot, text_windows

    from .pruner import prune

    model, tok = models.smollm2()
    n = 8 if quick else 32
    calib = list(text_windows(tok, models.corpus("pydoc"), n, 128).split(4))
    candidates = {
        "DSnoT (ours)": lambda: prune(copy.deepcopy(model), 0.6, calibration=calib),
        "Wanda": lambda: oneshot.wanda(copy.deepcopy(model), 0.6, calibration=calib),
    }
    return [
        compare(
            f"SmolLM2-135M, 60 % unstructured, calibration {n} x 128 tokens",
            candidates,
            ours="DSnoT (ours)",
            threads=t,
            repeats=1 if quick else 3,
            warmup=0,
            min_time=0.0,
            extra={"budget": "ratio >= 0.5 (DSnoT at most 2x Wanda)"},
        )
        for t in threads
    ]
