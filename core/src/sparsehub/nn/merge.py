"""Same-mask model averaging and BatchNorm recalibration (paper 12, Sparse Model Soups).

Models pruned with one mask and retrained separately can be averaged weight by weight: the soup
theta = sum_i w_i theta_i keeps exactly the shared mask, because every pruned entry is 0 in every
ingredient. Averaging models with different masks instead yields the union of the masks (a denser
model), so the masks are compared first. After averaging, BatchNorm running statistics no longer
match the averaged weights; :func:`recalibrate_batchnorm` recomputes them from data.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from sparsehub.errors import ShapeError, SparsehubError, bad_value

from .allocation import as_keep_tensor

__all__ = [
    "MASK_SUFFIXES",
    "MaskMismatchError",
    "average_models",
    "average_state_dicts",
    "recalibrate_batchnorm",
]

#: State-dict keys ending in one of these are masks: compared, copied, never averaged.
#: ``_mask`` is torch.nn.utils.prune's ``weight_mask``; ``.mask`` a buffer named ``mask``
#: (e.g. inside a parametrization: ``fc.parametrizations.weight.0.mask``).
MASK_SUFFIXES = ("_mask", ".mask")

_PARAMETRIZED = re.compile(r"^(?P<stem>.*\.parametrizations\.[^.]+)\.\d+\.mask$")


class MaskMismatchError(SparsehubError, ValueError):
    """Models to average do not share their masks."""


def _mask_targets(key: str, keys: set[str]) -> list[str]:
    """The weight keys a mask key ``key`` of a state dict masks (empty when none is recognised)."""
    match = _PARAMETRIZED.match(key)
    if match:
        candidates = [f"{match['stem']}.original"]
    elif key.endswith("_mask"):
        base = key[: -len("_mask")]
        candidates = [base, f"{base}_orig"]
    else:
        candidates = []
    return [c for c in candidates if c in keys]


def _param_key(name: str, keys: set[str]) -> str | None:
    """The state-dict key holding parameter ``name`` (``fc.weight``), plain or re-parametrised."""
    module, _, attr = name.rpartition(".")
    prefix = f"{module}." if module else ""
    for key in (name, f"{name}_orig", f"{prefix}parametrizations.{attr}.original"):
        if key in keys:
            return key
    return None


def _check_weights(weights: Any, m: int) -> list[float]:
    if weights is None:
        return [1.0 / m] * m
    try:
        values = [float(w) for w in weights]
    except (TypeError, ValueError):
        raise bad_value("weights", weights, f"{m} non-negative floats summing to 1") from None
    if (
        len(values) != m
        or any(not math.isfinite(w) or w < 0 for w in values)
        or abs(math.fsum(values) - 1.0) > 1e-6
    ):
        raise bad_value("weights", weights, f"{m} non-negative floats summing to 1")
    return values


def average_state_dicts(
    state_dicts: Sequence[Mapping[str, torch.Tensor]],
    weights: Sequence[float] | None = None,
    masks: Sequence[Mapping[str, Any]] | None = None,
    check_masks: bool = True,
) -> dict[str, torch.Tensor]:
    """The weighted average sum_i w_i theta_i of state dicts that share their masks.

    Floating tensors are averaged as *effective* weights (each multiplied by its mask first, so a
    value left behind a mask, e.g. in torch-prune's ``weight_orig``, is never resurrected); integer
    and bool tensors (``num_batches_tracked``) are copied from the first state dict; mask tensors
    (keys ending in :data:`MASK_SUFFIXES`) are compared and copied. ``masks`` optionally gives one
    mapping parameter name -> Mask / bool tensor per state dict, for masks kept outside them.

    ``check_masks``: raise :class:`MaskMismatchError` naming the first parameter whose masks differ
    (state-dict order). With ``check_masks=False`` the masks in the result are the union (logical
    or) of the inputs', matching the averaged weights, whose support is that union.
    ``weights``: one non-negative float per state dict summing to 1 (default: uniform).
    Returns a new dict (inputs untouched), in the key order of the first state dict.
    """
    if isinstance(state_dicts, Mapping) or not isinstance(state_dicts, Sequence) or not state_dicts:
        raise bad_value("state_dicts", type(state_dicts).__name__, "a non-empty sequence of state dicts")
    m = len(state_dicts)
    for i, sd in enumerate(state_dicts):
        if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
            raise bad_value(f"state_dicts[{i}]", type(sd).__name__, "a mapping str -> torch.Tensor")
    w = _check_weights(weights, m)
    first = state_dicts[0]
    keys = list(first)
    key_set = set(keys)
    for i, sd in enumerate(state_dicts[1:], start=1):
        if set(sd) != key_set:
            extra, missing = sorted(set(sd) - key_set), sorted(key_set - set(sd))
            raise bad_value(
                f"state_dicts[{i}]", f"<keys: extra {extra}, missing {missing}>", "the keys of state_dicts[0]"
            )
        for key in keys:
            if sd[key].shape != first[key].shape:
                raise bad_value(
                    f"state_dicts[{i}][{key!r}].shape",
                    tuple(sd[key].shape),
                    f"{tuple(first[key].shape)}",
                    ShapeError,
                )

    mask_keys = [key for key in keys if key.endswith(MASK_SUFFIXES)]
    # weight key -> one keep tensor per state dict (or None), from explicit masks then stored ones
    keeps: dict[str, list[torch.Tensor]] = {}
    labels: dict[str, str] = {}
    if masks is not None:
        if isinstance(masks, Mapping) or len(masks) != m:
            raise bad_value(
                "masks",
                type(masks).__name__,
                f"None or a sequence of {m} mappings name -> mask, one per state dict",
            )
        names = list(masks[0])
        for i, md in enumerate(masks):
            if not isinstance(md, Mapping) or set(md) != set(names):
                raise MaskMismatchError(
                    f"masks[{i}] names {sorted(md) if isinstance(md, Mapping) else md!r}, masks[0] names {sorted(names)}"
                )
        for name in names:
            key = _param_key(name, key_set)
            if key is None:
                raise bad_value("masks", name, "names of parameters in the state dicts")
            keeps[key] = [
                as_keep_tensor(md[name], tuple(first[key].shape), first[key].device) for md in masks
            ]
            labels[key] = name
    for mkey in mask_keys:
        for target in _mask_targets(mkey, key_set):
            if target not in keeps and first[mkey].shape == first[target].shape:
                keeps[target] = [as_keep_tensor(sd[mkey], device=first[target].device) for sd in state_dicts]
                labels[target] = mkey

    if check_masks:
        _check_same(keys, keeps, labels, state_dicts, mask_keys)

    result: dict[str, torch.Tensor] = {}
    for key in keys:
        ref = first[key]
        if key in mask_keys:
            result[key] = _union([sd[key] for sd in state_dicts]) if not check_masks else ref.detach().clone()
        elif ref.is_floating_point() or ref.is_complex():
            acc_dtype = torch.complex128 if ref.is_complex() else torch.float64
            acc = torch.zeros(ref.shape, dtype=acc_dtype, device=ref.device)
            for i, sd in enumerate(state_dicts):
                value = sd[key].detach().to(ref.device, acc_dtype)
                if key in keeps:
                    value = value * keeps[key][i]
                acc += w[i] * value
            result[key] = acc.to(ref.dtype)
        else:
            result[key] = ref.detach().clone()
    return result


def _check_same(
    keys: list[str],
    keeps: Mapping[str, list[torch.Tensor]],
    labels: Mapping[str, str],
    state_dicts: Sequence[Mapping[str, torch.Tensor]],
    mask_keys: list[str],
) -> None:
    """Raise MaskMismatchError at the first key (state-dict order) whose masks differ."""
    for key in keys:
        if key in keeps:
            tensors, label = keeps[key], labels[key]
        elif key in mask_keys:
            tensors, label = [sd[key] for sd in state_dicts], key
        else:
            continue
        for i, t in enumerate(tensors[1:], start=1):
            if not torch.equal(t.to(tensors[0].device), tensors[0]):
                differ = int((t.to(tensors[0].device) != tensors[0]).sum())
                raise MaskMismatchError(
                    f"masks differ at {label!r}: model {i} and model 0 disagree on {differ} of "
                    f"{t.numel()} entries; averaging them would keep the union of the masks "
                    "(pass check_masks=False to accept that)"
                )


def _union(tensors: list[torch.Tensor]) -> torch.Tensor:
    out = tensors[0].detach().clone()
    for t in tensors[1:]:
        t = t.to(out.device)
        out = out | t if out.dtype == torch.bool else torch.maximum(out, t.to(out.dtype))
    return out


def average_models(
    models: Sequence[nn.Module],
    weights: Sequence[float] | None = None,
    masks: Sequence[Mapping[str, Any]] | None = None,
    check_masks: bool = True,
) -> nn.Module:
    """A new model (a deep copy of ``models[0]``) holding :func:`average_state_dicts` of the models.

    The inputs are untouched. Recalibrate BatchNorm afterwards (:func:`recalibrate_batchnorm`):
    the running statistics are averaged like every float tensor, which fits no model exactly.
    """
    if isinstance(models, nn.Module) or not isinstance(models, Sequence) or not models:
        raise bad_value("models", type(models).__name__, "a non-empty sequence of nn.Module")
    for i, model in enumerate(models):
        if not isinstance(model, nn.Module):
            raise bad_value(f"models[{i}]", type(model).__name__, "an nn.Module")
    state = average_state_dicts([model.state_dict() for model in models], weights, masks, check_masks)
    soup = _copy_model(models[0])
    soup.load_state_dict(state)
    for module, hook in _prune_hooks(soup):
        setattr(module, hook._tensor_name, hook.apply_mask(module))  # the masked weight of the new values
    return soup


def _prune_hooks(model: nn.Module) -> list[tuple[nn.Module, Any]]:
    from torch.nn.utils import prune

    return [
        (module, hook)
        for module in model.modules()
        for hook in module._forward_pre_hooks.values()
        if isinstance(hook, prune.BasePruningMethod)
    ]


def _copy_model(model: nn.Module) -> nn.Module:
    """A deep copy, also of a model pruned by torch.nn.utils.prune.

    prune stores the masked weight as a plain attribute computed with autograd (not a leaf), which
    deepcopy refuses; it is swapped for a detached copy while copying and put back afterwards.
    """
    hooks = _prune_hooks(model)
    saved = [(module, hook._tensor_name, getattr(module, hook._tensor_name)) for module, hook in hooks]
    try:
        for module, name, value in saved:
            setattr(module, name, value.detach())
        return copy.deepcopy(model)
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


# --------------------------------------------------------------------------------------------------
# BatchNorm recalibration


def _inputs(data: Any, fraction: float, batch_size: int) -> Iterable[Any]:
    """The batches to run: the first ceil(fraction * N) rows of a tensor, or of the batches of a loader."""
    if isinstance(data, torch.Tensor):
        if data.dim() == 0 or data.shape[0] == 0:
            raise bad_value(
                "data", f"<tensor of shape {tuple(data.shape)}>", "a tensor with at least one row"
            )
        rows = data[: max(1, math.ceil(fraction * data.shape[0]))]
        # BatchNorm's cumulative average weighs every batch alike, so cut the rows into batches of
        # (almost) equal size -- never a full batch followed by a ragged remainder
        return rows.tensor_split(math.ceil(rows.shape[0] / batch_size))
    if not isinstance(data, Iterable):
        raise bad_value("data", type(data).__name__, "a tensor or an iterable of batches (a DataLoader)")
    try:
        n = len(data)  # type: ignore[arg-type]
    except TypeError:
        if fraction != 1.0:
            raise bad_value("fraction", fraction, "1.0 when data has no len() (a generator)") from None
        return data
    if n == 0:
        raise bad_value("data", "<empty>", "at least one batch")
    take = max(1, math.ceil(fraction * n))
    return (batch for i, batch in zip(range(take), data))


def recalibrate_batchnorm(
    model: nn.Module, data: Any, fraction: float = 0.2, batch_size: int = 256
) -> nn.Module:
    """Recompute every BatchNorm's running mean and variance from data, in place; returns ``model``.

    Paper 12 recalibrates the soup on 20 % of the training data. Each BatchNorm's running stats are
    reset and accumulated as a cumulative average over the batches (momentum=None: the mean of
    the batch means and of the unbiased batch variances), in train mode with no gradient.
    Training flags and momenta are restored afterwards; on an error the old statistics come back.

    ``data``: a tensor of inputs (its first ceil(fraction * N) rows, cut into the fewest batches of
    at most ``batch_size`` rows whose sizes differ by at most one) or an iterable of batches (its first ceil(fraction * len) batches; a batch is a tensor or a
    tuple/list whose first element is the input).
    """
    if not isinstance(model, nn.Module):
        raise bad_value("model", type(model).__name__, "a torch.nn.Module")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise bad_value("fraction", fraction, "a float in (0, 1]")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise bad_value("batch_size", batch_size, "an int >= 1")
    norms = [
        m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    batches = _inputs(data, float(fraction), batch_size)
    if not norms:
        return model
    ref = next(model.parameters(), None)
    device = ref.device if ref is not None else None
    flags = {m: m.training for m in model.modules()}
    saved = [(bn, bn.momentum, {k: v.clone() for k, v in bn.named_buffers(recurse=False)}) for bn in norms]
    seen = 0
    try:
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None
        model.train()
        with torch.no_grad():
            for batch in batches:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                if not isinstance(x, torch.Tensor):
                    raise bad_value(
                        "data",
                        f"<batch of {type(x).__name__}>",
                        "batches that are tensors or (input, ...) tuples",
                    )
                model(x.to(device) if device is not None else x)
                seen += 1
        if seen == 0:
            raise bad_value("data", "<no batches>", "at least one batch")
    except BaseException:
        for bn, _, buffers in saved:
            for k, v in buffers.items():
                getattr(bn, k).copy_(v)
        raise
    finally:
        for bn, momentum, _ in saved:
            bn.momentum = momentum
        for m, flag in flags.items():
            m.training = flag
    return model
