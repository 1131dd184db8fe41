"""Benchmark against SAELens (``pip install 'sparsehub-sae-supervised-eval[bench]'``): latent classification metrics.

The one evaluation SAELens has in common with this paper is the latent-as-classifier table:
``sae_lens.synthetic.evals.compute_classification_metrics`` pairs every latent with its
best-matching ground-truth feature by decoder cosine and returns the mean precision / recall / F1
over latents. On the same codes, labels (one-hot attribute values as ground-truth activations)
and supervised features, we time

- ours: :func:`evaluate_interpretability` (the full [latents × values] table of every attribute,
  which is more than SAELens computes) followed by the same cosine pairing and mean;
- SAELens's ``compute_classification_metrics``.

The means agree (tested in ``tests/test_evaluation.py``). SAELens has no counterpart of the
approximation and control axes (they need the model and counterfactual pairs), so their times
are reported in ``extra`` without a ratio.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import torch

from sparsehub.bench import BenchResult, compare

from .dictionary import SupervisedDictionary
from .evaluation import evaluate_control, evaluate_interpretability

__all__ = ["bench"]


def _paired_means(codes: torch.Tensor, labels: dict, W_dec: torch.Tensor, U: torch.Tensor) -> float:
    table = evaluate_interpretability(codes, labels)
    f1 = np.concatenate([table[a].f1 for a in labels], 1)
    W, G = W_dec / W_dec.norm(dim=1, keepdim=True), U / U.norm(dim=1, keepdim=True)
    match = (W @ G.T).abs().argmax(1).numpy()
    return float(f1[np.arange(len(match)), match].mean())


def bench(quick: bool = True, threads: Iterable[int] = (1, 2)) -> list[BenchResult]:
    """Interpretability-table time, ours vs SAELens, on random TopK-like codes; needs ``sae-lens``."""
    from sae_lens.synthetic.evals import compute_classification_metrics

    n, d, width, k, n_names = (8192, 64, 1024, 8, 16) if quick else (65536, 256, 8192, 32, 64)
    gen = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    labels = {
        "IO": rng.integers(0, n_names, n),
        "S": rng.integers(0, n_names, n),
        "Pos": rng.integers(0, 2, n),
    }
    H = torch.randn(n, d, generator=gen)
    sup = SupervisedDictionary(list(labels)).fit(H, labels)
    pre = torch.randn(n, width, generator=gen)
    idx = pre.topk(k, dim=1).indices
    codes = torch.zeros(n, width).scatter(1, idx, pre.gather(1, idx).abs())
    W_dec = torch.randn(width, d, generator=gen)
    gt_acts, gt_feats = sup.codes(labels).float(), sup.W_dec.float()
    results = []
    for t in threads:
        results.append(
            compare(
                f"latent classification metrics (N={n}, latents={width}, k={k}, values={gt_feats.shape[0]})",
                {
                    "ours (full table + pairing)": lambda: _paired_means(
                        codes, labels, W_dec, sup.W_dec.float()
                    ),
                    "SAELens compute_classification_metrics": lambda: compute_classification_metrics(
                        codes, gt_acts, W_dec, gt_feats
                    ),
                },
                ours="ours (full table + pairing)",
                threads=t,
                repeats=7 if quick else 11,
                warmup=2,
                min_time=0.05,
                extra={
                    "note": "ours computes precision/recall/F1 for every (latent, value); SAELens only for "
                    "each latent's cosine-matched feature"
                },
            )
        )
    # control has no SAELens counterpart: report its absolute time for the record
    from sparsehub.sae import SparseAutoencoder

    sae = SparseAutoencoder(d, width, k=k, seed=0).eval()
    P = 512
    pairs = {"source": H[:P], "target": H[P : 2 * P]}
    start = time.perf_counter()
    evaluate_control(lambda X: X.float().numpy(), sae, pairs, (1, 2, 4, 8))
    results[0].extra["control_seconds_512_pairs"] = time.perf_counter() - start
    return results
