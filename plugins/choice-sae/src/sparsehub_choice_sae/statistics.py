"""Dead and under-used feature statistics of a trained or training SAE (paper 23 §4's utilisation view)."""

from __future__ import annotations

from typing import Any

import torch

from sparsehub.errors import bad_value

__all__ = ["usage_statistics"]


def usage_statistics(firing_rate: torch.Tensor, dead: torch.Tensor, k: float,
                     underused_ratio: float = 0.1) -> dict[str, Any]:
    """Summaries of how the k·B budget is spread over the F features.

    ``firing_rate`` f [F] (fraction of tokens each feature fires on), ``dead`` [F] bool. A live
    feature is *under-used* when f_i < ``underused_ratio`` · k/F (a tenth of its uniform share by
    default). ``effective_features`` = exp(entropy of f / Σf): F when usage is uniform.
    """
    if not 0 < underused_ratio <= 1:
        raise bad_value("underused_ratio", underused_ratio, "a float in (0, 1]")
    if dead.shape != firing_rate.shape:
        raise bad_value("dead.shape", tuple(dead.shape), f"{tuple(firing_rate.shape)}")
    f = firing_rate.double()
    d_sae = f.numel()
    share = f / f.sum() if float(f.sum()) > 0 else torch.full_like(f, 1 / d_sae)
    entropy = float(-(share[share > 0] * share[share > 0].log()).sum())
    underused = (~dead) & (f < underused_ratio * k / d_sae)
    return {
        "dead": int(dead.sum()),
        "underused": int(underused.sum()),
        "effective_features": float(torch.tensor(entropy).exp()),
        "max_rate": float(f.max()),
        "mean_l0": float(f.sum()),
    }
