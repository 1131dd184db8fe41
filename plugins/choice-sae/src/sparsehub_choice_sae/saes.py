"""Mutual Choice and Feature Choice sparse autoencoders (paper 23), on the core SAE.

Both subclass :class:`sparsehub.sae.SparseAutoencoder` (SAELens parameter names and shapes,
unit-norm decoder rows), change the selection to a batch allocation and pick the auxiliary loss:
``aux="zipf"`` (aux_zipf_loss), ``"auxk"`` (aux_k on dead latents) or ``None``.
"""

from __future__ import annotations

from typing import Any

import torch

from sparsehub.errors import bad_value
from sparsehub.sae import JumpReLU, SparseAutoencoder

from .losses import aux_zipf_loss
from .selection import FeatureChoice, MutualChoice

__all__ = ["FeatureChoiceSAE", "MutualChoiceSAE"]

_AUX = ("zipf", "auxk", None)


class _ChoiceSAE(SparseAutoencoder):
    """Shared parts: the aux switch, batch/threshold encoding, conversion to JumpReLU."""

    def _setup_aux(self, aux: str | None, zipf_exponent: float) -> None:
        if aux not in _AUX:
            raise bad_value("aux", aux, f"one of {_AUX}")
        self.aux, self.zipf_exponent = aux, float(zipf_exponent)
        if aux is None:
            self.aux_coef = 0.0

    def encode(self, x: torch.Tensor, batch_allocation: bool | None = None) -> torch.Tensor:
        """Codes [..., d_sae]: batch allocation (train mode by default) or JumpReLU thresholds (eval mode)."""
        previous = self.selection.batch_allocation
        self.selection.batch_allocation = batch_allocation if batch_allocation is not None else previous
        try:
            return super().encode(x)
        finally:
            self.selection.batch_allocation = previous

    def auxiliary_loss(self, x: torch.Tensor, recon: torch.Tensor, pre: torch.Tensor, tracker: Any) -> torch.Tensor:
        if self.aux == "zipf":
            return aux_zipf_loss(pre, (x - recon).detach(), self.W_dec, tracker.firing_rate, tracker.dead,
                                 self.selection.k, self.k_aux, self.zipf_exponent)
        return super().auxiliary_loss(x, recon, pre, tracker)

    def to_jumprelu(self) -> SparseAutoencoder:
        """A plain :class:`SparseAutoencoder` with a JumpReLU selection at the learnt thresholds."""
        if int(self.selection.n_updates) == 0:
            raise bad_value("thresholds", "<untrained>", "thresholds learnt in training (train the SAE first)")
        theta = self.selection.threshold.float()
        selection = JumpReLU(0.0, d_sae=self.d_sae)
        selection.threshold.copy_(theta.expand(self.d_sae))
        out = SparseAutoencoder(self.d_in, self.d_sae, selection=selection, tied=self.tied,
                                decoder_norm=self.decoder_norm, apply_b_dec_to_input=self.apply_b_dec_to_input,
                                aux_coef=self.aux_coef, k_aux=self.k_aux, seed=self.seed, dtype=self.dtype)
        with torch.no_grad():
            for name, param in out.named_parameters():
                param.copy_(getattr(self, name))
        return out.eval()


class MutualChoiceSAE(_ChoiceSAE):
    """Mutual Choice SAE: the top k·B pre-activations of the batch fire (one global top-k).

    ``k`` is the mean number of active latents per token. ``aux="zipf"`` (default) adds
    aux_zipf_loss with coefficient ``aux_coef`` (1/32) and ``k_aux`` (d_in/2).
    """

    def __init__(self, d_in: int, d_sae: int, k: float, *, aux: str | None = "zipf", aux_coef: float = 1 / 32,
                 k_aux: int | None = None, zipf_exponent: float = 0.7, threshold_lr: float = 0.01,
                 selection: MutualChoice | None = None, **kwargs: Any):
        selection = selection if selection is not None else MutualChoice(k, threshold_lr=threshold_lr)
        super().__init__(d_in, d_sae, selection=selection, aux_coef=aux_coef, k_aux=k_aux, **kwargs)
        self._setup_aux(aux, zipf_exponent)

    def extra_config(self) -> dict[str, Any]:
        return {"k": self.selection.k, "aux": self.aux, "zipf_exponent": self.zipf_exponent}


class FeatureChoiceSAE(_ChoiceSAE):
    """Feature Choice SAE: each feature takes its top-m_i tokens of the batch.

    ``capacity``: ``"uniform"`` (m = kB/F), ``"zipf"`` (m_i ∝ usage rank^−s, s =
    ``zipf_exponent``) or an int m. No feature can die, so ``aux`` defaults to None.
    """

    def __init__(self, d_in: int, d_sae: int, k: float, *, capacity: str | int = "uniform",
                 zipf_exponent: float = 0.7, aux: str | None = None, aux_coef: float = 1 / 32,
                 k_aux: int | None = None, threshold_lr: float = 0.01, selection: FeatureChoice | None = None,
                 **kwargs: Any):
        if selection is None:
            if isinstance(d_sae, bool) or not isinstance(d_sae, int) or d_sae < 1:
                raise bad_value("d_sae", d_sae, "an int >= 1")
            selection = FeatureChoice(k, d_sae, capacity=capacity, zipf_exponent=zipf_exponent,
                                      threshold_lr=threshold_lr)
        super().__init__(d_in, d_sae, selection=selection, aux_coef=aux_coef, k_aux=k_aux, **kwargs)
        self._setup_aux(aux, zipf_exponent)

    def extra_config(self) -> dict[str, Any]:
        return {"k": self.selection.k, "aux": self.aux, "zipf_exponent": self.zipf_exponent}
