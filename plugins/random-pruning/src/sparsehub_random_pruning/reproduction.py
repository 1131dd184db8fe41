"""Reproduction of paper 19 at small scale: static random masks on synth10 MLPs of growing width.

Setup (the brief's, measured there at 21 s): ``synth10``, ReLU MLP 40-H-H-10 for H in
{32, 128, 512}, random masks at 90 % sparsity fixed from initialisation, kept weights rescaled
by 1 / sqrt(d_l), SGD (lr 0.05, momentum 0.9, weight decay 1e-4, batch 128, cosine) for 20
epochs; the same initialisation and data order for the dense baseline. Claims:

(a) the gap to dense shrinks with width: gap(dense - ERK) at the widest <= 1/2 gap at the narrowest;
(b) ERK beats uniform at high sparsity: ERK - uniform >= 0.05 accuracy at the widest;
(c) the masks are what was asked: realised global density within 1e-3 of the target, every ERK
    layer density <= 1 (the capacity clamp);
(d) without normalisation layers the 1 / sqrt(d_l) rescaling matters: ERK rescaled - ERK
    unrescaled >= 0.05 at the widest.

``quick=False`` adds widths 64, 256 and 1024, averages three seeds, and sweeps the sparsity at
H = 512 (50 / 80 / 90 / 95 / 98 %) for a sixth claim: (e) ERK's advantage over uniform grows with
sparsity (at 98 % it exceeds the one at 50 % by >= 0.05). Measured there, (d) fails at H = 1024
(+0.029): the README reports it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sparsehub.errors import bad_value
from sparsehub.progress import progress
from sparsehub.repro import Claim, Figure, Report

__all__ = ["reproduce"]

_SPARSITY = 0.9
_LR, _EPOCHS = 0.05, 20
_MODES = ("dense", "erk", "uniform", "erk-unscaled")
_LABELS = {
    "dense": "dense",
    "erk": "ERK (rescaled init)",
    "uniform": "uniform (rescaled init)",
    "erk-unscaled": "ERK, init not rescaled",
}


def _run(width: int, mode: str, sparsity: float, seed: int, data: Sequence[torch.Tensor]) -> dict[str, Any]:
    """Train one 40-H-H-10 MLP (dense or randomly pruned) and return its accuracy and mask facts."""
    from sparsehub.nn.fixtures import evaluate, mlp, train

    from .pruner import RandomPruner

    model = mlp(40, width, 10, seed=seed)
    out: dict[str, Any] = {}
    masking = None
    if mode != "dense":
        rule = "uniform" if mode == "uniform" else "erk"
        pruner = RandomPruner(1.0 - sparsity, rule, rescale_init=mode != "erk-unscaled", seed=seed)
        masking = pruner.fit(model).apply(model)
        out["densities"] = dict(pruner.densities_)
        out["realised"] = pruner.density_
    train(model, data, epochs=_EPOCHS, lr=_LR, seed=seed, masking=masking)
    if masking is not None:  # the masks held through training
        out["realised_after"] = 1.0 - masking.sparsity()
    out["accuracy"] = evaluate(model, data[2], data[3])
    return out


def _erk_unclamped_max(shapes: dict[str, tuple[int, ...]], density: float) -> float:
    """The largest d_l = eps * r_l of ERK solved once, without the ">1 => dense" loop."""
    sizes = {n: math.prod(s) for n, s in shapes.items()}
    raw = {n: sum(s) / sizes[n] for n, s in shapes.items()}
    eps = density * sum(sizes.values()) / sum(raw[n] * sizes[n] for n in shapes)
    return eps * max(raw.values())


def _mlp_shapes(width: int) -> dict[str, tuple[int, ...]]:
    return {"0.weight": (width, 40), "2.weight": (width, width), "4.weight": (10, width)}


def _width_figure(acc: dict[tuple[int, str], float], widths: Sequence[int], sparsity: float) -> Figure:
    def draw(ax: Any) -> None:
        for mode, style in zip(_MODES, ("-o", "-s", "-^", "--s")):
            ax.plot(widths, [acc[w, mode] for w in widths], style, label=_LABELS[mode])
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(widths), [str(w) for w in widths])
        ax.set_xlabel("hidden width H (MLP 40-H-H-10)")
        ax.set_ylabel("test accuracy (synth10)")
        ax.legend()
        ax.grid(alpha=0.3)

    return Figure("accuracy-vs-width", draw, f"random pruning at {sparsity:.0%} sparsity: accuracy vs width")


def _sparsity_figure(acc: dict[tuple[float, str], float], sparsities: Sequence[float], width: int) -> Figure:
    def draw(ax: Any) -> None:
        xs = [100 * s for s in sparsities]
        for mode, style in (("erk", "-s"), ("uniform", "-^")):
            ax.plot(xs, [acc[s, mode] for s in sparsities], style, label=_LABELS[mode])
        ax.axhline(acc["dense"], color="k", ls=":", label="dense")  # type: ignore[index]
        ax.set_xlabel("sparsity (%)")
        ax.set_ylabel("test accuracy (synth10)")
        ax.legend()
        ax.grid(alpha=0.3)

    return Figure("accuracy-vs-sparsity", draw, f"ERK vs uniform ratios, H={width}")


def reproduce(quick: bool = True, seed: int = 0, *, show_progress: bool | None = None) -> Report:
    """Measure the paper's claims; ``quick=True`` takes about 15 s on 2 CPU cores (9 + 3 short runs).

    ``seed`` draws the initialisation, the masks and the batch order (the synth10 task itself is
    the brief's, ``random_state=0``). ``show_progress``: a progress bar on stderr (default: only
    for ``quick=False``). Torch's thread count is set to 2 for the run and restored afterwards.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise bad_value("seed", seed, "an int >= 0")
    from sparsehub.nn.fixtures import synth10

    seed = int(seed)
    show = (not quick) if show_progress is None else bool(show_progress)
    widths = (32, 128, 512) if quick else (32, 64, 128, 256, 512, 1024)
    seeds = [seed] if quick else [seed, seed + 1, seed + 2]
    sweep = () if quick else (0.5, 0.8, 0.9, 0.95, 0.98)
    sweep_width = 512
    report = Report("random-pruning", [], quick=quick, seed=seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with report.timed():
            data = synth10(0)
            jobs = [(w, m, _SPARSITY, s) for w in widths for m in _MODES for s in seeds]
            jobs += [
                (sweep_width, m, p, s)
                for p in sweep
                if p != _SPARSITY
                for m in ("erk", "uniform")
                for s in seeds
            ]
            runs: dict[tuple[int, str, float, int], dict[str, Any]] = {}
            items = (
                progress(jobs, desc="random-pruning", label=lambda j: f"H={j[0]} {j[1]} {j[2]:.0%}")
                if show
                else jobs
            )
            start = time.perf_counter()
            for width, mode, sparsity, s in items:
                runs[width, mode, sparsity, s] = _run(width, mode, sparsity, s, data)
            train_seconds = time.perf_counter() - start
            _claims(report, runs, widths, seeds, sweep, sweep_width, train_seconds)
    finally:
        torch.set_num_threads(threads)
    report.notes = (
        f"synth10, MLP 40-H-H-10, static random masks at {_SPARSITY:.0%} sparsity, {_EPOCHS} epochs, "
        f"SGD lr {_LR} cosine; {len(seeds)} seed(s) averaged"
    )
    return report


def _claims(
    report: Report,
    runs: dict[tuple[int, str, float, int], dict[str, Any]],
    widths: Sequence[int],
    seeds: Sequence[int],
    sweep: Sequence[float],
    sweep_width: int,
    seconds: float,
) -> None:
    def mean_acc(width: int, mode: str, sparsity: float = _SPARSITY) -> float:
        return float(np.mean([runs[width, mode, sparsity, s]["accuracy"] for s in seeds]))

    acc = {(w, m): mean_acc(w, m) for w in widths for m in _MODES}
    table = {f"H={w}": {m: round(acc[w, m], 4) for m in _MODES} for w in widths}
    narrow, wide = widths[0], widths[-1]
    gap = {w: acc[w, "dense"] - acc[w, "erk"] for w in widths}
    common = {"accuracy": table, "seeds": list(seeds)}
    share = seconds / 5  # the runs serve every claim; split their time evenly for the table
    report.add(
        Claim.compare(
            f"The gap between random ERK-sparse ({_SPARSITY:.0%}) and dense training shrinks as the MLP "
            "widens",
            f"dense - ERK accuracy at H={wide} (ours) vs at H={narrow} (baseline)",
            gap[wide],
            gap[narrow],
            baseline_name=f"gap at H={narrow}",
            op="<=",
            scale=0.5,
            seconds=share,
            details={**common, "gap": {f"H={w}": round(g, 4) for w, g in gap.items()}},
        )
    )
    report.add(
        Claim.compare(
            f"ERK layer ratios beat uniform ones at {_SPARSITY:.0%} sparsity",
            f"test accuracy at H={wide}",
            acc[wide, "erk"],
            acc[wide, "uniform"],
            baseline_name="uniform ratios",
            op=">=",
            margin=0.05,
            seconds=share,
            details=common,
        )
    )
    pruned = [r for key, r in runs.items() if key[1] != "dense"]
    target = {key: 1.0 - key[2] for key in runs if key[1] != "dense"}
    error = max(
        max(abs(r["realised"] - target[k]), abs(r["realised_after"] - target[k]))
        for k, r in runs.items()
        if k[1] != "dense"
    )
    report.add(
        Claim.check(
            "Exact per-layer counts: the realised global density is the target one, before and after "
            "training",
            "max |realised density - target| over every pruned run",
            error,
            op="<=",
            bound=1e-3,
            seconds=share,
            details={"runs": len(pruned)},
        )
    )
    erk = [(k, r["densities"]) for k, r in runs.items() if k[1] == "erk"]
    highest = max(max(d.values()) for _, d in erk)
    unclamped = {f"H={w}": round(_erk_unclamped_max(_mlp_shapes(w), 1.0 - _SPARSITY), 4) for w in widths}
    report.add(
        Claim.check(
            "The ERK capacity clamp keeps every layer density <= 1 while meeting the global target",
            "largest ERK layer density",
            highest,
            op="<=",
            bound=1.0,
            seconds=share,
            details={
                f"erk_densities_H={wide}": {
                    n: round(d, 4) for n, d in runs[wide, "erk", _SPARSITY, seeds[0]]["densities"].items()
                },
                "largest d_l of ERK solved once without the clamp": unclamped,
            },
        )
    )
    report.add(
        Claim.compare(
            "Without normalisation layers, rescaling the kept weights by 1/sqrt(d_l) (the paper's --scaled) "
            "is needed",
            f"ERK test accuracy at H={wide}",
            acc[wide, "erk"],
            acc[wide, "erk-unscaled"],
            baseline_name="ERK, init not rescaled",
            op=">=",
            margin=0.05,
            seconds=share,
            details=common,
        )
    )
    report.figures.append(_width_figure(acc, widths, _SPARSITY))
    if sweep:
        sweep_acc: dict[Any, float] = {
            (p, m): mean_acc(sweep_width, m, p) for p in sweep for m in ("erk", "uniform")
        }
        sweep_acc["dense"] = acc[sweep_width, "dense"]
        diff = {p: sweep_acc[p, "erk"] - sweep_acc[p, "uniform"] for p in sweep}
        lo, hi = min(sweep), max(sweep)
        report.add(
            Claim.compare(
                "ERK's advantage over uniform ratios grows with sparsity",
                f"ERK - uniform accuracy at H={sweep_width}, {hi:.0%} (ours) vs {lo:.0%} (baseline) sparsity",
                diff[hi],
                diff[lo],
                baseline_name=f"advantage at {lo:.0%}",
                op=">=",
                margin=0.05,
                details={
                    "accuracy": {
                        f"{p:.0%}": {m: round(sweep_acc[p, m], 4) for m in ("erk", "uniform")} for p in sweep
                    },
                    "dense": round(sweep_acc["dense"], 4),
                },
            )
        )
        report.figures.append(_sparsity_figure(sweep_acc, sweep, sweep_width))
