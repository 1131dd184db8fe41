"""Benchmarks of the core itself, run with ``sparsehub bench <name>`` (see :data:`CORE_BENCHMARKS`).

Plugins and backends name their own benchmarks; these cover the core's shared machinery.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Sequence

import numpy as np

from .bench import BenchResult, compare
from .mask import Mask

__all__ = ["CORE_BENCHMARKS", "global_topk"]

#: ``sparsehub bench NAME`` for the core: name -> "module:function".
CORE_BENCHMARKS = {
    "global-topk": "sparsehub.benchmarks:global_topk",
    "masked-training": "sparsehub.nn.bench_masking:bench",
}


def _model_scores(total: int, n_tensors: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    size = total // n_tensors
    return {f"layer{i}.weight": rng.standard_normal(size, dtype=np.float32) for i in range(n_tensors)}


def global_topk(quick: bool = True, threads: Sequence[int] = (1,), sparsity: float = 0.9) -> list[BenchResult]:
    """Global top-k over a whole model's scores: ours (no concatenation) vs torch's concat + topk.

    The anchor is what ``torch.nn.utils.prune.global_unstructured`` does: concatenate every
    score into one vector and take its top-k, which costs a copy of all scores. Ours visits one
    tensor at a time. ``extra`` reports our peak traced memory (numpy allocations, the output
    masks included) against the size of the anchor's concatenated copy.
    """
    import torch

    total, n_tensors = (10_000_000, 40) if quick else (100_000_000, 100)
    scores = _model_scores(total, n_tensors)
    torch_scores = {k: torch.from_numpy(v) for k, v in scores.items()}
    k_keep = total - round(sparsity * total)

    def ours() -> None:
        Mask.from_scores(scores, sparsity=sparsity, scope="global")

    def torch_concat() -> None:
        flat = torch.cat([t.reshape(-1) for t in torch_scores.values()])
        idx = torch.topk(flat, k_keep, sorted=False).indices
        keep = torch.zeros(flat.numel(), dtype=torch.bool)
        keep[idx] = True
        keep.split([t.numel() for t in torch_scores.values()])  # per-tensor views, as prune does

    tracemalloc.start()
    start = time.perf_counter()
    masks = Mask.from_scores(scores, sparsity=sparsity, scope="global")
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    mask_bytes = sum(m.array.nbytes for m in masks.values())
    kept = sum(m.nnz for m in masks.values())
    assert kept == k_keep, (kept, k_keep)  # the exact count, also at this scale
    extra = {
        "parameters": total,
        "tensors": n_tensors,
        "ours: one run (s)": round(seconds, 2),
        "ours: peak traced memory (MB)": round(peak / 2**20, 1),
        "ours: of which output masks (MB)": round(mask_bytes / 2**20, 1),
        "anchor: concatenated copy alone (MB)": round(total * 4 / 2**20, 1),
    }
    results = []
    for n in threads:
        results.append(compare(f"global top-k, {total:,} float32 scores in {n_tensors} tensors, "
                               f"sparsity {sparsity}", {"sparsehub": ours, "torch cat+topk": torch_concat},
                               ours="sparsehub", threads=n, repeats=3, warmup=1,
                               min_time=0.0, extra=extra))
    return results
