"""The sparse autoencoder module, with SAELens's parameter names and shapes.

pre = (x − b_dec) · W_enc + b_enc   (W_enc [d_in, d_sae]; ``apply_b_dec_to_input``)
z   = selection(pre)               (TopK, JumpReLU, a batch allocation, ...)
x̂   = z · W_dec + b_dec            (W_dec [d_sae, d_in]; rows are the dictionary directions)

The decoder rows are kept at unit norm (``decoder_norm="unit"``): renormalised after every
optimiser step and, before it, the gradient component parallel to each row is removed (the
constraint of Bricken et al. 2023 and Gao et al. 2024). SAELens's TopK SAEs instead leave the
norm free and multiply the pre-activations by it (``rescale_acts_by_decoder_norm``); with unit
rows both parameterisations coincide. ``tied=True`` uses W_dec = W_enc^T (one parameter).

Any object with ``encode`` / ``decode`` / ``W_dec`` (SAELens SAEs included) can stand in for this
class in evaluation code; this class only adds training hooks (:meth:`training_loss`,
:meth:`project_decoder_grad_`, :meth:`normalize_decoder_`) and lossless :meth:`save` / :meth:`load`.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from ..errors import bad_value
from .losses import aux_k_loss, reconstruction_loss
from .selection import ReLU, Selection, TopK
from .validate import check_activations, check_positive_int

__all__ = ["SparseAutoencoder"]

_FORMAT = "sparsehub.sae/1"
_DECODER_NORMS = ("unit", "none")


class SparseAutoencoder(nn.Module):
    """A sparse autoencoder over activations of width ``d_in`` with ``d_sae`` latents.

    Parameters
    ----------
    d_in, d_sae : input width and dictionary size.
    k : shorthand for ``selection=TopK(k)``.
    selection : the activation (:class:`~sparsehub.sae.Selection`); ReLU when neither is given.
    tied : W_dec = W_enc^T.
    decoder_norm : ``"unit"`` (renormalise rows, project their gradient) or ``"none"``.
    apply_b_dec_to_input : subtract b_dec from x before encoding (SAELens's default).
    aux_coef, k_aux : coefficient and size of the aux_k loss on dead latents (Gao et al. 2024,
        App. A.2: α = 1/32, k_aux = d_in / 2 by default); ``aux_coef=0`` disables it.
    seed : initialisation seed (SAELens's scheme: Kaiming-uniform decoder, W_enc = W_dec^T,
        zero biases; rows then normalised when ``decoder_norm="unit"``).
    """

    def __init__(
        self,
        d_in: int,
        d_sae: int,
        k: int | None = None,
        *,
        selection: Selection | None = None,
        tied: bool = False,
        decoder_norm: str = "unit",
        apply_b_dec_to_input: bool = True,
        aux_coef: float = 1 / 32,
        k_aux: int | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        check_positive_int("d_in", d_in)
        check_positive_int("d_sae", d_sae)
        if k is not None and selection is not None:
            raise bad_value("k", k, "None when a selection is given (set k on the selection)")
        if selection is None:
            selection = TopK(k) if k is not None else ReLU()
        if not isinstance(selection, Selection):
            raise bad_value("selection", type(selection).__name__, "a sparsehub.sae.Selection", TypeError)
        selection.check(d_sae)
        if decoder_norm not in _DECODER_NORMS:
            raise bad_value("decoder_norm", decoder_norm, f"one of {_DECODER_NORMS}")
        if not isinstance(aux_coef, (int, float)) or isinstance(aux_coef, bool) or not aux_coef >= 0:
            raise bad_value("aux_coef", aux_coef, "a float >= 0")
        k_aux = max(1, min(d_in // 2, d_sae)) if k_aux is None else k_aux
        check_positive_int("k_aux", k_aux, d_sae)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise bad_value("seed", seed, "an int >= 0")
        self.d_in, self.d_sae, self.tied = d_in, d_sae, bool(tied)
        self.decoder_norm, self.apply_b_dec_to_input = decoder_norm, bool(apply_b_dec_to_input)
        self.aux_coef, self.k_aux, self.seed, self.dtype = float(aux_coef), int(k_aux), seed, dtype
        self.selection = selection

        gen = torch.Generator().manual_seed(seed)
        w_dec = torch.empty(d_sae, d_in, dtype=dtype)
        bound = (6.0 / d_in) ** 0.5  # kaiming_uniform_ on [d_sae, d_in]: fan_in = d_in, gain sqrt(2)
        w_dec.uniform_(-bound, bound, generator=gen)
        if decoder_norm == "unit":
            w_dec /= w_dec.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        self.W_enc = nn.Parameter(w_dec.T.clone().contiguous())
        if not self.tied:
            self._parameters["W_dec"] = nn.Parameter(w_dec)
        self.b_enc = nn.Parameter(torch.zeros(d_sae, dtype=dtype))
        self.b_dec = nn.Parameter(torch.zeros(d_in, dtype=dtype))

    # -- parameters ---------------------------------------------------------------------------
    @property
    def W_dec(self) -> torch.Tensor:
        """Decoder [d_sae, d_in]: one dictionary direction per row (W_enc^T when tied)."""
        return self.W_enc.T if self.tied else self._parameters["W_dec"]

    def _decoder_rows(self, tensor: torch.Tensor) -> torch.Tensor:
        """View of a decoder-shaped tensor (param or grad) as [d_sae, d_in], in place."""
        return tensor.T if self.tied else tensor

    def _decoder_param(self) -> nn.Parameter:
        return self.W_enc if self.tied else self._parameters["W_dec"]

    # -- forward ------------------------------------------------------------------------------
    def hidden_pre(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-activations (x − b_dec) · W_enc + b_enc, [..., d_sae]."""
        sae_in = x - self.b_dec if self.apply_b_dec_to_input else x
        return sae_in @ self.W_enc + self.b_enc

    def encode_with_hidden_pre(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(codes, pre-activations) for ``x`` [..., d_in]; the input is checked first."""
        check_activations(x, self.d_in)
        pre = self.hidden_pre(x)
        return self.selection(pre), pre

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes z = selection(pre(x)), [..., d_sae]."""
        return self.encode_with_hidden_pre(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction z · W_dec + b_dec, [..., d_in]."""
        return z @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    # -- training hooks -----------------------------------------------------------------------
    def training_loss(self, x: torch.Tensor, tracker: Any = None) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """Loss of one training batch: (total, parts, codes).

        MSE summed over d_in and averaged over the batch (SAELens's convention) plus
        ``aux_coef`` × :meth:`auxiliary_loss`. Subclasses change the selection or the auxiliary
        term, not this bookkeeping.
        """
        z, pre = self.encode_with_hidden_pre(x)
        recon = self.decode(z)
        mse = reconstruction_loss(x, recon)
        total, parts = mse, {"mse": float(mse.detach())}
        if self.aux_coef > 0 and tracker is not None:
            aux = self.auxiliary_loss(x, recon, pre, tracker)
            total = total + self.aux_coef * aux
            parts["aux"] = float(aux.detach())
        return total, parts, z

    def auxiliary_loss(self, x: torch.Tensor, recon: torch.Tensor, pre: torch.Tensor, tracker: Any) -> torch.Tensor:
        """aux_k: the top-k_aux dead latents reconstruct the detached residual (no bias)."""
        return aux_k_loss(pre, (x - recon).detach(), self.W_dec, tracker.dead, self.k_aux)

    @torch.no_grad()
    def project_decoder_grad_(self) -> None:
        """Remove from the decoder gradient its component parallel to each (unit) row."""
        param = self._decoder_param()
        if self.decoder_norm != "unit" or param.grad is None:
            return
        rows, grad = self._decoder_rows(param.data), self._decoder_rows(param.grad)
        grad -= (grad * rows).sum(-1, keepdim=True) * rows

    @torch.no_grad()
    def normalize_decoder_(self) -> None:
        """Rescale every decoder row to unit norm (no-op when ``decoder_norm="none"``)."""
        if self.decoder_norm != "unit":
            return
        rows = self._decoder_rows(self._decoder_param().data)
        rows /= rows.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    # -- persistence --------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this SAE (parameters aside), JSON-able."""
        return {
            "d_in": self.d_in, "d_sae": self.d_sae, "tied": self.tied, "decoder_norm": self.decoder_norm,
            "apply_b_dec_to_input": self.apply_b_dec_to_input, "aux_coef": self.aux_coef,
            "k_aux": self.k_aux, "seed": self.seed, "dtype": str(self.dtype).removeprefix("torch."),
            "selection": type(self.selection).__name__, "selection_config": self.selection.config(),
            **self.extra_config(),
        }

    def extra_config(self) -> dict[str, Any]:
        """Constructor arguments a subclass adds (saved with :meth:`config`)."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SparseAutoencoder:
        """Build an (untrained) SAE from :meth:`config`'s output."""
        config = dict(config)
        selection = Selection.from_config(config.pop("selection"), config.pop("selection_config"))
        config["dtype"] = getattr(torch, config["dtype"])
        return cls(selection=selection, **config)

    def save(self, path: str | os.PathLike) -> None:
        """Write config and state dict (parameters and buffers such as thresholds) to ``path``."""
        state = {k: v.detach().cpu().clone() for k, v in self.state_dict().items()}
        torch.save({"format": _FORMAT, "class": type(self).__name__, "config": self.config(),
                    "state_dict": state}, os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike) -> SparseAutoencoder:
        """Read an SAE written by :meth:`save` (``weights_only`` loading: no code runs)."""
        blob = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("format") != _FORMAT:
            raise bad_value("path", os.fspath(path), f"a file written by SparseAutoencoder.save ({_FORMAT})")
        if blob["class"] != cls.__name__:
            raise bad_value("class", blob["class"], f"{cls.__name__} (load with the class that saved it)")
        sae = cls.from_config(blob["config"])
        sae.load_state_dict(blob["state_dict"], strict=True)
        return sae
