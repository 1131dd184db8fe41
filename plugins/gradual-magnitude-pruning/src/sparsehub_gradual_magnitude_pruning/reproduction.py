"""Reproduction of paper 31 at small scale: large-sparse (GMP) against small-dense and one-shot pruning.

Setup (the brief's, section 31.5): ``synth10`` (data seed 0), ReLU MLP 40-512-512-10, SGD (lr 0.05,
momentum 0.9, weight decay 1e-4, batch 128, cosine learning rate). GMP prunes the 512x512 and
512x10 weights (the 40x512 input layer stays dense) on the cubic schedule from 10 % to 60 % of
training, Δt = 20 steps, to s_f = 0.95. Baselines, every one trained with the same recipe, epochs
and seeds:

* small-dense: the widest 40-H-H-10 MLP with no more non-zero weights than the GMP model
  (H = 160: 33 600 weights against GMP's 33 843);
* one-shot: the same 512-wide MLP, pruned by magnitude to 0.95 in one step at 10 % of training
  (the same layers), then trained on with the mask fixed;
* dense-512: the unpruned network.

Each model is trained for three seeds (``seed``, ``seed + 1``, ``seed + 2``: initialisation and
batch order); claims compare the means. ``quick=True`` trains 16 epochs instead of the brief's 30
(about 20 s on 2 cores); ``quick=False`` trains 30 and repeats the comparison at s_f = 0.90.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from sparsehub.errors import bad_value
from sparsehub.progress import progress
from sparsehub.repro import Claim, Figure, Report

__all__ = ["equal_nonzero_width", "reproduce"]

_SLUG = "gradual-magnitude-pruning"
_IN, _HIDDEN, _OUT = 40, 512, 10
_LR = 0.05
_BEGIN, _END, _FREQUENCY = 0.1, 0.6, 20  # schedule from 10 % to 60 % of training, Δt = 20 steps
_ONE_SHOT_AT = 0.1
_QUICK_EPOCHS, _FULL_EPOCHS = 16, 30
_N_SEEDS = 3


def _weights(hidden: int) -> tuple[int, int, int]:
    """Weight counts of the three layers of a 40-H-H-10 MLP."""
    return _IN * hidden, hidden * hidden, hidden * _OUT


def equal_nonzero_width(nonzeros: int) -> int:
    """The largest hidden width H whose dense 40-H-H-10 MLP has <= ``nonzeros`` weights (biases aside)."""
    width = 1
    while sum(_weights(width + 1)) <= nonzeros:
        width += 1
    return width


def _gmp_nonzeros(sparsity: float) -> int:
    """Weights left by GMP at ``sparsity``: the dense input layer plus the exact counts of the other two."""
    from sparsehub.mask import pruned_count

    first, middle, last = _weights(_HIDDEN)
    return first + sum(n - pruned_count(n, sparsity) for n in (middle, last))


def _accuracy_after(model: Any, data: Sequence[Any], seed: int, epochs: int, **train_kw: Any) -> float:
    from sparsehub.nn.fixtures import evaluate, train

    train(model, data, epochs=epochs, lr=_LR, seed=seed, **train_kw)
    return evaluate(model, data[2], data[3])


def _steps(data: Sequence[Any], epochs: int) -> int:
    return epochs * -(-data[0].shape[0] // 128)


def _run_dense(data: Sequence[Any], hidden: int, seed: int, epochs: int) -> dict[str, Any]:
    from sparsehub.nn.fixtures import mlp

    model = mlp(_IN, hidden, _OUT, seed=seed)
    nonzeros = sum(int(m.weight.count_nonzero()) for m in model if hasattr(m, "weight"))
    return {"accuracy": _accuracy_after(model, data, seed, epochs), "nonzeros": nonzeros}


def _pruned_facts(model: Any, masks: dict[str, Any], sparsity: float) -> dict[str, Any]:
    """Non-zero weights, and how far each pruned layer is from exactly pruned_count(N, s) zeros."""
    from sparsehub.mask import pruned_count
    from sparsehub.nn.allocation import parameter_by_name

    off = 0
    for name, mask in masks.items():
        weight = parameter_by_name(model, name).detach()
        pruned = mask.array.size - mask.nnz
        off += abs(pruned - pruned_count(mask.array.size, sparsity))
        off += int(weight[~mask.to_torch()].count_nonzero())  # a pruned weight that is not exactly 0
    nonzeros = sum(int(m.weight.count_nonzero()) for m in model if hasattr(m, "weight"))
    return {"off_count": off, "nonzeros": nonzeros}


def _run_gmp(data: Sequence[Any], sparsity: float, seed: int, epochs: int) -> dict[str, Any]:
    import torch

    from sparsehub.nn.fixtures import mlp
    from sparsehub.nn.schedule import PolynomialSchedule

    from .gradual import GradualMagnitudePruner

    total = _steps(data, epochs)
    schedule = PolynomialSchedule(
        sparsity, begin_step=int(_BEGIN * total), end_step=int(_END * total), frequency=_FREQUENCY
    )
    model = mlp(_IN, _HIDDEN, _OUT, seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=_LR, momentum=0.9, weight_decay=1e-4)
    pruner = GradualMagnitudePruner(schedule).attach(model, optimizer)
    accuracy = _accuracy_after(model, data, seed, epochs, optimizer=optimizer, masking=pruner)
    history = list(pruner.history_)
    masks = pruner.remove()
    return {"accuracy": accuracy, "history": history, **_pruned_facts(model, masks, sparsity)}


def _run_one_shot(data: Sequence[Any], sparsity: float, seed: int, epochs: int) -> dict[str, Any]:
    """Magnitude pruning of the same layers to ``sparsity`` in one step at 10 % of training."""
    import torch

    from sparsehub.nn.allocation import prunable_parameters
    from sparsehub.nn.fixtures import mlp
    from sparsehub.nn.masking import attach

    model = mlp(_IN, _HIDDEN, _OUT, seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=_LR, momentum=0.9, weight_decay=1e-4)
    names = list(prunable_parameters(model, exclude=("first",)))
    masking = attach(model, optimizer=optimizer, exclude=("0",))
    assert list(masking.names) == names, (masking.names, names)
    at = int(_ONE_SHOT_AT * _steps(data, epochs))

    def prune_once(step: int) -> None:
        if step == at:
            weights = dict(model.named_parameters())
            masking.update({n: weights[n].detach().abs() for n in names}, sparsity=sparsity)

    accuracy = _accuracy_after(model, data, seed, epochs, optimizer=optimizer, masking=prune_once)
    masks = masking.remove()
    return {"accuracy": accuracy, **_pruned_facts(model, masks, sparsity)}


def _mean(runs: list[dict[str, Any]]) -> float:
    return statistics.fmean(r["accuracy"] for r in runs)


def _compare_at(
    report: Report, data: Sequence[Any], sparsity: float, seeds: list[int], epochs: int, dense: list[dict]
) -> dict[str, list[dict[str, Any]]]:
    """Train GMP, small-dense and one-shot at ``sparsity`` for every seed and add the paper's claims."""
    width = equal_nonzero_width(_gmp_nonzeros(sparsity))
    jobs = [(kind, seed) for seed in seeds for kind in ("gmp", "small-dense", "one-shot")]
    runs: dict[str, list[dict[str, Any]]] = {"gmp": [], "small-dense": [], "one-shot": []}
    for kind, seed in progress(jobs, desc=f"{_SLUG} s_f={sparsity}", label=lambda j: f"{j[0]} seed {j[1]}"):
        if kind == "gmp":
            runs[kind].append(_run_gmp(data, sparsity, seed, epochs))
        elif kind == "small-dense":
            runs[kind].append(_run_dense(data, width, seed, epochs))
        else:
            runs[kind].append(_run_one_shot(data, sparsity, seed, epochs))
    gmp, small, one_shot = (_mean(runs[k]) for k in ("gmp", "small-dense", "one-shot"))
    per_seed = {k: [round(r["accuracy"], 4) for r in v] for k, v in runs.items()}
    common = {
        "details": {
            "per_seed": per_seed,
            "seeds": seeds,
            "epochs": epochs,
            "nonzero_weights": {
                "gmp": runs["gmp"][0]["nonzeros"],
                "small-dense": runs["small-dense"][0]["nonzeros"],
            },
            "small_dense_width": width,
        }
    }
    tag = f"s_f={sparsity:g}, {len(seeds)} seeds"
    report.add(
        Claim.compare(
            f"a large-sparse model (GMP, 512 wide) beats a small-dense one (H={width}) with as many "
            f"non-zeros ({tag})",
            "mean test accuracy",
            gmp,
            small,
            baseline_name=f"small-dense H={width}",
            op=">=",
            margin=0.015,
            **common,
        )
    )
    report.add(
        Claim.compare(
            f"gradual pruning beats one-shot magnitude pruning at 10 % of training ({tag})",
            "mean test accuracy",
            gmp,
            one_shot,
            baseline_name="one-shot magnitude",
            op=">=",
            margin=0.01,
            **common,
        )
    )
    report.add(
        Claim.compare(
            f"GMP stays within 0.03 of the dense 512-wide network ({tag})",
            "mean test accuracy",
            gmp,
            _mean(dense),
            baseline_name="dense-512",
            op=">=",
            margin=-0.03,
            **common,
        )
    )
    report.add(
        Claim.check(
            f"every pruned layer has exactly round(s_f N) zeros, all exactly 0 after training ({tag})",
            "pruned entries off the exact count, plus non-zero pruned weights",
            sum(r["off_count"] for r in runs["gmp"]),
            op="<=",
            bound=0,
        )
    )
    return runs


def _figures(report: Report, results: dict[float, dict[str, list]], dense: list[dict]) -> None:
    def draw_accuracy(ax: Any) -> None:
        kinds = ["gmp", "one-shot", "small-dense"]
        offsets = {k: i for i, k in enumerate(kinds)}
        for j, (_sparsity, runs) in enumerate(sorted(results.items())):
            for kind in kinds:
                accs = [r["accuracy"] for r in runs[kind]]
                x = j * (len(kinds) + 1) + offsets[kind]
                ax.bar(
                    x,
                    statistics.fmean(accs),
                    color=f"C{offsets[kind]}",
                    alpha=0.7,
                    label=kind if j == 0 else None,
                )
                ax.plot([x] * len(accs), accs, "k.", ms=4)
        ax.axhline(statistics.fmean(r["accuracy"] for r in dense), color="k", ls="--", label="dense-512")
        ax.set_xticks([j * (len(kinds) + 1) + 1 for j in range(len(results))])
        ax.set_xticklabels([f"s_f = {s:g}" for s in sorted(results)])
        ax.set_ylabel("test accuracy (synth10)")
        accuracies = [r["accuracy"] for runs in results.values() for k in kinds for r in runs[k]]
        accuracies += [r["accuracy"] for r in dense]
        ax.set_ylim(min(accuracies) - 0.03, max(accuracies) + 0.03)
        ax.legend(loc="upper center", ncol=4, fontsize=8)

    def draw_schedule(ax: Any) -> None:
        for sparsity, runs in sorted(results.items()):
            steps, targets, achieved = zip(*runs["gmp"][0]["history"])
            ax.step(steps, targets, where="post", label=f"schedule s_t, s_f = {sparsity:g}")
            ax.plot(
                steps, achieved, ".", ms=3, label=f"realised sparsity (pruned layers), s_f = {sparsity:g}"
            )
        ax.set_xlabel("training step")
        ax.set_ylabel("sparsity")
        ax.legend(loc="lower right")

    report.figures.append(
        Figure("accuracy", draw_accuracy, "GMP vs one-shot vs small-dense at equal non-zeros")
    )
    report.figures.append(Figure("schedule", draw_schedule, "cubic sparsity schedule and realised sparsity"))


def reproduce(quick: bool = True, seed: int = 0) -> Report:
    """Measure the paper's claims; ``quick=True`` finishes in about 20 s on 2 CPU cores.

    Three seeds (``seed``, ``seed + 1``, ``seed + 2``) of each model; ``quick=True`` trains 16
    epochs at s_f = 0.95, ``quick=False`` 30 epochs at s_f = 0.95 and 0.90.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise bad_value("seed", seed, "an int >= 0")
    import torch

    from sparsehub.nn.fixtures import synth10

    report = Report(_SLUG, [], quick=quick, seed=seed)
    epochs = _QUICK_EPOCHS if quick else _FULL_EPOCHS
    sparsities = (0.95,) if quick else (0.95, 0.9)
    seeds = [seed + i for i in range(_N_SEEDS)]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with report.timed():
            data = synth10(0)
            dense = [_run_dense(data, _HIDDEN, s, epochs) for s in progress(seeds, desc=f"{_SLUG} dense-512")]
            results = {s: _compare_at(report, data, s, seeds, epochs, dense) for s in sparsities}
    finally:
        torch.set_num_threads(threads)
    report.notes = (
        f"synth10 (data seed 0), MLP 40-512-512-10, {epochs} epochs, seeds {seeds}; dense-512 accuracy "
        f"{[round(r['accuracy'], 4) for r in dense]}"
    )
    _figures(report, results, dense)
    return report
