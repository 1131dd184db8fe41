"""Reproduction on the toy IOI task of the brief (not the paper's GPT-2 result): ``reproduce(quick, seed)``.

Setup (:func:`~sparsehub_sae_supervised_eval.toy.toy_ioi`): 16 names, d = 64, α_IO = 1,
α_S = 0.8·α_IO, α_Pos = 0.6, noise σ = 0.3, a frozen MLP that puts IO on top and S at the bottom
of its name logits. Activations of a balanced prompt set (every IO ≠ S, Pos combination, 4 times:
1920 prompts) train the supervised dictionary and four TopK SAEs of ours (core
``sparsehub.sae``): width 64 with k = 1 (the small-k SAE), 2 and 3, and a wide one (width 256,
k = 4). Control is measured on 480 fresh prompts, each edited to a counterfactual third name for
IO and for S (same S/IO, Pos and noise).

Claims (the brief's pass rules): supervised sufficiency ≥ 0.95; supervised edit success ≥ 0.95
with 2 edits (IO and S); best-latent F1 ≥ 0.8 for IO names (best SAE); occlusion with small k
(no latent with F1 > 0.5 for any S value, detected); over-splitting of Pos by the wide SAE
(≥ 3 latents, each with recall < 0.5, detected); the small-k SAE's S-edit success within 2 edits
at least 0.2 below the supervised one (occlusion costs control). The brief's "best SAE edit
success within 2 edits at least 0.2 lower" is measured and reported as a claim too; it does not
hold on this additive toy (see the README), and the tests keep it as a strict xfail.
"""

from __future__ import annotations

import warnings
from typing import Any

from sparsehub.errors import bad_value
from sparsehub.repro import Claim, Report

__all__ = ["GAP_CLAIM", "reproduce", "run_toy"]

_SLUG = "sae-supervised-eval"
GAP_CLAIM = "the best unsupervised SAE is weaker at control than the supervised dictionary"
_SAES = {"k1": (64, 1), "k2": (64, 2), "k3": (64, 3), "wide": (256, 4)}


def _train(H: Any, width: int, k: int, steps: int, seed: int) -> Any:
    import torch

    from sparsehub.sae import SparseAutoencoder, train_sae

    sae = SparseAutoencoder(H.shape[1], width, k=k, seed=seed)
    gen = torch.Generator().manual_seed(1000 + seed)
    batches = (H[torch.randint(len(H), (256,), generator=gen)] for _ in range(steps))
    train_sae(sae, batches, lr=3e-3, dead_window=300, log_every=100)
    return sae.eval()


def run_toy(quick: bool = True, seed: int = 0) -> dict[str, Any]:
    """Every measurement of the reproduction (dictionary, SAEs, the three axes, diagnostics)."""
    import torch

    from .diagnostics import detect_occlusion, detect_oversplitting
    from .dictionary import SupervisedDictionary
    from .evaluation import (
        encode,
        evaluate_approximation,
        evaluate_control,
        evaluate_interpretability,
        reconstruction,
    )
    from .toy import toy_ioi

    steps = 500 if quick else 3000
    task = toy_ioi(seed=seed)
    labels = task.prompts(4, seed + 11)
    H = task.activations(labels, task.noise(len(labels["IO"]), seed + 12))
    test = task.prompts(1, seed + 21)
    noise = task.noise(len(test["IO"]), seed + 22)
    pairs = {a: task.edit_pairs(test, noise, a, seed + 23 + i) for i, a in enumerate(("IO", "S"))}
    metric = task.logit_diff_fn(labels)
    attrs = ["IO", "S", "Pos"]

    sup = SupervisedDictionary(attrs).fit(H, labels)
    out: dict[str, Any] = {"task": task.info, "sae": {}}
    approx = evaluate_approximation(metric, H, sup.reconstruct(labels), mean=sup.mean_)
    out["supervised"] = {
        "sufficiency": approx.sufficiency,
        "necessity": approx.necessity,
        **{
            f"edit_{a}": evaluate_control(task.logits, sup, p, (1, 2), success=task.edit_success).success
            for a, p in pairs.items()
        },
        "interpretability_io": float(
            evaluate_interpretability(sup.codes(labels), labels)["IO"].best_f1.mean()
        ),
    }
    saes = {name: _train(H, w, k, steps, seed) for name, (w, k) in _SAES.items()}
    for name, sae in saes.items():
        ap = evaluate_approximation(metric, H, reconstruction(sae, H))
        # budgets above the differing latents of a small-k SAE saturate: expected here, not an error
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            edits = {
                a: evaluate_control(task.logits, sae, p, (1, 2, 4, 8), success=task.edit_success).success
                for a, p in pairs.items()
            }
        table = evaluate_interpretability(encode(sae, H), labels)
        with torch.no_grad():
            fve = float(
                1 - (reconstruction(sae, H) - H.double()).pow(2).sum() / (H - H.mean(0)).double().pow(2).sum()
            )
        out["sae"][name] = {
            "width": _SAES[name][0],
            "k": _SAES[name][1],
            "fve": fve,
            "sufficiency": ap.sufficiency,
            "necessity": ap.necessity,
            **{f"edit_{a}": v for a, v in edits.items()},
            **{f"f1_{a}": float(table[a].best_f1.mean()) for a in attrs},
            "f1_S_max": float(table["S"].best_f1.max()),
        }
    out["occlusion"] = {name: detect_occlusion(saes[name], H, labels) for name in ("k1", "k3")}
    out["oversplitting"] = {"wide": detect_oversplitting(saes["wide"], H, labels, "Pos")}
    return out


def reproduce(quick: bool = True, seed: int = 0) -> Report:
    """Measure the claims on the toy IOI task; ``quick=True`` (500 SAE steps) takes about 10-20 s on 2 cores."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise bad_value("seed", seed, "an int >= 0")
    report = Report(_SLUG, [], quick=quick, seed=seed)
    with report.timed():
        r = run_toy(quick, seed)
        sup, saes = r["supervised"], r["sae"]
        best = max(saes, key=lambda n: saes[n]["edit_IO"][1] + saes[n]["edit_S"][1])
        best_f1 = max(saes, key=lambda n: saes[n]["f1_IO"])
        occ, split = r["occlusion"]["k1"], r["oversplitting"]["wide"]
        pos0 = max((v for (a, _), v in split.values.items() if a == "Pos"), key=lambda v: len(v["latents"]))
        report.add(
            Claim.check(
                "supervised reconstructions patched into the model keep the task behaviour",
                "sufficiency (normalised IO−S logit diff)",
                sup["sufficiency"],
                op=">=",
                bound=0.95,
                details={"necessity": sup["necessity"]},
            )
        )
        for a in ("IO", "S"):
            report.add(
                Claim.check(
                    f"editing {a} with the supervised dictionary takes exactly 2 edits",
                    f"{a}-edit success, 2 edits",
                    sup[f"edit_{a}"][1],
                    op=">=",
                    bound=0.95,
                    details={"success_1_edit": sup[f"edit_{a}"][0]},
                )
            )
        report.add(
            Claim.check(
                "SAEs find interpretable features for the task",
                f"IO best-latent F1 (mean over names), SAE {best_f1}",
                saes[best_f1]["f1_IO"],
                op=">=",
                bound=0.8,
            )
        )
        report.add(
            Claim.check(
                "feature occlusion: with small k the S name gets no latent (alpha_S = 0.8 alpha_IO)",
                "max over S values of best-latent F1, k=1",
                occ.max_best_f1["S"],
                op="<=",
                bound=0.5,
                details={
                    "detected": occ.occluded["S"],
                    "occluded_by": occ.occluded_by["S"],
                    "S_decodable": occ.decodable["S"],
                    "not_fired_k3": not r["occlusion"]["k3"].occluded["S"],
                },
            )
        )
        report.add(
            Claim.check(
                "over-splitting: a wide SAE spreads the binary Pos over many partial latents",
                "latents specific to one Pos value, each recall < 0.5 (width 256, k=4)",
                len(pos0["latents"]) if split.oversplit["Pos"] else 0,
                op=">=",
                bound=3,
                details={"recalls": pos0["recall"], "coverage": pos0["coverage"]},
            )
        )
        report.add(
            Claim.compare(
                "occlusion costs control: the small-k SAE cannot edit the occluded S name",
                "S-edit success within 2 edits (k=1 SAE vs supervised)",
                saes["k1"]["edit_S"][1],
                sup["edit_S"][1],
                baseline_name="supervised dictionary",
                op="<=",
                margin=-0.2,
            )
        )
        report.add(
            Claim.compare(
                GAP_CLAIM,
                f"IO-edit success within 2 edits (best SAE: {best})",
                saes[best]["edit_IO"][1],
                sup["edit_IO"][1],
                baseline_name="supervised dictionary",
                op="<=",
                margin=-0.2,
                details={"S_edit": saes[best]["edit_S"][1]},
            )
        )
    report.notes = (
        "Toy IOI (brief §5), not the paper's GPT-2 small IOI result. SAE measurements: "
        + "; ".join(
            f"{n}: " + ", ".join(f"{k}={v if isinstance(v, int) else _fmt(v)}" for k, v in s.items())
            for n, s in saes.items()
        )
    )
    return report


def _fmt(v: Any) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(f"{x:.2f}" for x in v) + ")"
    return f"{v:.3f}"
