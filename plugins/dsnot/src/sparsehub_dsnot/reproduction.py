"""The paper's claims on SmolLM2-135M at small scale: ``reproduce(quick=True, seed=0) -> Report``.

Paper (Tables 1-3, Fig. 3): starting from Wanda or magnitude masks, DSnoT lowers the perplexity
of a sparse LLM without any weight update and lowers the layer-wise reconstruction error. Here:
SmolLM2-135M (4-bit GGUF weights dequantised to fp32, so they carry quantisation noise) on the
research brief's text, ``corpus("gpl3")``: calibration on its first ``8 x 128`` tokens (the paper:
128 x 2048 of C4), perplexity on the next, unseen windows. Quick: 60 % unstructured from Wanda.
Full: 50/60/70 % and 2:4, both inits, and the same 60 % claim on ``corpus("pydoc")``, where it
does not hold (calibration and held-out text cover different topics; see the README).
"""

from __future__ import annotations

import copy
import math

import torch

from sparsehub.repro import Claim, Report

__all__ = ["reproduce"]

_LENGTH = 128


def _per_row_magnitude(model, sparsity: float, pattern) -> None:
    """DSnoT's magnitude start: |W| compared within each output row (no calibration needed)."""
    from sparsehub.mask import Pattern
    from sparsehub.nn.layout import layout_of, weight_matrix
    from sparsehub.nn.oneshot import wanda_keep

    parsed = Pattern.parse(pattern)
    for _, layer in layout_of(model).all_linears():
        w = weight_matrix(layer)
        keep = wanda_keep(w, torch.ones(w.shape[1]), sparsity, parsed)
        with torch.no_grad():
            w.mul_(keep.to(w.dtype))


def _mean(log: dict, key: str) -> float:
    return sum(v[key] for v in log.values()) / max(len(log), 1)


def _data(tok, name: str, n_cal: int, n_held: int, seed: int):
    """Calibration and held-out windows of ``_LENGTH`` tokens, disjoint.

    GPL-3 (one homogeneous document): calibration from token ``seed * n_cal * _LENGTH`` on, held-out
    right after it. pydoc (topics in sorted order): held-out at token 60 k, calibration windows
    spread evenly over the rest of the text (shifted by ``seed``), so they sample all its topics.
    """
    from sparsehub import models
    from sparsehub.nn import text_windows

    text = models.corpus(name)
    if name != "pydoc":
        start = seed * _LENGTH * n_cal
        calib = text_windows(tok, text, n_cal, _LENGTH, start=start)
        return list(calib.split(4)), text_windows(tok, text, n_held, _LENGTH, start=start + n_cal * _LENGTH)
    ids = torch.tensor(tok(text, add_special_tokens=False)["input_ids"], dtype=torch.long)
    lo, hi = 60_000, 60_000 + n_held * _LENGTH
    held = ids[lo:hi].reshape(n_held, _LENGTH)
    free = [s for s in range(seed, len(ids) - _LENGTH, _LENGTH) if s + _LENGTH <= lo or s >= hi]
    starts = [free[i * len(free) // n_cal] for i in range(n_cal)]
    calib = torch.stack([ids[s : s + _LENGTH] for s in starts])
    return list(calib.split(4)), held


def _setting(
    report: Report, model, calib, held, sparsity: float, pattern: str, text: str, *, quick: bool
) -> None:
    from sparsehub.nn import oneshot, perplexity

    from .pruner import prune

    label = (pattern if ":" in pattern else f"{sparsity:.0%} unstructured") + f", {text}"
    s = None if ":" in pattern else sparsity
    ppl = {"dense": perplexity(model, held)}
    m = copy.deepcopy(model)
    oneshot.magnitude(m, s, pattern=pattern)
    ppl["magnitude"] = perplexity(m, held)
    m = copy.deepcopy(model)
    oneshot.wanda(m, s, calibration=calib, pattern=pattern)
    ppl["wanda"] = perplexity(m, held)
    logs = {}
    for init in ("wanda",) if quick else ("wanda", "magnitude"):
        m = copy.deepcopy(model)
        logs[init] = {}
        prune(m, s, calibration=calib, init=init, pattern=pattern, log=logs[init])
        ppl[f"dsnot-{init}"] = perplexity(m, held)
    if not quick:
        m = copy.deepcopy(model)
        _per_row_magnitude(m, 1 - 2 / 4 if s is None else s, pattern)
        ppl["magnitude (per row)"] = perplexity(m, held)
    del m
    swaps = sum(v["swaps"] for v in logs["wanda"].values())
    details = {
        "perplexities": ppl,
        "calibration_tokens": sum(int(b.numel()) for b in calib),
        "held_out_tokens": int(held.numel()),
        "swaps": swaps,
    }
    # the research brief's pass rule on this model: at 60 %, DSnoT <= 0.92 x Wanda; elsewhere just lower
    scale = 0.92 if sparsity == 0.6 and ":" not in pattern else 1.0
    report.add(
        Claim.compare(
            f"{label}: DSnoT from Wanda has lower held-out perplexity than Wanda",
            "perplexity",
            ppl["dsnot-wanda"],
            ppl["wanda"],
            baseline_name="Wanda",
            op="<=",
            scale=scale,
            details=details,
        )
    )
    report.add(
        Claim.compare(
            f"{label}: Wanda beats magnitude (the baseline ordering)",
            "perplexity",
            ppl["wanda"],
            ppl["magnitude"],
            baseline_name="magnitude (layer-wise)",
            op="<",
            details=details,
        )
    )
    before, after = _mean(logs["wanda"], "error_before"), _mean(logs["wanda"], "error_after")
    report.add(
        Claim.compare(
            f"{label}: DSnoT lowers the mean layer-wise reconstruction error |e_i| of its Wanda start",
            "mean |Σ_pruned W_ij E[x_j]|",
            after,
            before,
            baseline_name="Wanda mask",
            op="<=",
            scale=0.5,
            details={"swaps": swaps},
        )
    )
    if not quick:
        report.add(
            Claim.compare(
                f"{label}: DSnoT from magnitude beats its start (per-row magnitude)",
                "perplexity",
                ppl["dsnot-magnitude"],
                ppl["magnitude (per row)"],
                baseline_name="magnitude (per row)",
                op="<",
                details=details,
            )
        )


def reproduce(quick: bool = True, seed: int = 0) -> Report:
    """Measure the paper's claims on SmolLM2-135M; quick: 60 % unstructured on GPL-3 (about a minute)."""
    from sparsehub import models

    report = Report("dsnot", [], quick=quick, seed=seed)
    with report.timed():
        torch.manual_seed(seed)
        model, tok = models.smollm2()
        n_cal, n_held = (8, 8) if quick else (32, 16)
        calib, held = _data(tok, "gpl3", n_cal, n_held, seed)
        settings = (
            [(0.6, "unstructured")]
            if quick
            else [(0.5, "unstructured"), (0.6, "unstructured"), (0.7, "unstructured"), (0.5, "2:4")]
        )
        for sparsity, pattern in settings:
            _setting(report, model, calib, held, sparsity, pattern, "gpl3", quick=quick)
        if not quick:
            calib, held = _data(tok, "pydoc", n_cal, n_held, seed)
            _setting(report, model, calib, held, 0.6, "unstructured", "pydoc", quick=False)
        if not all(math.isfinite(c.ours) for c in report.claims):
            raise RuntimeError("a perplexity of the reproduction is not finite")
    return report
