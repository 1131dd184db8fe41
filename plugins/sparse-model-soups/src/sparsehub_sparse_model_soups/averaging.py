"""Soups of sparse models: the uniform and the greedy soup of paper 12 (section 2, "SMS").

Ingredients retrained from one pruned model share its mask M, so their average
theta_soup = sum_i w_i theta_i keeps exactly M: every pruned entry is 0 in every ingredient. The
averaging itself is the core's (``sparsehub.nn.merge``: effective weights, masks compared and
copied, integer buffers copied, not averaged); this module adds the soup recipes on top: at least
two ingredients, masks read from the models when none are given, the density cost reported when
masks are allowed to differ, and the greedy soup (Wortsman et al., as used by SMS): ingredients
sorted by validation score, each added only if the soup's score does not drop.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from sparsehub.errors import bad_value
from sparsehub.nn.allocation import prunable_parameters
from sparsehub.nn.merge import MASK_SUFFIXES, average_models, recalibrate_batchnorm

__all__ = ["average_sparse", "greedy_soup", "support_masks"]



def support_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """The masks a pruned, mask-less model implies: ``w != 0`` for each prunable weight, by name.

    Prunable weights are those of :func:`sparsehub.nn.allocation.prunable_parameters` (Linear and
    convolution weights). A kept weight that happens to be exactly 0 reads as pruned: pass explicit
    masks where that matters.
    """
    if not isinstance(model, nn.Module):
        raise bad_value("model", type(model).__name__, "a torch.nn.Module")
    return {name: (p.detach() != 0).cpu() for name, p in prunable_parameters(model).items()}


def _check_models(models: Any, minimum: int = 2) -> list[nn.Module]:
    if isinstance(models, nn.Module) or not isinstance(models, Sequence):
        raise bad_value("models", type(models).__name__, f"a sequence of at least {minimum} nn.Module ingredients")
    if len(models) < minimum:
        raise bad_value(
            "models", f"<{len(models)} model(s)>", f"at least {minimum} ingredients (a soup of one is that model)"
        )
    for i, model in enumerate(models):
        if not isinstance(model, nn.Module):
            raise bad_value(f"models[{i}]", type(model).__name__, "an nn.Module")
    return list(models)


def _has_stored_masks(model: nn.Module) -> bool:
    return any(key.endswith(MASK_SUFFIXES) for key in model.state_dict())


def _density(model: nn.Module) -> float:
    params = prunable_parameters(model)
    total = sum(p.numel() for p in params.values())
    return sum(int(p.count_nonzero()) for p in params.values()) / total if total else 1.0


def average_sparse(
    models: Sequence[nn.Module],
    weights: Sequence[float] | None = None,
    *,
    masks: Sequence[Mapping[str, Any]] | None = None,
    check_masks: bool = True,
) -> nn.Module:
    """The soup sum_i w_i theta_i of same-mask sparse models, as a new model (inputs untouched).

    Paper 12, eq. of the uniform soup (w_i = 1/m). ``models``: m >= 2 models of one architecture.
    ``weights``: m non-negative floats summing to 1 (default uniform). ``masks``: one mapping
    parameter name -> bool mask per model; when None, masks stored in the models (``*_mask``
    buffers of an attached ``MaskedTraining`` or of ``torch.nn.utils.prune``) are used, else
    :func:`support_masks`. With ``check_masks=True`` differing masks raise
    ``sparsehub.nn.merge.MaskMismatchError`` naming the first parameter where they differ; with
    False the soup keeps the union of the masks and a warning reports the density it costs.
    BatchNorm statistics are averaged too: recalibrate them afterwards
    (``sparsehub.nn.merge.recalibrate_batchnorm``).
    """
    models = _check_models(models)
    if masks is None and not _has_stored_masks(models[0]):
        masks = [support_masks(model) for model in models]
    soup = average_models(models, weights, masks, check_masks)
    if not check_masks:
        before = sum(_density(model) for model in models) / len(models)
        after = _density(soup)
        if after > before + 1e-12:
            warnings.warn(
                f"average_sparse: the ingredients' masks differ, so the soup keeps their union: density "
                f"{before:.4g} (mean ingredient) -> {after:.4g} (soup) over the prunable weights",
                UserWarning,
                stacklevel=2,
            )
    return soup


def greedy_soup(
    models: Sequence[nn.Module],
    val_fn: Callable[[nn.Module], float],
    *,
    masks: Sequence[Mapping[str, Any]] | None = None,
    calib_data: Any = None,
    bn_recalibration_frac: float = 0.2,
) -> tuple[nn.Module, list[int]]:
    """The greedy soup: add ingredients in order of validation score while the soup's score does not drop.

    Paper 12 (SMS ``GreedySoup``): score every ingredient with ``val_fn`` (higher is better), sort
    (ties keep the lower index first), start from the best, and keep each next ingredient when the
    uniform soup of the chosen ones plus it scores >= the best score so far. Every model is scored
    as it would be used: BatchNorm recalibrated on the first ``bn_recalibration_frac`` of
    ``calib_data`` (inputs: a tensor or a loader; skipped when None), so the returned soup's score is
    the best score seen, never below the best ingredient's. ``val_fn(model) -> float`` is required.
    ``masks`` as in :func:`average_sparse`. Returns ``(soup, chosen indices in the order added)``;
    the soup is a new model, the inputs are untouched.
    """
    models = _check_models(models)
    if val_fn is None or not callable(val_fn):
        raise bad_value("val_fn", val_fn, "a callable val_fn(model) -> score (the greedy soup needs validation)")
    if (
        isinstance(bn_recalibration_frac, bool)
        or not isinstance(bn_recalibration_frac, (int, float))
        or not 0 <= bn_recalibration_frac <= 1
    ):
        raise bad_value("bn_recalibration_frac", bn_recalibration_frac, "a float in [0, 1] (0 = no recalibration)")
    if masks is not None and (isinstance(masks, Mapping) or len(masks) != len(models)):
        raise bad_value("masks", type(masks).__name__, f"None or {len(models)} mappings, one per model")

    def soup_of(indices: list[int]) -> nn.Module:
        chosen_masks = None if masks is None else [masks[j] for j in indices]
        if len(indices) == 1:  # a soup of one is a copy of that model
            soup = average_models([models[indices[0]]], None, chosen_masks)
        else:
            soup = average_sparse([models[j] for j in indices], masks=chosen_masks)
        if calib_data is not None and bn_recalibration_frac > 0:
            recalibrate_batchnorm(soup, calib_data, bn_recalibration_frac)
        return soup

    singles = [soup_of([i]) for i in range(len(models))]
    scores = [float(val_fn(single)) for single in singles]
    order = sorted(range(len(models)), key=lambda i: (-scores[i], i))
    chosen, best, soup = [order[0]], scores[order[0]], singles[order[0]]
    for i in order[1:]:
        trial = [*chosen, i]
        candidate = soup_of(trial)
        score = float(val_fn(candidate))
        if score >= best:
            chosen, best, soup = trial, score, candidate
    return soup, chosen
