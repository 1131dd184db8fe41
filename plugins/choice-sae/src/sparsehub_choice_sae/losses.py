"""aux_zipf_loss (paper 23 §3.3): the aux_k loss extended from dead to under-used features.

Our reading of the paper's rule (its full text was not reachable offline; see the README):
each feature has a target firing rate t_i from a Zipf law over its usage rank, normalised so
that Σ t_i = k (the mean number of active latents per token); its under-use weight is
u_i = clip(1 − f_i / t_i, 0, 1) with f_i its EMA firing rate, and u_i = 1 for a dead feature.
The auxiliary code is the per-token top-k_aux of u ⊙ pre, which reconstructs the detached
residual e = x − x̂ through the decoder without bias:

    L_aux_zipf = min(Σu / k_aux, 1) · ‖e − top_{k_aux}(u ⊙ pre) · W_dec‖²

With u ∈ {0, 1} (only dead features weighted) this is exactly aux_k.
"""

from __future__ import annotations

import torch

from sparsehub.errors import ShapeError, bad_value
from sparsehub.sae import weighted_aux_loss

__all__ = ["aux_zipf_loss", "zipf_targets", "zipf_underuse_weights"]


def zipf_targets(firing_rate: torch.Tensor, k: float, exponent: float) -> torch.Tensor:
    """t [F]: Zipf-shaped target firing rates by usage rank (rank 1 = most used), Σ t_i = k."""
    if not exponent >= 0:
        raise bad_value("zipf_exponent", exponent, "a float >= 0")
    d_sae = firing_rate.numel()
    order = torch.argsort(-firing_rate.double(), stable=True)
    shape = torch.arange(1, d_sae + 1, dtype=torch.float64).pow(-float(exponent))
    targets = torch.empty(d_sae, dtype=torch.float64)
    targets[order] = shape * (k / shape.sum())
    return targets.clamp(max=1.0)


def zipf_underuse_weights(firing_rate: torch.Tensor, dead: torch.Tensor, k: float, exponent: float) -> torch.Tensor:
    """u [F] = clip(1 − f / t, 0, 1), and 1 for dead features."""
    if dead.shape != firing_rate.shape:
        raise bad_value("dead.shape", tuple(dead.shape), f"{tuple(firing_rate.shape)} (one flag per feature)", ShapeError)
    targets = zipf_targets(firing_rate, k, exponent)
    u = (1 - firing_rate.double() / targets).clamp(0, 1)
    return torch.where(dead, torch.ones_like(u), u)


def aux_zipf_loss(pre: torch.Tensor, residual: torch.Tensor, W_dec: torch.Tensor, firing_rate: torch.Tensor,
                  dead: torch.Tensor, k: float, k_aux: int, exponent: float = 0.7) -> torch.Tensor:
    """L_aux_zipf for pre-activations ``pre`` [B, F] and the detached ``residual`` [B, d_in]."""
    u = zipf_underuse_weights(firing_rate, dead, k, exponent).to(pre.dtype)
    return weighted_aux_loss(pre, residual, W_dec, u, k_aux)
