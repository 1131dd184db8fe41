"""Reproduction of paper 37 at small scale: learned conjugate directions against CG, Jacobi-PCG and ICPCG.

Setup (brief 37 §5, scaled to the CI budget): 2-D Dirichlet 5-point Poisson matrices. The network
(the official architecture, 16 channels) is trained from scratch, unsupervised, with the paper's
loss on 4000 Ritz right-hand sides of the 16×16 matrix (n = 256: all 256 eigenvectors, the lowest
128 + 12 boosted ×9), Adam lr 1e-3, batch 8, 1000 steps, one thread. It is then used, unchanged,
on larger unseen grids (32², 48², 64²; ``quick=False``: trained on 32² for 2000 steps, tested up
to 128², plus a 3-D 16³ run), each with three right-hand sides (two smooth fields + 10 % noise, a
point source), to the relative residual 1e-6 — the true residual, float64 outer iteration. The
anchors run scipy.sparse.linalg.cg to the same rule: no preconditioner, Jacobi (the same as
none here: the diagonal is constant), and IC(0).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from sparsehub.errors import bad_value
from sparsehub.progress import progress
from sparsehub.repro import Claim, Figure, Report

__all__ = ["cg_iterations", "reproduce", "solve_all"]

_SLUG = "deep-conjugate-direction"
_RTOL = 1e-6
_GROWTH_BOUND = 2.5  # the brief's bound on DCDM's growth from 32² to 64² (CG's is about 2)


def cg_iterations(A: Any, b: np.ndarray, M: Any = None, rtol: float = _RTOL) -> tuple[int, float, bool]:
    """Iterations, seconds and success of scipy.sparse.linalg.cg (optionally preconditioned by M)."""
    from scipy.sparse.linalg import cg

    count = [0]

    def tick(_: np.ndarray) -> None:
        count[0] += 1

    start = time.perf_counter()
    x, info = cg(A, b, rtol=rtol, atol=0.0, maxiter=20 * A.shape[0], M=M, callback=tick)
    seconds = time.perf_counter() - start
    ok = info == 0 and np.linalg.norm(b - A @ x) <= rtol * np.linalg.norm(b) * (1 + 1e-9)
    return count[0], seconds, bool(ok)


def solve_all(model: Any, shape: tuple[int, ...], seed: int = 0) -> dict[str, Any]:
    """Iterations and seconds of DCDM and the three CG anchors on the three test problems of ``shape``."""
    from .iteration import dcdm
    from .poisson import poisson_matrix
    from .preconditioners import ichol0_preconditioner, jacobi_preconditioner
    from .problems import sample_right_hand_sides

    A = poisson_matrix(shape)
    anchors = {"CG": None, "Jacobi-PCG": jacobi_preconditioner(A), "IC(0)-PCG": ichol0_preconditioner(A)}
    out: dict[str, Any] = {k: {"iterations": [], "seconds": [], "converged": []}
                           for k in ("DCDM", *anchors)}
    out["DCDM"]["network_seconds"] = []
    out["DCDM"]["fallback_steps"] = []
    for b in sample_right_hand_sides(shape, seed=seed):
        result = dcdm(A, b, model, grid_shape=shape, rtol=_RTOL, maxiter=2000, safeguard=0.0)  # the paper's
        true = np.linalg.norm(b - A @ result.x) / np.linalg.norm(b)
        out["DCDM"]["iterations"].append(result.n_iter)
        out["DCDM"]["seconds"].append(result.time)
        out["DCDM"]["network_seconds"].append(result.info["network_seconds"])
        out["DCDM"]["fallback_steps"].append(result.info["fallback_steps"])
        out["DCDM"]["converged"].append(bool(result.converged and true <= _RTOL))
        for name, M in anchors.items():
            it, sec, ok = cg_iterations(A, b, M)
            out[name]["iterations"].append(it)
            out[name]["seconds"].append(sec)
            out[name]["converged"].append(ok)
    return out


def _mean_iterations(runs: dict[str, Any], name: str) -> float:
    return statistics.fmean(runs[name]["iterations"])


def _train(train_side: int, steps: int, dim: int, seed: int) -> Any:
    from .poisson import poisson_matrix
    from .training import train_dcdm

    shape = (train_side,) * dim
    return train_dcdm(poisson_matrix(shape), shape, n_samples=4000, steps=steps, batch_size=8, lr=1e-3,
                      seed=seed, show_progress=True)


def _claims(report: Report, results: dict[int, dict[str, Any]], train_side: int, dim: int) -> None:
    sizes = sorted(results)
    grid = (lambda s: f"{s}²") if dim == 2 else (lambda s: f"{s}³")
    per_size = {grid(s): {k: v["iterations"] for k, v in results[s].items()} for s in sizes}
    details = {"iterations": per_size, "trained_on": grid(train_side)}
    for s in sizes:
        report.add(Claim.compare(
            "learned CD reaches 1e-6 in far fewer iterations than CG on "
            + (f"an unseen {grid(s)} Poisson problem (trained on {grid(train_side)})" if s != train_side
               else f"the {grid(s)} training matrix (new right-hand sides)"),
            "mean iterations to ‖r‖/‖b‖ ≤ 1e-6", _mean_iterations(results[s], "DCDM"),
            _mean_iterations(results[s], "CG"), baseline_name="scipy cg", op="<=", scale=0.3,
            details={"dcdm": results[s]["DCDM"]["iterations"], "cg": results[s]["CG"]["iterations"],
                     "jacobi_pcg": results[s]["Jacobi-PCG"]["iterations"]}))
    worst = max(sizes, key=lambda s: _mean_iterations(results[s], "DCDM")
                / _mean_iterations(results[s], "IC(0)-PCG"))
    report.add(Claim.compare(
        "learned CD needs fewer iterations than incomplete-Cholesky PCG at every size "
        f"(worst: {grid(worst)})",
        "mean iterations", _mean_iterations(results[worst], "DCDM"),
        _mean_iterations(results[worst], "IC(0)-PCG"), baseline_name="IC(0)-PCG", op="<", details=details))
    if dim == 2 and 32 in results and 64 in results:
        growth = _mean_iterations(results[64], "DCDM") / _mean_iterations(results[32], "DCDM")
        cg_growth = _mean_iterations(results[64], "CG") / _mean_iterations(results[32], "CG")
        report.add(Claim.check(
            f"DCDM iterations grow at most {_GROWTH_BOUND}x from 32² to 64² (CG: {cg_growth:.2f}x; the "
            "paper's 'nearly flat' is not shown at this scale, see README)",
            "iterations(64²) / iterations(32²)", growth, op="<=", bound=_GROWTH_BOUND,
            details={"cg_growth": cg_growth}))
    failures = sum(not ok for s in sizes for ok in results[s]["DCDM"]["converged"])
    report.add(Claim.check(
        f"every DCDM solve reaches the true relative residual 1e-6 ({3 * len(sizes)} problems)",
        "solves that did not converge", failures, op="<=", bound=0,
        details={"fallback_steps": {grid(s): results[s]["DCDM"]["fallback_steps"] for s in sizes},
                 "iteration": "the paper's (safeguard=0)"}))


def reproduce(quick: bool = True, seed: int = 0) -> Report:
    """Measure the paper's claims; ``quick=True`` takes about 35 s on one core (training included).

    Network training (seeded by ``seed``) counts in the wall time; every iteration count and the
    seconds of each solver (the network's forward passes included) are in the claims' details.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise bad_value("seed", seed, "an int >= 0")
    import torch  # noqa: F401  (imported before entering ``threads`` so that its thread count is set)

    from sparsehub.bench import threads

    report = Report(_SLUG, [], quick=quick, seed=seed)
    runs = [(2, 16, 1000, (32, 48, 64))] if quick else [(2, 32, 2000, (32, 64, 96, 128)), (3, 8, 1000, (16,))]
    timing: dict[str, Any] = {}
    with threads(1):
        with report.timed():
            for dim, side, steps, sizes in runs:
                model = _train(side, steps, dim, seed)
                results = {s: solve_all(model, (s,) * dim, seed=seed)
                           for s in progress(sizes, desc=f"{_SLUG} {dim}-D solves")}
                _claims(report, results, side, dim)
                timing[f"{dim}-D"] = {
                    "train_seconds": model.train_seconds_,
                    "final_loss": statistics.fmean(model.loss_history_[-50:]),
                    "seconds_per_solve": {s: {k: statistics.fmean(v["seconds"]) for k, v in r.items()}
                                          for s, r in results.items()},
                    "network_seconds_per_solve": {s: statistics.fmean(r["DCDM"]["network_seconds"])
                                                  for s, r in results.items()}}
                if dim == 2:
                    _figure(report, results)
    report.notes = f"seconds (1 thread, network included in DCDM): {timing}"
    return report


def _figure(report: Report, results: dict[int, dict[str, Any]]) -> None:
    def draw(ax: Any) -> None:
        sizes = sorted(results)
        for name in ("DCDM", "CG", "IC(0)-PCG"):
            ax.plot(sizes, [_mean_iterations(results[s], name) for s in sizes], "o-", label=name)
        ax.set_xlabel("grid side N (N² unknowns)")
        ax.set_ylabel("iterations to 1e-6")
        ax.legend()

    report.figures.append(Figure("iterations", draw, "iterations vs grid size (2-D Poisson, Dirichlet)"))
