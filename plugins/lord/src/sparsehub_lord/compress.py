"""``decompose``: one-shot LoRD compression of a ``transformers`` model (arXiv:2309.14021).

Every targeted block Linear (readers q, k, v, gate, up and writers o, down, or the family's
equivalents; never the embeddings or the LM head, which SmolLM2 ties to the embeddings) is
replaced by a :class:`~sparsehub_lord.factors.LowRankLinear`. The rank is uniform per layer
type, as in the paper: either given (``rank``) or derived from the fraction of each layer's
parameters to keep (``keep``: r = ⌊keep · in · out / (in + out)⌋).

``mode="activation"`` runs the core's sequential calibration runner: block i's Gram matrices
(float64, streamed, no activation kept; :mod:`~sparsehub_lord.statistics` picks the input or
output side, whichever is smaller) are measured on inputs that went through the already
factorised blocks 0..i-1, so errors do not compound unseen (the brief's pitfall).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from sparsehub.errors import bad_value
from sparsehub.nn.calibration import check_calibration, sequential_blocks
from sparsehub.nn.layout import ModelLayout, layout_of, weight_matrix

from .factors import MODES, LowRankLinear, input_root, lord_factors
from .statistics import block_grams

__all__ = ["decompose", "plan_ranks"]

_CONFIG_KEY = "lord"


def _role_of(layout: ModelLayout) -> dict[str, str]:
    """module name -> role (``"q"``, ``"gate"``, ...) for every block Linear."""
    roles = {}
    for index in range(len(layout)):
        for role, name in {**layout.readers(index), **layout.writers(index)}.items():
            roles[name] = role
    return roles


def _check_rank(rank: Any, roles: set[str]) -> dict[str, int] | int | None:
    if rank is None:
        return None
    if isinstance(rank, dict):
        unknown = sorted(set(rank) - roles)
        if unknown:
            raise bad_value("rank", rank, f"an int or a dict role -> int with roles among {sorted(roles)}")
        return {role: _check_rank(r, roles) for role, r in rank.items()}  # type: ignore[misc]
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise bad_value("rank", rank, "an int >= 1 or a dict role -> int >= 1")
    return rank


def plan_ranks(
    model: nn.Module,
    *,
    keep: float | None = None,
    rank: int | dict[str, int] | None = None,
    targets: tuple[str, ...] | None = None,
) -> dict[str, int]:
    """module name -> rank of every layer :func:`decompose` would factorise (nothing is changed).

    Exactly one of ``keep`` (fraction of each layer's parameters kept, in (0, 1)) or ``rank``
    (an int, or a dict role -> int, e.g. ``{"gate": 384, "up": 384, "down": 384}``) must be given.
    A layer whose rank r would not save parameters (r · (in + out) >= in · out, e.g. GQA's small k/v
    projections at a large rank) is left dense and is absent from the plan. ``targets``: the roles
    to factorise (None: every reader and writer).
    """
    layout = layout_of(model)
    roles = _role_of(layout)
    known = set(roles.values())
    if targets is not None:
        if isinstance(targets, str) or not set(targets) <= known or not targets:
            raise bad_value("targets", targets, f"None or a non-empty tuple of roles among {sorted(known)}")
    if (keep is None) == (rank is None):
        raise bad_value(
            "keep, rank",
            (keep, rank),
            "exactly one of them: keep (fraction of parameters kept, in (0, 1)) or rank (int)",
        )
    if keep is not None and (
        isinstance(keep, bool) or not isinstance(keep, int | float) or not 0.0 < float(keep) < 1.0
    ):
        raise bad_value("keep", keep, "a float in (0, 1): the fraction of each layer's parameters kept")
    ranks = _check_rank(rank, known)
    plan: dict[str, int] = {}
    for name, role in roles.items():
        if targets is not None and role not in targets:
            continue
        out_f, in_f = weight_matrix(layout.module(name)).shape
        if keep is not None:
            r = max(1, math.floor(float(keep) * in_f * out_f / (in_f + out_f)))
        elif isinstance(ranks, dict):
            if role not in ranks:
                continue
            r = ranks[role]
        else:
            r = int(ranks)  # type: ignore[arg-type]
        if r * (in_f + out_f) < in_f * out_f:
            plan[name] = r
    return plan


def _replace(model: nn.Module, name: str, new: nn.Module) -> nn.Module:
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, attr)
    setattr(parent, attr, new)
    return old


def _is_wide(layer: nn.Module) -> bool:
    """out > in: LoRD works from the input Gram XᵀX (smaller than the output one)."""
    out_f, in_f = weight_matrix(layer).shape
    return out_f > in_f


def _factorised(
    layer: nn.Module, rank: int, gram: torch.Tensor | None, mode: str, root: torch.Tensor | None = None
) -> LowRankLinear:
    """The factorised layer; ``gram`` is XᵀX when out > in, else the output Gram C (see statistics.py)."""
    weight = weight_matrix(layer)
    out_f, in_f = weight.shape
    if gram is None or out_f > in_f:
        a, b = lord_factors(weight, rank, xtx=gram, mode=mode, root=root)
    else:
        a, b = lord_factors(weight, rank, output_gram=gram, mode=mode)
    bias = None if layer.bias is None else layer.bias.detach()
    return LowRankLinear.from_factors(a.to(weight.device), b.to(weight.device), bias, dtype=weight.dtype)


def decompose(
    model: nn.Module,
    *,
    keep: float | None = None,
    rank: int | dict[str, int] | None = None,
    calibration: Any = None,
    mode: str = "activation",
    targets: tuple[str, ...] | None = None,
) -> nn.Module:
    """Replace each block Linear of ``model`` by two low-rank factors, in place; returns ``model``.

    LoRD (Kaushal et al. 2023): W (out, in) -> A (out, r) · B (r, in), r from ``keep`` or ``rank``
    (see :func:`plan_ranks`). ``mode="activation"`` (default) takes A = top-r eigenvectors of the
    output second moment C = W XᵀX Wᵀ over ``calibration`` (an iterable of LongTensor (batch,
    length) token batches or dicts of model inputs), measured sequentially block by block;
    ``mode="weight"`` is plain truncated SVD and takes no calibration. The plan is recorded in
    ``model.config.lord`` so :func:`~sparsehub_lord.serialization.load_decomposed` can rebuild the
    model after ``save_pretrained``. Every argument is checked before the model changes, and a
    failure half-way restores the layers already replaced.
    """
    if mode not in MODES:
        raise bad_value("mode", mode, f"one of {MODES}")
    plan = plan_ranks(model, keep=keep, rank=rank, targets=targets)
    if not plan:
        raise bad_value(
            "keep, rank",
            (keep, rank),
            "a rank below in*out/(in+out) for at least one layer (otherwise nothing would be compressed)",
        )
    batches = None
    if mode == "weight":
        if calibration is not None:
            raise bad_value("calibration", "data", "None for mode='weight' (plain SVD uses no data)")
    else:
        if calibration is None:
            raise bad_value("calibration", None, "token batches for mode='activation' (or use mode='weight')")
        batches = check_calibration(calibration, vocab_size=getattr(model.config, "vocab_size", None))
        tokens = sum(int(b["input_ids"].numel()) for b in batches)
        if tokens < max(plan.values()):
            raise bad_value(
                "calibration",
                f"{tokens} tokens",
                f"at least {max(plan.values())} tokens (the largest rank): fewer make XᵀX rank-deficient",
            )
    replaced: list[tuple[str, nn.Module]] = []
    try:
        if mode == "weight":
            for name, r in plan.items():
                replaced.append(
                    (name, _replace(model, name, _factorised(model.get_submodule(name), r, None, mode)))
                )
        else:
            layout = layout_of(model)
            for step in sequential_blocks(model, batches, layout=layout, desc="LoRD"):
                names = [n for n in step.linears if n in plan]
                if not names:
                    continue
                wide = {n for n in names if _is_wide(step.linears[n])}
                grams = block_grams(
                    step, [n for n in names if n in wide], [n for n in names if n not in wide]
                )
                roots: dict[int, torch.Tensor] = {}  # one root of Σ per distinct input (gate and up share it)
                for name in names:
                    gram = grams[name]
                    # a non-finite activation makes a diagonal entry of the Gram matrix inf or nan
                    if not torch.isfinite(gram.diagonal()).all():
                        raise FloatingPointError(f"non-finite calibration activations at {name!r}")
                    root = None
                    if name in wide:
                        root = roots.get(id(gram))
                        if root is None:
                            root = roots[id(gram)] = input_root(gram)
                    new = _factorised(step.linears[name], plan[name], gram, mode, root)
                    replaced.append((name, _replace(model, name, new)))
    except BaseException:
        for name, old in reversed(replaced):
            _replace(model, name, old)
        raise
    model.config.lord = {"mode": mode, "ranks": dict(plan)}
    return model
