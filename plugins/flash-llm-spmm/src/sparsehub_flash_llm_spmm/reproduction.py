"""Reproduction of Flash-LLM's claims at CPU scale: ``reproduce(quick=True, seed=0) -> Report``.

What a CPU can show (the brief, Section 5): the *load-as-sparse* half of the paper.
(a) Tiled-CSL is exact: every matrix round-trips bit for bit and the 16-bit in-tile locations
never overflow; (b) footprint: at 80% sparsity Tiled-CSL needs at most 0.45x the bytes of the
dense fp16 weight (paper, Section 4.3: 4 bytes per non-zero plus the tile offsets); (c) the SpMM
on it is correct (fp16 weights, fp32 accumulation) against the dense product of the same fp16
weights, and it moves fewer bytes than the dense GEMM. The kernel-speed headline (tensor-core
"compute as dense") needs a GPU: the CPU timings are reported in the claims' details, never
asserted.
"""

from __future__ import annotations

import numpy as np

from sparsehub.bench import compare
from sparsehub.progress import progress
from sparsehub.repro import Claim, Report

from .spmm import flash_llm_spmm, footprint, traffic
from .tiled_csl import TiledCSL

__all__ = ["pruned_weight", "reproduce"]


def pruned_weight(m: int, k: int, sparsity: float, rng: np.random.Generator) -> np.ndarray:
    """A Gaussian (m, k) float32 weight with exactly ``round(sparsity * m * k)`` zeros at random places."""
    w = rng.standard_normal((m, k)).astype(np.float32)
    drop = rng.permutation(m * k)[: round(sparsity * m * k)]
    w.reshape(-1)[drop] = 0.0
    return w


def _round_trip_mismatches(rng: np.random.Generator) -> tuple[int, int, dict]:
    """Entries that differ after dense -> Tiled-CSL -> CSR -> dense, and the largest location seen."""
    shapes = [(128, 64), (300, 200), (1, 1), (257, 129), (64, 1000)]
    bad, max_loc, cases = 0, 0, 0
    for shape in shapes:
        for sparsity in (0.0, 0.5, 0.8, 0.99):
            w = pruned_weight(*shape, sparsity, rng).astype(np.float16)
            w[0] = 0  # an empty row
            for shuffle in (False, True):
                for tile_m, tile_k in ((128, 64), (512, 128)):
                    t = TiledCSL.from_dense(w, tile_m=tile_m, tile_k=tile_k, shuffle=shuffle)
                    bad += int(np.count_nonzero(t.to_dense() != w))
                    max_loc = max(max_loc, int(t.locations().max(initial=0)))
                    cases += 1
    return bad, max_loc, {"matrices": cases, "largest tile": "512x128 (65,536 locations)"}


def reproduce(quick: bool = True, seed: int = 0) -> Report:
    """Measure Flash-LLM's load-as-sparse claims; ``quick=True`` finishes in about 20 s on 2 CPU cores."""
    rng = np.random.default_rng(seed)
    report = Report("flash-llm-spmm", [], quick=quick, seed=seed)
    size = 1024 if quick else 4096
    steps = ["round trip", "footprint", "spmm"]
    with report.timed():
        for step in progress(steps, desc="flash-llm-spmm repro"):
            if step == "round trip":
                bad, max_loc, details = _round_trip_mismatches(rng)
                report.add(Claim.check(
                    "Tiled-CSL round-trips exactly (ragged shapes, empty rows, 0-99% sparsity, both orders)",
                    "entries changed by dense -> Tiled-CSL -> dense", bad, op="<=", bound=0, details=details))
                report.add(Claim.check(
                    "16-bit in-tile locations never overflow (tile_m * tile_k <= 65,536)",
                    "largest stored location", max_loc, op="<", bound=1 << 16, details=details))
            elif step == "footprint":
                w = pruned_weight(size, size, 0.8, rng)
                t = TiledCSL.from_dense(w)
                fp = footprint(t)
                report.add(Claim.compare(
                    f"At 80% sparsity Tiled-CSL stores a {size}x{size} weight in <= 0.45x dense fp16",
                    "bytes", fp["bytes"], fp["dense_fp16_bytes"], baseline_name="dense fp16", op="<=",
                    scale=0.45, details={"ratio": round(fp["ratio_to_dense_fp16"], 4),
                                         "padding words": fp["padding_words"]}))
            else:
                _spmm_claims(report, t, w, rng, quick)
    return report


def _spmm_claims(report: Report, t: TiledCSL, w: np.ndarray, rng: np.random.Generator, quick: bool) -> None:
    m, k = w.shape
    w16 = w.astype(np.float16).astype(np.float64)
    worst, timings = 0.0, {}
    for n in (1, 8, 16, 64, 128):
        x = rng.standard_normal((k, n)).astype(np.float32)
        ref = w16 @ x
        y = flash_llm_spmm(t, x, threads=1)
        worst = max(worst, float(np.linalg.norm(y - ref) / np.linalg.norm(ref)))
        if n in (1, 16):
            res = compare(f"N={n}", {"ours": lambda x=x: flash_llm_spmm(t, x), "numpy sgemm": lambda x=x: w @ x},
                          ours="ours", threads=1, repeats=3, warmup=1, min_time=0.0)
            timings[f"N={n}: ours / numpy sgemm (median ms, 1 thread, not asserted)"] = \
                f"{res.timings['ours'].median * 1e3:.2f} / {res.timings['numpy sgemm'].median * 1e3:.2f}"
    report.add(Claim.check(
        "Load-as-sparse SpMM (fp16 weights, fp32 accumulation) equals the dense product of the same "
        "fp16 weights, N = 1...128",
        "relative error (Frobenius), worst N", worst, op="<=", bound=1e-5, details=timings))
    n = 16
    dense_fp16 = 2 * m * k + 2 * k * n + 2 * m * n
    report.add(Claim.compare(
        "Load as sparse: at 80% sparsity one N=16 SpMM reads and writes <= 0.5x the bytes of a dense "
        "fp16 GEMM (the bound that makes skinny LLM GEMMs memory-bound)",
        "compulsory bytes (Tiled-CSL + X + Y)", traffic(t, n), dense_fp16, baseline_name="dense fp16 GEMM",
        op="<=", scale=0.5, details={"dense fp32 sgemm bytes": 4 * (m * k + k * n + m * n)}))
