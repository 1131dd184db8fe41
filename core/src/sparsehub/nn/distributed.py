"""Identical masks on every rank under ``torch.distributed`` (DDP).

DDP keeps replicas identical by averaging gradients, which only works while every rank masks the
same entries. A pruning step whose scores depend on local data (gradients, activations, a
per-rank random draw) would give each rank its own mask, so the rule here is: **the masks are
computed on rank ``src`` and broadcast**, never re-derived from all-reduced scores (an all-reduce
is not guaranteed to give bit-equal floats on every rank, and one flipped tie would split the
replicas). Two ways to follow it:

* ``masking.update(broadcast_masks(local_masks))`` — agree on the masks first, then prune. Every
  rank applies the same masks to the same weights, so nothing else needs to move (cheap: one byte
  per masked weight).
* ``masking.update(local_masks); sync_masks(masking)`` — prune locally, then make every rank a copy
  of ``src``: its masks, its masked weights and their optimizer state. The helper for plugins that
  already pruned; it is a no-op without an initialised process group, so plugins call it
  unconditionally after each pruning step.

Both are collectives: every rank of ``group`` must call them, in the same order. Before moving any
tensor the ranks compare what they hold (names, shapes, dtypes), and on a mismatch every rank
raises the same error instead of hanging in a broadcast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from sparsehub.errors import ShapeError, bad_value
from sparsehub.mask import Mask, Pattern

from .masking import MaskedTraining, _as_bool_tensor

__all__ = ["broadcast_masks", "is_distributed", "sync_masks"]


def is_distributed(group: Any = None) -> bool:
    """Whether a process group with more than one rank is initialised (else syncing is a no-op)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1


def _device(group: Any) -> torch.device:
    """Where collective buffers live: the current GPU for NCCL, the host otherwise."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _agree(layout: list[Any], src: int, group: Any, what: str) -> None:
    """Raise on every rank unless all ranks hold the same ``layout`` as ``src``; never hangs on a mismatch."""
    theirs = [layout]
    dist.broadcast_object_list(theirs, src=src, group=group)
    mine_ok = torch.tensor([int(theirs[0] == layout)], device=_device(group))
    dist.all_reduce(mine_ok, op=dist.ReduceOp.MIN, group=group)
    if not bool(mine_ok.item()):
        differs = "this rank's differs" if theirs[0] != layout else "another rank's differs"
        raise ShapeError(
            f"{what} do not match across ranks ({differs}): every rank must hold the same names, shapes "
            f"and dtypes as rank src={src}; rank {dist.get_rank()} holds {layout[:8]}, "
            f"rank {src} holds {theirs[0][:8]}"
        )


def _broadcast_(tensor: torch.Tensor, src: int, group: Any) -> None:
    """Broadcast ``tensor`` in place from ``src``, through a buffer on the collective's device if needed."""
    device = _device(group)
    if tensor.device == device and tensor.is_contiguous():
        dist.broadcast(tensor, src=src, group=group)
        return
    buffer = tensor.detach().to(device).contiguous()
    dist.broadcast(buffer, src=src, group=group)
    tensor.copy_(buffer)


def _check_src(src: Any, group: Any) -> None:
    world = dist.get_world_size()  # src is a global rank, as in torch.distributed.broadcast
    if isinstance(src, bool) or not isinstance(src, int) or not 0 <= src < world:
        raise bad_value("src", src, f"a global rank in [0, {world})")


def broadcast_masks(masks: Mapping[str, Any], src: int = 0, group: Any = None) -> dict[str, Mask]:
    """Return rank ``src``'s masks on every rank (a collective; every rank passes its own ``masks``).

    ``masks``: name -> Mask or bool tensor/array; every rank must give the same names and shapes
    (checked on all ranks first; a mismatch raises ShapeError everywhere). The patterns are
    ``src``'s too. Without an initialised multi-rank process group the masks come back unchanged.
    Cost: one byte per masked entry. Typical use: ``masking.update(broadcast_masks(new))``.
    """
    if not isinstance(masks, Mapping):
        raise bad_value("masks", type(masks).__name__, "a mapping name -> Mask or bool tensor")
    converted = {name: _as_bool_tensor(name, value) for name, value in masks.items()}
    if not is_distributed(group):
        return {name: Mask(keep.numpy(), pattern) for name, (keep, pattern) in converted.items()}
    _check_src(src, group)
    layout = [(name, tuple(keep.shape)) for name, (keep, _) in converted.items()]
    _agree(layout, src, group, "masks")
    patterns = [list(pattern._state()) for _, pattern in converted.values()]  # [meta, arrays] per mask
    dist.broadcast_object_list(patterns, src=src, group=group)
    result = {}
    for (name, (keep, _)), (meta, arrays) in zip(converted.items(), patterns):
        received = keep.to(torch.uint8)
        _broadcast_(received, src, group)
        pattern = Pattern._from_state(meta, {k: np.asarray(v) for k, v in arrays.items()})
        result[name] = Mask(received.cpu().numpy().astype(bool), pattern)
    return result


def sync_masks(masking: MaskedTraining, src: int = 0, group: Any = None) -> bool:
    """After a pruning step, make every rank a copy of rank ``src``: masks, masked weights, optimizer state.

    Call it on every rank after each pruning step (a collective); it is a no-op returning False
    when torch.distributed is not initialised or has one rank, and returns True when it synced.
    Copies the masks, then the masked weights and each registered optimizer's per-weight state
    tensors (momentum, Adam moments) — the tensors a rank-local pruning step may have changed;
    DDP keeps everything else identical. Cost: about (1 + number of state tensors) x the masked
    weights' size, once per pruning step. Cheaper when masks are agreed before pruning:
    ``masking.update(broadcast_masks(new))``.
    """
    if not isinstance(masking, MaskedTraining):
        raise bad_value(
            "masking", type(masking).__name__, "a MaskedTraining (from sparsehub.nn.masking.attach)"
        )
    if not is_distributed(group):
        return False
    _check_src(src, group)
    masks = broadcast_masks(masking.masks(), src=src, group=group)
    tensors = masking._weights_and_state()
    _agree(
        [(label, tuple(t.shape), str(t.dtype)) for label, t in tensors],
        src,
        group,
        "masked weights and optimizer state",
    )
    with torch.no_grad():
        for _, tensor in tensors:
            _broadcast_(tensor, src, group)
    masking.set_masks(masks)
    return True
