"""The two SAE failure modes the paper reports (§5), as detectors over the interpretability table.

- **Feature occlusion**: an attribute that is present in the activations (decodable from them by
  its supervised class means) gets no latent of its own, because a slightly larger-magnitude
  attribute takes the SAE's few active slots. Fires for A when every value's best latent has
  F1 ≤ ``f1_threshold`` while A is decodable: with the other attributes' supervised features
  removed, the nearest class mean u_{A=v} recovers A on at least ``min_decodable`` of the prompts.
- **Over-splitting**: one value of an attribute (e.g. Pos = ABB) is spread over many specific
  latents, none of which covers it. Fires for A = v when at least ``min_latents`` latents are
  specific to v (precision ≥ ``min_precision``, recall ≥ ``min_recall``) and each has recall below
  ``max_recall``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sparsehub.errors import bad_value

from .dictionary import SupervisedDictionary
from .evaluation import encode, evaluate_interpretability
from .labels import as_activations, check_labels

__all__ = ["OcclusionReport", "OversplittingReport", "detect_occlusion", "detect_oversplitting"]


def _attributes(labels: Any, attributes: Sequence[str] | str | None) -> list[str]:
    if attributes is None:
        return list(labels) if hasattr(labels, "keys") else []
    return [attributes] if isinstance(attributes, str) else list(attributes)


def _fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise bad_value(name, value, "a float in [0, 1]")
    return float(value)


@dataclass
class OcclusionReport:
    """Per attribute: best-latent F1 (max and mean over values), magnitude, decodability, verdict."""

    occluded: dict[str, bool]
    max_best_f1: dict[str, float]
    mean_best_f1: dict[str, float]
    magnitude: dict[str, float]  # mean ‖u_{A=v}‖ of the supervised dictionary
    decodable: dict[str, float]  # nearest-class-mean accuracy of the attribute from H
    occluded_by: dict[str, str | None] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return any(self.occluded.values())


def detect_occlusion(
    sae: Any,
    H: Any,
    labels: Any,
    attributes: Sequence[str] | str | None = None,
    *,
    f1_threshold: float = 0.5,
    min_decodable: float = 0.9,
) -> OcclusionReport:
    """Feature occlusion of ``sae`` on activations H [N, d] with attribute ``labels`` (§5.1).

    An occluded attribute is reported with the represented attribute of largest magnitude
    (``occluded_by``), the likely one that took its place; compare ``magnitude`` to see whether
    it is the larger one, as in the paper.
    """
    f1_threshold, min_decodable = (
        _fraction("f1_threshold", f1_threshold),
        _fraction("min_decodable", min_decodable),
    )
    attrs = _attributes(labels, attributes)
    X = as_activations(H, "H", int(sae.W_dec.shape[-1]) if hasattr(sae, "W_dec") else None).double()
    lab = check_labels(labels, attrs, X.shape[0], min_values=2)
    table = evaluate_interpretability(encode(sae, X), lab)
    sup = SupervisedDictionary(attrs, min_count=1).fit(X, lab)
    residual = X - sup.reconstruct(lab)
    max_f1, mean_f1, mag, dec = {}, {}, {}, {}
    for a in attrs:
        best = table[a].best_f1
        max_f1[a], mean_f1[a] = float(best.max()), float(best.mean())
        U = sup.features_[a]
        mag[a] = float(U.norm(dim=1).mean())
        # is A present at all? nearest of its class means once the other attributes' parts are removed
        truth = torch.as_tensor(np.searchsorted(np.asarray(sup.values_[a]), lab[a]))
        dist = ((residual + U[truth])[:, None, :] - U[None]).pow(2).sum(-1)
        dec[a] = float((dist.argmin(1) == truth).double().mean())
    occluded = {a: dec[a] >= min_decodable and max_f1[a] <= f1_threshold for a in attrs}
    represented = [a for a in attrs if not occluded[a] and max_f1[a] > f1_threshold]
    by = {a: max(represented, key=lambda b: mag[b], default=None) if occluded[a] else None for a in attrs}
    return OcclusionReport(occluded, max_f1, mean_f1, mag, dec, by)


@dataclass
class OversplittingReport:
    """Per attribute value: the latents specific to it, their recalls, and the verdict."""

    oversplit: dict[str, bool]  # attribute -> some value is over-split
    values: dict[tuple[str, Any], dict[str, Any]]  # (attribute, value) -> latents, recalls, coverage, split

    @property
    def any(self) -> bool:
        return any(self.oversplit.values())


def detect_oversplitting(
    sae: Any,
    H: Any,
    labels: Any,
    attributes: Sequence[str] | str | None = None,
    *,
    min_latents: int = 3,
    max_recall: float = 0.5,
    min_precision: float = 0.9,
    min_recall: float = 0.02,
) -> OversplittingReport:
    """Over-splitting of ``sae`` on H [N, d] (§5.2): values spread over ≥ ``min_latents`` partial latents.

    ``coverage`` is the fraction of the value's prompts on which at least one of its specific
    latents fires: high coverage with every recall low is the signature of a split feature.
    """
    if isinstance(min_latents, bool) or not isinstance(min_latents, int) or min_latents < 2:
        raise bad_value("min_latents", min_latents, "an int >= 2")
    max_recall, min_precision = _fraction("max_recall", max_recall), _fraction("min_precision", min_precision)
    min_recall = _fraction("min_recall", min_recall)
    attrs = _attributes(labels, attributes)
    X = as_activations(H, "H", int(sae.W_dec.shape[-1]) if hasattr(sae, "W_dec") else None)
    lab = check_labels(labels, attrs, X.shape[0], min_values=2)
    codes = encode(sae, X)
    table = evaluate_interpretability(codes, lab)
    fires = (codes != 0).numpy()
    values, split = {}, {}
    for a in attrs:
        s = table[a]
        split[a] = False
        for i, v in enumerate(s.values):
            specific = np.flatnonzero((s.precision[:, i] >= min_precision) & (s.recall[:, i] >= min_recall))
            rec = s.recall[specific, i]
            member = lab[a] == v
            coverage = float(fires[member][:, specific].any(1).mean()) if len(specific) else 0.0
            flag = len(specific) >= min_latents and bool((rec < max_recall).all())
            values[(a, v)] = {
                "latents": specific.tolist(),
                "recall": rec.tolist(),
                "coverage": coverage,
                "split": flag,
            }
            split[a] = split[a] or flag
    return OversplittingReport(split, values)
