"""Checks of the inputs every evaluation shares: attribute labels, activations and SAE-like objects.

Labels are a mapping ``attribute -> values`` with one value per prompt (ints or strings). They are
checked before anything is computed or stored, so a failed call changes nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from sparsehub.errors import ShapeError, bad_value

__all__ = ["as_activations", "check_dictionary_like", "check_labels"]


def as_activations(H: Any, name: str = "H", d: int | None = None) -> torch.Tensor:
    """``H`` (numpy or torch, [N, d]) as a finite float tensor; raise naming ``name`` otherwise."""
    if isinstance(H, np.ndarray):
        if not np.issubdtype(H.dtype, np.floating):
            raise bad_value(f"{name}.dtype", H.dtype, "a floating dtype", TypeError)
        H = torch.from_numpy(H)
    if not isinstance(H, torch.Tensor):
        raise bad_value(name, type(H).__name__, "a numpy array or torch tensor of shape [N, d]", TypeError)
    if H.ndim != 2:
        raise bad_value(f"{name}.shape", tuple(H.shape), "[N, d] (one activation per prompt)", ShapeError)
    if not H.is_floating_point():
        raise bad_value(f"{name}.dtype", H.dtype, "a floating dtype", TypeError)
    if d is not None and H.shape[1] != d:
        raise bad_value(f"{name}.shape", tuple(H.shape), f"[N, {d}] (the dictionary's width d)", ShapeError)
    if not bool(torch.isfinite(H).all()):
        raise bad_value(
            name, f"<tensor with {int((~torch.isfinite(H)).sum())} NaN/Inf entries>", "finite values"
        )
    return H.detach()


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and np.isnan(v))


def check_labels(
    labels: Any,
    attributes: Sequence[str],
    n: int | None = None,
    *,
    name: str = "labels",
    min_values: int = 1,
    min_count: int = 0,
) -> dict[str, np.ndarray]:
    """Labels of ``attributes`` as 1-d object-free numpy arrays of equal length ``n``.

    Refuses a missing attribute, missing entries (None/NaN), a length mismatch, and (with
    ``min_values=2``) an attribute that takes a single value; warns when a value has fewer than
    ``min_count`` samples, since its conditional mean is then mostly noise.
    """
    if not isinstance(labels, Mapping):
        raise bad_value(name, type(labels).__name__, "a mapping attribute -> one value per prompt", TypeError)
    out: dict[str, np.ndarray] = {}
    for attr in attributes:
        if attr not in labels:
            raise bad_value(
                f"{name}[{attr!r}]", "<missing>", f"labels for every attribute {list(attributes)}", KeyError
            )
        raw = labels[attr]
        values = raw.detach().cpu().numpy() if isinstance(raw, torch.Tensor) else np.asarray(raw)
        if values.ndim != 1:
            raise bad_value(
                f"{name}[{attr!r}].shape", values.shape, "one value per prompt, shape [N]", ShapeError
            )
        missing = [i for i, v in enumerate(values.tolist()) if _is_missing(v)]
        if missing:
            raise bad_value(
                f"{name}[{attr!r}]",
                f"<{len(missing)} missing labels, first at index {missing[0]}>",
                "a label for every prompt (no None/NaN)",
            )
        if n is not None and len(values) != n:
            raise bad_value(
                f"len({name}[{attr!r}])", len(values), f"{n} (one label per activation row)", ShapeError
            )
        n = len(values)
        uniq, counts = np.unique(values, return_counts=True)
        if len(uniq) < min_values:
            raise bad_value(
                f"{name}[{attr!r}]",
                f"<single value {uniq.tolist()}>",
                f"at least {min_values} distinct values (a constant attribute has no feature)",
            )
        rare = [(u, c) for u, c in zip(uniq.tolist(), counts.tolist(), strict=True) if c < min_count]
        if rare:
            warnings.warn(
                f"{name}[{attr!r}]: values {rare} have fewer than {min_count} samples; their "
                "conditional means are noisy",
                UserWarning,
                stacklevel=3,
            )
        out[attr] = values
    return out


def check_dictionary_like(obj: Any, name: str = "sae") -> Any:
    """``obj`` if it has ``encode``, ``decode`` and ``W_dec`` (ours, SAELens's); a clear TypeError otherwise."""
    missing = [a for a in ("encode", "decode", "W_dec") if not hasattr(obj, a)]
    if missing:
        raise bad_value(
            name, type(obj).__name__, f"an SAE with encode, decode and W_dec (missing: {missing})", TypeError
        )
    return obj
