"""The prune step of one IMP / SMS phase: magnitude masks that only ever grow sparser.

Paper 12, section 2: phase k of P prunes the fraction p = 1 - (1 - S) ** (1 / P) of the weights that
remain, so after phase k the sparsity is s_k = 1 - (1 - p) ** k (``sparsehub.nn.schedule``). The
scores are the magnitudes of the *effective* weights; entries pruned in an earlier phase score -1,
below every |w| >= 0, so they stay pruned and the masks of successive phases are nested. Selection
is the core's exact top-k (``Mask.from_scores``): exactly ``pruned_count(N, s_k)`` entries are
pruned, ties broken by index, the global scope never concatenating the tensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sparsehub.errors import ShapeError, bad_value
from sparsehub.mask import Mask

__all__ = ["PRUNERS", "magnitude_masks"]

#: How the per-phase sparsity is spread: one threshold over all tensors, or the same rate per tensor.
PRUNERS = ("global_magnitude", "uniform")

_PRUNED_SCORE = -1.0  # below every magnitude, so a pruned entry is never chosen again


def magnitude_masks(
    weights: Mapping[str, torch.Tensor],
    sparsity: float,
    pruner: str = "global_magnitude",
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Mask]:
    """Masks that prune the smallest |w| to ``sparsity``, keeping every earlier-pruned entry pruned.

    ``weights``: name -> weight tensor (the prunable parameters). ``sparsity``: the sparsity after
    this phase, a float in [0, 1); it must not be below that of ``previous`` (sparsity only grows).
    ``pruner``: ``"global_magnitude"`` (one selection over all tensors, the paper's default) or
    ``"uniform"`` (every tensor at ``sparsity`` on its own). ``previous``: name -> bool mask of the
    phase before (None: nothing pruned yet). Returns name -> Mask of each weight's shape, same order.
    """
    if not isinstance(weights, Mapping) or not weights:
        raise bad_value("weights", type(weights).__name__, "a non-empty mapping name -> tensor")
    if pruner not in PRUNERS:
        raise bad_value("pruner", pruner, f"one of {list(PRUNERS)}")
    scores: dict[str, torch.Tensor] = {}
    for name, w in weights.items():
        if not isinstance(w, torch.Tensor) or not w.is_floating_point():
            raise bad_value(f"weights[{name!r}]", type(w).__name__, "a floating-point torch tensor")
        score = w.detach().abs().to(device="cpu", dtype=torch.float64)
        if previous is not None:
            if name not in previous:
                raise bad_value("previous", f"<no mask for {name!r}>", "one mask per weight")
            keep = _as_bool(previous[name]).cpu()
            if tuple(keep.shape) != tuple(w.shape):
                raise bad_value(
                    f"previous[{name!r}].shape",
                    tuple(keep.shape),
                    f"the weight's shape {tuple(w.shape)}",
                    ShapeError,
                )
            score = torch.where(keep, score, torch.full_like(score, _PRUNED_SCORE))
        scores[name] = score
    scope = "global" if pruner == "global_magnitude" else "local"
    masks = Mask.from_scores(scores, sparsity=sparsity, scope=scope)
    if previous is not None:
        # a lower sparsity than the previous phase's would have to keep entries scored -1
        regrown = [n for n, m in masks.items() if bool((m.to_torch() & ~_as_bool(previous[n])).any())]
        if regrown:
            raise bad_value(
                "sparsity",
                sparsity,
                f"at least the sparsity of `previous` (with {pruner!r} it would regrow {regrown})",
            )
    return masks


def _as_bool(mask: Any) -> torch.Tensor:
    return mask.to_torch() if isinstance(mask, Mask) else torch.as_tensor(mask).cpu().bool()
