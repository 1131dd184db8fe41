"""Input checks at the public boundary of the SAE machinery: shapes, dtype, finiteness."""

from __future__ import annotations

import torch

from ..errors import ShapeError, bad_value

__all__ = ["check_activations", "check_positive_int"]


def check_activations(x: object, d_in: int, name: str = "x") -> torch.Tensor:
    """Return ``x`` if it is a finite floating tensor of shape [..., d_in]; raise a clear error otherwise.

    Non-finite activations would silently poison Adam's moments and every later step, so they
    are refused here, before any state changes.
    """
    if not isinstance(x, torch.Tensor):
        raise bad_value(name, type(x).__name__, "a torch.Tensor of shape [..., d_in]", TypeError)
    if x.ndim < 1 or x.shape[-1] != d_in:
        raise bad_value(f"{name}.shape", tuple(x.shape), f"[..., {d_in}] (the SAE's d_in)", ShapeError)
    if not x.is_floating_point():
        raise bad_value(f"{name}.dtype", x.dtype, "a floating dtype", TypeError)
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise bad_value(name, f"<tensor with {bad} NaN/Inf entries>", "finite activations")
    return x


def check_positive_int(name: str, value: object, upper: int | None = None, what: str = "") -> int:
    """``value`` as an int in [1, upper]; bools and floats are refused."""
    allowed = f"an int in [1, {upper}]{what}" if upper is not None else "an int >= 1"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad_value(name, value, allowed)
    if upper is not None and value > upper:
        raise bad_value(name, value, allowed)
    return value
