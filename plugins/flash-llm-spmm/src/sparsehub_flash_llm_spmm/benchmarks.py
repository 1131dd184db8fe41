"""``sparsehub bench flash-llm-spmm``: the Tiled-CSL SpMM against dense and sparse anchors, as ratios.

For each N (columns of X: tokens in a decode batch) one case times, interleaved in one process
and at the same thread count (1 vs 1, 2 vs 2): ours (:func:`flash_llm_spmm`, numba), dense
sgemm (``numpy`` W @ X and ``torch.matmul``, fp32), ``torch.sparse.mm`` with a CSR weight (MKL)
and scipy CSR. ``extra`` holds the footprint against dense fp16 (issue target <= 0.45x) and our
achieved memory bandwidth against the machine's copy bandwidth. Issue targets: >= 1.3x dense
sgemm for N <= 16 at 80% sparsity (M = K = 4096, ``--full``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sparsehub.bench import BenchResult, bandwidth_fraction, compare

from .reproduction import pruned_weight
from .spmm import flash_llm_spmm, footprint, traffic
from .tiled_csl import TiledCSL

__all__ = ["bench"]

OURS = "flash-llm tiled-csl (numba)"


def _case(t: TiledCSL, w: np.ndarray, anchors: dict, n: int, nthreads: int, repeats: int,
          rng: np.random.Generator) -> BenchResult:
    import torch

    m, k = w.shape
    x = rng.standard_normal((k, n)).astype(np.float32)
    xt = torch.from_numpy(x)
    candidates = {
        OURS: lambda: flash_llm_spmm(t, x),
        "numpy dense sgemm": lambda: w @ x,
        "torch.matmul dense": lambda: torch.matmul(anchors["dense"], xt),
        "torch.sparse.mm CSR": lambda: torch.sparse.mm(anchors["torch_csr"], xt),
        "scipy CSR": lambda: anchors["scipy_csr"] @ x,
    }
    fp = footprint(t)
    result = compare(
        f"SpMM {m}x{k} @ {k}x{n}, 80% sparse, fp16 weights / fp32 accumulation",
        candidates, ours=OURS, threads=nthreads, repeats=repeats, warmup=2, min_time=0.02,
        extra={"footprint / dense fp16": round(fp["ratio_to_dense_fp16"], 4)},
    )
    seconds = result.timings[OURS].median
    result.extra.update({f"ours: {key}": value for key, value in
                         bandwidth_fraction(traffic(t, n), seconds, threads=nthreads).items()})
    dense_seconds = result.timings["numpy dense sgemm"].median
    result.extra.update({f"numpy sgemm: {key}": value for key, value in
                         bandwidth_fraction(4 * (m * k + k * n + m * n), dense_seconds, threads=nthreads).items()})
    return result


def bench(quick: bool = True, threads: Sequence[int] = (1, 2)) -> list[BenchResult]:
    """Time the Tiled-CSL SpMM against dense sgemm, torch.sparse.mm and scipy; ratios > 1: ours is faster.

    quick: M = K = 2048, N in (1, 8, 16, 64); full: M = K = 4096, N in 1, 2, 4, ..., 128.
    """
    import warnings

    import scipy.sparse as sp
    import torch

    rng = np.random.default_rng(0)
    size = 2048 if quick else 4096
    ns = (1, 8, 16, 64) if quick else (1, 2, 4, 8, 16, 32, 64, 128)
    w = pruned_weight(size, size, 0.8, rng)
    t = TiledCSL.from_dense(w)
    w16 = w.astype(np.float16).astype(np.float32)  # every candidate multiplies the same weights
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "sparse CSR support is in beta"
        anchors = {"dense": torch.from_numpy(w16), "torch_csr": torch.from_numpy(w16).to_sparse_csr(),
                   "scipy_csr": sp.csr_array(w16)}
    results = []
    for nthreads in threads:
        for n in ns:
            results.append(_case(t, w16, anchors, n, nthreads, 5 if quick else 7, rng))
    return results
