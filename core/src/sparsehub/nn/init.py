"""Sparse-aware initialisation: rescale masked weights so activations keep their dense variance.

A layer that keeps a fraction d of its weights, drawn at random, sums d * fan_in products instead
of fan_in, so the variance of its pre-activations shrinks by d; through L layers without
normalisation the signal shrinks by d_1 ... d_L. Multiplying the kept weights by 1 / sqrt(d)
restores Var = fan_in * Var(w) * Var(x) per layer (paper 19's ``--scaled`` option; in its
reproduction on synth10 it lifts ERK at 90 % sparsity from 0.477 to 0.616 accuracy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from sparsehub.errors import bad_value

from .allocation import as_keep_tensor, parameter_by_name

__all__ = ["sparse_init_rescale_"]


def sparse_init_rescale_(model: nn.Module, masks: Mapping[str, Any]) -> dict[str, float]:
    """Multiply every masked weight, in place, by 1 / sqrt(d_l), d_l the density of its mask.

    ``masks``: name -> Mask / bool tensor, keyed like ``model.named_parameters()`` (a weight held
    by torch's ``parametrize`` or ``prune`` is found under its plain name ``"fc.weight"``). The
    whole tensor is scaled (pruned entries stay whatever the mask makes them); a mask that keeps
    nothing leaves its weight alone. Call it once, right after the weights are initialised and the
    masks chosen. All names and shapes are checked before any weight changes.
    Returns name -> the factor applied.
    """
    if not isinstance(model, nn.Module):
        raise bad_value("model", type(model).__name__, "a torch.nn.Module")
    if not isinstance(masks, Mapping):
        raise bad_value("masks", type(masks).__name__, "a mapping parameter name -> Mask or bool tensor")
    plan: dict[int, tuple[nn.Parameter, float]] = {}
    factors = {}
    for name, mask in masks.items():
        try:
            param = parameter_by_name(model, name)
        except KeyError:
            raise bad_value("masks", name, "keys naming parameters of model") from None
        keep = as_keep_tensor(mask, tuple(param.shape))
        kept = int(keep.sum())
        factor = 1.0 / math.sqrt(kept / keep.numel()) if kept else 1.0
        if id(param) in plan and plan[id(param)][1] != factor:
            raise bad_value(
                "masks", name, "one mask density per tensor (this weight is tied to another name)"
            )
        plan[id(param)] = (param, factor)  # a tied weight named twice is scaled once
        factors[name] = factor
    with torch.no_grad():
        for param, factor in plan.values():
            param.mul_(factor)
    return factors
