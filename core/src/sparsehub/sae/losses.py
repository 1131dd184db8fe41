"""Training losses of an SAE: reconstruction and the auxiliary loss of dead or under-used latents.

aux_k (Gao et al. 2024, App. A.2): with e = x − x̂ the detached residual of the main
reconstruction, the top-k_aux *dead* latents (by pre-activation) reconstruct e through the
decoder without bias, ê = z_aux · W_dec, and L_aux = ‖e − ê‖². :func:`weighted_aux_loss`
generalises the dead mask to weights u_i ∈ [0, 1] (u = 1[dead] gives aux_k exactly), which is
the form an under-use-aware loss (aux_zipf, paper 23) plugs into.
"""

from __future__ import annotations

import torch

from ..errors import ShapeError, bad_value

__all__ = ["aux_k_loss", "reconstruction_loss", "weighted_aux_loss"]


def reconstruction_loss(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """‖x − x̂‖² summed over the feature axis, averaged over tokens (SAELens's ``mse_loss``)."""
    return (recon - x).pow(2).sum(-1).mean()


def aux_k_loss(
    pre: torch.Tensor, residual: torch.Tensor, W_dec: torch.Tensor, dead: torch.Tensor, k_aux: int
) -> torch.Tensor:
    """aux_k: the top-``k_aux`` dead latents of each token reconstruct ``residual`` (no bias).

    ``pre`` [B, d_sae] pre-activations, ``residual`` [B, d_in] (detached x − x̂), ``W_dec``
    [d_sae, d_in], ``dead`` [d_sae] bool. Zero when no latent is dead. Scaled by
    min(#dead / k_aux, 1) as in SAELens, so a handful of dead latents does not dominate.
    """
    return weighted_aux_loss(pre, residual, W_dec, dead.to(pre.dtype), k_aux)


def weighted_aux_loss(
    pre: torch.Tensor, residual: torch.Tensor, W_dec: torch.Tensor, weights: torch.Tensor, k_aux: int
) -> torch.Tensor:
    """Auxiliary reconstruction by weighted latents: ‖e − top_{k_aux}(u ⊙ pre) · W_dec‖².

    ``weights`` u [d_sae] in [0, 1]: 0 excludes a latent, 1 lets it take part with its full
    pre-activation. Per token, the top-``k_aux`` eligible entries of u ⊙ pre (ReLU'd) form the
    auxiliary code; the loss is scaled by min(Σu / k_aux, 1). With u = 1[dead] this is aux_k.
    """
    d_sae = pre.shape[-1]
    if weights.shape != (d_sae,):
        raise bad_value("weights.shape", tuple(weights.shape), f"({d_sae},)", ShapeError)
    if W_dec.shape[0] != d_sae or residual.shape[-1] != W_dec.shape[1]:
        raise bad_value("W_dec.shape", tuple(W_dec.shape), f"({d_sae}, {residual.shape[-1]})", ShapeError)
    if bool((weights < 0).any()) or bool((weights > 1).any()):
        raise bad_value("weights", "<values outside [0, 1]>", "weights in [0, 1]")
    eligible = weights > 0
    n_eligible = int(eligible.sum())
    if n_eligible == 0:
        return pre.new_zeros(())
    k = min(k_aux, n_eligible)
    scale = min(float(weights.sum()) / k_aux, 1.0)
    weighted = pre * weights.to(pre.dtype)
    idx = torch.where(eligible, weighted, torch.full_like(weighted, -torch.inf)).topk(k, dim=-1, sorted=False).indices
    code = torch.zeros_like(pre).scatter(-1, idx, weighted.gather(-1, idx).relu())
    return scale * (code @ W_dec - residual).pow(2).sum(-1).mean()
