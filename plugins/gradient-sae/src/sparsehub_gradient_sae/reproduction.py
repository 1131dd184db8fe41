"""Reproduction of the g-SAE claim at small scale: spliced-in reconstructions lose less downstream loss.

Setup (the brief's measured configuration): a frozen MLP on sklearn's digits
(:func:`~sparsehub_gradient_sae.digits.digits_task`, 64-d ReLU hook site); activations and
gradients of the mean cross-entropy collected once on the training split; SAEs of width 256 with
k ∈ {2, 4}, batch 256, Adam lr 3e-3, aux_k on dead latents; TopK (β = 0) against g-SAE (β = 1,
RMS-normalised gradient), same initialisation and the same batch stream per seed, three seeds.
Evaluation on the held-out split: the increase of cross-entropy when the reconstruction is spliced
in at the hook (g-SAE selects with the gradient of the clean loss, as the paper evaluates it) and
the normalised MSE. Claims (brief's pass rule): mean ΔCE(g-SAE) ≤ 0.8 · mean ΔCE(TopK) and
mean NMSE(g-SAE) ≤ 1.1 · mean NMSE(TopK), for each k. Reported, not asserted: plain-TopK inference
on the g-trained dictionary and dead latents.
"""

from __future__ import annotations

import statistics
from typing import Any

from sparsehub.errors import bad_value
from sparsehub.progress import progress
from sparsehub.repro import Claim, Report

__all__ = ["reproduce"]

_SLUG = "gradient-sae"
_WIDTH, _BATCH, _LR, _BETA, _N_SEEDS, _KS = 256, 256, 3e-3, 1.0, 3, (2, 4)
_QUICK_STEPS, _FULL_STEPS = 500, 3000


def _ce(logits: Any, targets: Any) -> Any:
    import torch

    return torch.nn.functional.cross_entropy(logits, targets)


def _batches(x: Any, g: Any, steps: int, seed: int) -> Any:
    import torch

    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(x.shape[0], (_BATCH,), generator=gen)
        yield x[idx], g[idx]


def _run(task: Any, x: Any, g: Any, k: int, beta: float, seed: int, steps: int) -> dict[str, float]:
    import torch

    from sparsehub.sae import train_sae

    from .downstream import collect_acts_and_grads, spliced_loss
    from .sae import GradientTopKSAE

    sae = GradientTopKSAE(x.shape[1], _WIDTH, k, beta=beta, seed=seed)
    stream = _batches(x, g, steps, 1000 + seed)
    result = train_sae(sae, stream if beta > 0 else (b[0] for b in stream), lr=_LR, dead_window=500,
                       log_every=100)
    sae.eval()
    test = (task.x_test, task.y_test)
    selected = spliced_loss(task.model, task.hook, sae, _ce, test)
    fallback = spliced_loss(task.model, task.hook, sae, _ce, test, use_grad=False)
    xt, gt = collect_acts_and_grads(task.model, task.hook, _ce, test)
    with torch.no_grad():
        codes = sae.encode(xt, gt)
        recon = sae.decode(codes)
        nmse = float((recon - xt).pow(2).sum() / (xt - xt.mean(0)).pow(2).sum())
    return {"dce": selected.delta, "dce_topk_inference": fallback.delta, "nmse": nmse,
            "dead_on_test": float((codes == 0).all(0).sum()), "dead_in_training": float(result.tracker.dead.sum())}


def reproduce(quick: bool = True, seed: int = 0) -> Report:
    """Measure the claim on digits; ``quick=True`` (500 steps) takes about 20 s on one quiet CPU thread."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise bad_value("seed", seed, "an int >= 0")
    import torch

    from .digits import digits_task
    from .downstream import collect_acts_and_grads

    report = Report(_SLUG, [], quick=quick, seed=seed)
    steps = _QUICK_STEPS if quick else _FULL_STEPS
    seeds = [seed + i for i in range(_N_SEEDS)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is fastest and immune to a busy machine
    try:
        with report.timed():
            task = digits_task(seed=0)
            x, g = collect_acts_and_grads(task.model, task.hook, _ce, (task.x_train, task.y_train))
            jobs = [(k, beta, s) for k in _KS for s in seeds for beta in (0.0, _BETA)]
            runs: dict[tuple[int, float], list[dict[str, float]]] = {}
            for k, beta, s in progress(jobs, desc=f"{_SLUG} train", label=lambda j: f"k={j[0]} beta={j[1]} seed {j[2]}"):
                runs.setdefault((k, beta), []).append(_run(task, x, g, k, beta, s, steps))
            _claims(report, runs, seeds, steps)
    finally:
        torch.set_num_threads(threads)
    means = {f"k={k} {'g-SAE' if b else 'TopK'}": {m: round(statistics.fmean(r[m] for r in rs), 4)
                                                   for m in rs[0]} for (k, b), rs in runs.items()}
    report.notes = (f"digits MLP (test acc {task.test_accuracy:.3f}, CE {task.test_ce:.3f}); width {_WIDTH}, "
                    f"batch {_BATCH}, lr {_LR}, {steps} steps, beta {_BETA}, seeds {seeds}; means: {means}")
    return report


def _claims(report: Report, runs: dict[tuple[int, float], list[dict[str, float]]], seeds: list[int],
            steps: int) -> None:
    tag = f"{len(seeds)} seeds, {steps} steps"
    for k in _KS:
        topk, gsae = runs[(k, 0.0)], runs[(k, _BETA)]
        details = {"per_seed": {"TopK": topk, "g-SAE": gsae}}
        report.add(Claim.compare(
            f"g-SAE's spliced-in reconstructions raise the downstream CE less than TopK's at k={k} ({tag})",
            "mean ΔCE on the held-out digits", statistics.fmean(r["dce"] for r in gsae),
            statistics.fmean(r["dce"] for r in topk), baseline_name="TopK (β = 0)", op="<=", scale=0.8,
            details=details))
        report.add(Claim.compare(
            f"g-SAE reconstructs about as well as TopK at k={k} ({tag})", "mean NMSE on the held-out digits",
            statistics.fmean(r["nmse"] for r in gsae), statistics.fmean(r["nmse"] for r in topk),
            baseline_name="TopK (β = 0)", op="<=", scale=1.1))
