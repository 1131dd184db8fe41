"""The three evaluation axes of Makelov, Lange & Nanda (2024): approximation, control, interpretability.

Every function takes an SAE-like object (``encode``/``decode``/``W_dec``: ours, SAELens's) or a
:class:`~sparsehub_sae_supervised_eval.SupervisedDictionary`, so both kinds of dictionary are
scored by the same code.

- **Approximation** (§4.1): patch a reconstruction into the model and normalise the task metric
  between the clean run (1) and mean ablation (0): *sufficiency* of ĥ; *necessity* is
  1 − normalised(h − ĥ + E[h]), i.e. how much removing the explained part destroys.
- **Control** (§4.2, "sparse controllability"): edit h(p) toward the counterfactual h(p′) by
  moving, greedily, the latents whose code differs between p and p′ (remove a latent active on
  p, add one active on p′, or move one active on both to its value on p′) and check that the
  model now behaves as on p′; success is reported against the edit budget.
- **Interpretability** (§4.3): each latent's firing as a classifier of each attribute value:
  precision, recall, F1, and the best latent per value.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sparsehub.errors import ShapeError, bad_value

from .dictionary import SupervisedDictionary
from .labels import as_activations, check_dictionary_like, check_labels

__all__ = [
    "ApproximationResult",
    "AttributeScores",
    "ControlResult",
    "InterpretabilityTable",
    "encode",
    "evaluate_approximation",
    "evaluate_control",
    "evaluate_interpretability",
    "reconstruction",
]


# -- helpers shared by the axes ---------------------------------------------------------------
@torch.no_grad()
def encode(sae: Any, H: Any, name: str = "H") -> torch.Tensor:
    """Codes of ``sae`` for activations H [N, d] (float64 on CPU), after checking the widths match."""
    check_dictionary_like(sae)
    d = int(sae.W_dec.shape[-1])
    X = as_activations(H, name, d)
    return sae.encode(X.to(sae.W_dec.dtype)).detach().double().cpu()


@torch.no_grad()
def reconstruction(dictionary: Any, H: Any, labels: Any = None) -> torch.Tensor:
    """ĥ without the SAE error term: ``decode(encode(H))``, or the supervised ĥ from ``labels``."""
    if isinstance(dictionary, SupervisedDictionary):
        if labels is None:
            raise bad_value(
                "labels", None, "the prompts' labels (a supervised dictionary reconstructs from them)"
            )
        rec = dictionary.reconstruct(labels)
        if rec.shape[1] != as_activations(H).shape[1] or rec.shape[0] != H.shape[0]:
            raise bad_value(
                "H.shape", tuple(H.shape), f"{tuple(rec.shape)} (the labels' prompts)", ShapeError
            )
        return rec
    codes = encode(dictionary, H)
    return dictionary.decode(codes.to(dictionary.W_dec.dtype)).detach().double().cpu()


def _metric(run_fn: Callable[[Any], Any], X: torch.Tensor, n: int, what: str) -> np.ndarray:
    out = np.asarray(run_fn(X), dtype=np.float64).reshape(-1)
    if out.shape != (n,) or not np.isfinite(out).all():
        raise bad_value(
            f"run_fn({what})", f"<{out.shape} array>", f"{n} finite metric values (one per prompt)"
        )
    return out


# -- approximation ----------------------------------------------------------------------------
@dataclass
class ApproximationResult:
    """Mean task metric on the clean, mean-ablated and patched runs, and the normalised scores."""

    clean: float
    mean_ablated: float
    patched: float
    complement: float
    sufficiency: float
    necessity: float
    per_prompt: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


def evaluate_approximation(
    run_fn: Callable[[Any], Any], H: Any, recon: Any, *, mean: Any = None
) -> ApproximationResult:
    """Sufficiency and necessity of ``recon`` (ĥ, [N, d]) for the task metric (§4.1).

    ``run_fn(X) -> [N]`` runs the model with the node's activations replaced by X [N, d] (float64
    tensor; cast as the model needs) and returns the per-prompt task metric (e.g. the IO − S logit
    difference). ``mean`` is E[h] (default: the mean of H); mean ablation patches it into every
    prompt. Scores are normalised as (m − m_ablated) / (m_clean − m_ablated), averaged metrics:

        sufficiency = norm(run(ĥ)),   necessity = 1 − norm(run(h − ĥ + E[h])).
    """
    X = as_activations(H).double()
    R = as_activations(recon, "recon", X.shape[1]).double()
    if R.shape != X.shape:
        raise bad_value("recon.shape", tuple(R.shape), f"{tuple(X.shape)} (the shape of H)", ShapeError)
    mu = (
        X.mean(0)
        if mean is None
        else as_activations(torch.as_tensor(mean).reshape(1, -1), "mean", X.shape[1])[0]
    )
    mu = mu.double()
    n = X.shape[0]
    runs = {"clean": X, "mean_ablated": mu.expand(n, -1).clone(), "patched": R, "complement": X - R + mu}
    per = {k: _metric(run_fn, v, n, k) for k, v in runs.items()}
    m = {k: float(v.mean()) for k, v in per.items()}
    span = m["clean"] - m["mean_ablated"]
    if not abs(span) > 1e-12 * max(1.0, abs(m["clean"])):
        raise bad_value(
            "run_fn",
            "<same mean metric on the clean and mean-ablated runs>",
            "a metric that depends on the patched node (cannot normalise)",
        )
    return ApproximationResult(
        m["clean"],
        m["mean_ablated"],
        m["patched"],
        m["complement"],
        (m["patched"] - m["mean_ablated"]) / span,
        1.0 - (m["complement"] - m["mean_ablated"]) / span,
        per,
    )


# -- control ----------------------------------------------------------------------------------
@dataclass
class ControlResult:
    """Edit success against the budget (number of latents moved) and the greedy choices."""

    budgets: tuple[int, ...]
    success: tuple[float, ...]
    moves: np.ndarray  # [P, max budget] latent moved at each step, −1 when the greedy stopped
    success_by_moves: np.ndarray  # [P, max budget + 1] success after 0, 1, ... moves
    n_candidates: np.ndarray  # [P] latents whose code differs between source and target

    def success_at(self, budget: int) -> float:
        """Fraction of pairs edited successfully with at most ``budget`` latents moved."""
        if budget not in self.budgets:
            raise bad_value("budget", budget, f"one of the evaluated budgets {self.budgets}")
        return self.success[self.budgets.index(budget)]


def _default_success(out_edit: Any, out_target: Any) -> np.ndarray:
    """The edited run predicts what the counterfactual run predicts (argmax of the outputs)."""
    a, b = np.asarray(out_edit), np.asarray(out_target)
    return a.argmax(-1) == b.argmax(-1)


def _check_budgets(budgets: Any) -> tuple[int, ...]:
    try:
        out = tuple(budgets)
    except TypeError:
        out = ()
    if (
        not out
        or any(isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1 for b in out)
        or list(out) != sorted(set(out))
    ):
        raise bad_value("budgets", budgets, "increasing distinct ints >= 1, e.g. (1, 2, 4, 8)")
    return tuple(int(b) for b in out)


def evaluate_control(
    run_fn: Callable[[Any], Any],
    dictionary: Any,
    pairs: Mapping[str, Any],
    budgets: Sequence[int] = (1, 2, 4, 8),
    *,
    success: Callable[[Any, Any], Any] | None = None,
) -> ControlResult:
    """Greedy sparse controllability of ``dictionary`` on counterfactual ``pairs`` (§4.2).

    ``pairs`` holds ``source`` and ``target`` activations [P, d] (h(p), h(p′)); a
    :class:`SupervisedDictionary` also needs ``source_labels`` and ``target_labels`` (its codes are
    the one-hot labels, so an edit of one attribute moves exactly 2 atoms). ``run_fn(X) -> [P, ...]``
    runs the model from the node with X patched in; ``success(out_edit, out_target) -> [P] bool``
    (default: same argmax). Starting from h(p) — the SAE error term is kept — each step moves the
    latent j whose change c_j·W_dec[j] (c_j = z_j(p′) − z_j(p)) most reduces ‖h_edit − h(p′)‖²;
    the greedy stops early when no move reduces it.
    """
    budgets_t = _check_budgets(budgets)
    if not isinstance(pairs, Mapping) or "source" not in pairs or "target" not in pairs:
        raise bad_value(
            "pairs", type(pairs).__name__, "a mapping with 'source' and 'target' activations [P, d]"
        )
    if not isinstance(dictionary, SupervisedDictionary):
        check_dictionary_like(dictionary, "dictionary")
    W = dictionary.W_dec.detach().double().cpu()
    src = as_activations(pairs["source"], "pairs['source']", W.shape[1]).double()
    tgt = as_activations(pairs["target"], "pairs['target']", W.shape[1]).double()
    if src.shape != tgt.shape:
        raise bad_value(
            "pairs['target'].shape", tuple(tgt.shape), f"{tuple(src.shape)} (as the source)", ShapeError
        )
    if isinstance(dictionary, SupervisedDictionary):
        for key in ("source_labels", "target_labels"):
            if key not in pairs:
                raise bad_value(
                    f"pairs[{key!r}]",
                    "<missing>",
                    "labels of the prompts (supervised dictionary codes)",
                    KeyError,
                )
        z_s, z_t = dictionary.codes(pairs["source_labels"]), dictionary.codes(pairs["target_labels"])
        if z_s.shape[0] != src.shape[0] or z_t.shape[0] != src.shape[0]:
            raise bad_value(
                "pairs labels",
                f"<{z_s.shape[0]}, {z_t.shape[0]} prompts>",
                f"{src.shape[0]} prompts",
                ShapeError,
            )
    else:
        z_s, z_t = encode(dictionary, src, "pairs['source']"), encode(dictionary, tgt, "pairs['target']")
    change = z_t - z_s  # [P, F]
    cand = change != 0
    n_cand = cand.sum(1).numpy()
    top = budgets_t[-1]
    if top > int(n_cand.max(initial=0)):
        over = [b for b in budgets_t if b > int(n_cand.max(initial=0))]
        warnings.warn(
            f"budgets {over} exceed the {int(n_cand.max(initial=0))} latents that differ between source "
            "and target in any pair: those budgets cannot move more latents than that",
            UserWarning,
            stacklevel=2,
        )
    success = success or _default_success
    out_target = run_fn(tgt)
    norms2 = (W * W).sum(1)  # ‖w_j‖²
    h = src.clone()
    used = torch.zeros_like(cand)
    moves = np.full((src.shape[0], top), -1, dtype=np.int64)
    ok = [np.asarray(success(run_fn(h), out_target), dtype=bool).reshape(-1)]
    rows = torch.arange(src.shape[0])
    for step in range(top):
        r = tgt - h
        gain = 2 * change * (r @ W.T) - change**2 * norms2  # decrease of ‖r‖² if latent j moves
        gain = gain.masked_fill(~cand | used, -torch.inf)
        best, j = gain.max(1)
        go = best > 0
        h[go] += change[rows[go], j[go], None] * W[j[go]]
        used[rows[go], j[go]] = True
        moves[go.numpy(), step] = j[go].numpy()
        ok.append(np.asarray(success(run_fn(h), out_target), dtype=bool).reshape(-1))
    by_moves = np.stack(ok, 1)
    rates = tuple(float(by_moves[:, b].mean()) for b in budgets_t)
    return ControlResult(budgets_t, rates, moves, by_moves, n_cand)


# -- interpretability -------------------------------------------------------------------------
@dataclass
class AttributeScores:
    """Precision, recall and F1 [n_latents, n_values] of every latent for every value of one attribute."""

    attribute: str
    values: list[Any]
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray  # [n_values] prompts per value

    @property
    def best_latent(self) -> np.ndarray:
        """[n_values] the latent with the highest F1 for each value (lowest index on ties)."""
        return self.f1.argmax(0)

    @property
    def best_f1(self) -> np.ndarray:
        """[n_values] the F1 of the best latent of each value."""
        return self.f1.max(0)


@dataclass
class InterpretabilityTable:
    """Per attribute, the :class:`AttributeScores` of every latent."""

    scores: dict[str, AttributeScores]

    def __getitem__(self, attribute: str) -> AttributeScores:
        return self.scores[attribute]

    def best(self, attribute: str) -> dict[Any, tuple[int, float]]:
        """value -> (best latent, its F1)."""
        s = self.scores[attribute]
        return {v: (int(j), float(f)) for v, j, f in zip(s.values, s.best_latent, s.best_f1, strict=True)}

    def rows(self) -> list[dict[str, Any]]:
        """One row per (attribute, value): best latent, its precision, recall and F1."""
        out = []
        for a, s in self.scores.items():
            for i, v in enumerate(s.values):
                j = int(s.best_latent[i])
                out.append(
                    {
                        "attribute": a,
                        "value": v,
                        "latent": j,
                        "precision": float(s.precision[j, i]),
                        "recall": float(s.recall[j, i]),
                        "f1": float(s.f1[j, i]),
                    }
                )
        return out


def evaluate_interpretability(
    codes: Any, labels: Any, attributes: Sequence[str] | None = None
) -> InterpretabilityTable:
    """Each latent's firing (code ≠ 0) as a classifier of each attribute value (§4.3).

    ``codes`` [N, F] (numpy or torch, e.g. ``sae.encode(H)``); ``labels`` attribute -> [N]. With
    TP = #(latent fires ∧ A = v): precision = TP / #fires, recall = TP / #(A = v),
    F1 = 2·TP / (#fires + #(A = v)); 0 where undefined (a latent that never fires).
    """
    Z = codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
    if Z.ndim != 2:
        raise bad_value("codes.shape", Z.shape, "[N, n_latents]", ShapeError)
    if not np.isfinite(Z).all():
        raise bad_value("codes", "<array with NaN/Inf>", "finite codes")
    if attributes is None:
        attrs = list(labels) if isinstance(labels, Mapping) else []
    else:
        attrs = [attributes] if isinstance(attributes, str) else list(attributes)
    lab = check_labels(labels, attrs, Z.shape[0])
    if not lab:
        raise bad_value("labels", labels, "at least one attribute")
    fires = (Z != 0).astype(np.float64)
    n_fire = fires.sum(0)
    scores = {}
    for a, vals in lab.items():
        uniq, inv = np.unique(vals, return_inverse=True)
        onehot = np.zeros((len(vals), len(uniq)))
        onehot[np.arange(len(vals)), inv.reshape(-1)] = 1.0
        tp = fires.T @ onehot
        support = onehot.sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(n_fire[:, None] > 0, tp / n_fire[:, None], 0.0)
            recall = tp / support[None, :]
            f1 = np.where(tp > 0, 2 * tp / (n_fire[:, None] + support[None, :]), 0.0)
        scores[a] = AttributeScores(a, uniq.tolist(), precision, recall, f1, support)
    return InterpretabilityTable(scores)
