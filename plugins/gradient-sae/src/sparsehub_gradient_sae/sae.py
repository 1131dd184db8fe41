"""g-SAE: a TopK SAE whose active latents are chosen with the downstream gradient (arXiv:2411.10397).

For activations x [B, d_in] at a hook and the gradient g = ∂L/∂x of the model's downstream loss
(computed on the *original* x, detached), with pre-activations z = ReLU(pre(x)) [B, d_sae]:

    s = z + β · z ⊙ n,    n = |g · W_decᵀ| / norm          (score: who fires)
    codes = z at the top-k indices of s, 0 elsewhere        (value: the original activation)
    x̂ = codes · W_dec + b_dec

|g · W_decᵀ|_i is the first-order effect on the loss of moving x along decoder row i. The
gradient's scale depends on the loss reduction (sum vs mean over tokens), so it is normalised
explicitly: ``grad_norm="rms"`` divides the projection by its root-mean-square over the whole
batch (scale-free: multiplying g by any c > 0 changes nothing), ``"none"`` uses it raw. With
β = 0 or no gradient the selection is plain TopK on the same dictionary, bitwise.
"""

from __future__ import annotations

from typing import Any

import torch

from sparsehub.errors import ShapeError, bad_value
from sparsehub.sae import SparseAutoencoder, select_by_score
from sparsehub.sae.validate import check_activations

__all__ = ["GRAD_NORMS", "GradientTopKSAE", "gradient_scores"]

GRAD_NORMS = ("rms", "none")


def _check_beta(beta: object) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not (beta >= 0 and beta < float("inf")):
        raise bad_value("beta", beta, "a finite float >= 0")
    return float(beta)


def _check_grad_norm(grad_norm: object) -> str:
    if grad_norm not in GRAD_NORMS:
        raise bad_value("grad_norm", grad_norm, f"one of {GRAD_NORMS}")
    return str(grad_norm)


def check_grad(grad: object, x: torch.Tensor) -> torch.Tensor:
    """``grad`` if it is a finite floating tensor of ``x``'s shape; a clear error otherwise."""
    if not isinstance(grad, torch.Tensor):
        raise bad_value("grad", type(grad).__name__, "a torch.Tensor of the shape of x", TypeError)
    if tuple(grad.shape) != tuple(x.shape):
        raise bad_value("grad.shape", tuple(grad.shape), f"{tuple(x.shape)} (the shape of x)", ShapeError)
    return check_activations(grad, x.shape[-1], name="grad")


def gradient_scores(pre: torch.Tensor, w_dec: torch.Tensor, grad: torch.Tensor, beta: float,
                    grad_norm: str = "rms") -> torch.Tensor:
    """g-SAE selection score s = z + β · z ⊙ |g · W_decᵀ| / norm, with z = ReLU(pre).

    ``pre`` [..., d_sae], ``w_dec`` [d_sae, d_in], ``grad`` [..., d_in] -> s [..., d_sae]
    (no graph: the score only picks indices). ``grad_norm="rms"`` divides the projection by its
    RMS over every entry of the batch (zero gradient: projection 0, s = z).
    """
    with torch.no_grad():
        z = pre.detach().relu()
        proj = (grad.detach().to(z.dtype) @ w_dec.detach().T).abs()
        if grad_norm == "rms":
            rms = proj.pow(2).mean().sqrt()
            proj = proj / rms if float(rms) > 0 else proj
        return z + beta * z * proj


class GradientTopKSAE(SparseAutoencoder):
    """TopK SAE with gradient-scored selection (g-SAE), SAELens parameter names and shapes.

    Parameters
    ----------
    d_in, d_sae, k : input width, dictionary size, active latents per token (1 <= k <= d_sae).
    beta : weight β >= 0 of the gradient term in the score; β = 0 is plain TopK.
    grad_norm : ``"rms"`` (divide |g·W_decᵀ| by its batch RMS) or ``"none"``.
    **kwargs : passed to :class:`sparsehub.sae.SparseAutoencoder` (``aux_coef``, ``k_aux``,
        ``seed``, ``tied``, ``decoder_norm``, ...); aux_k on dead latents is on by default, as for TopK.

    ``encode(x, grad=None)``: without ``grad`` the codes are TopK's. Training batches are either
    ``x`` (then the SAE trains as TopK) or a pair ``(x, grad)``: the core's
    :class:`~sparsehub.sae.Trainer` passes the batch to :meth:`training_loss` untouched. With
    β > 0 a training batch without a gradient is an error (it would silently train TopK).
    """

    def __init__(self, d_in: int, d_sae: int, k: int, *, beta: float = 1.0, grad_norm: str = "rms",
                 **kwargs: Any):
        if "selection" in kwargs:
            raise bad_value("selection", kwargs["selection"], "not given (g-SAE's selection is TopK by score)")
        beta, grad_norm = _check_beta(beta), _check_grad_norm(grad_norm)
        super().__init__(d_in, d_sae, k=k, **kwargs)
        self.k, self.beta, self.grad_norm = int(k), beta, grad_norm
        self._training_grad: torch.Tensor | None = None

    def extra_config(self) -> dict[str, Any]:
        return {"k": self.k, "beta": self.beta, "grad_norm": self.grad_norm}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GradientTopKSAE:
        config = dict(config)
        config.pop("selection"), config.pop("selection_config")
        config["dtype"] = getattr(torch, config["dtype"])
        return cls(**config)

    def encode_with_hidden_pre(self, x: torch.Tensor, grad: torch.Tensor | None = None
                               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(codes, pre-activations); the gradient only changes which k latents fire."""
        check_activations(x, self.d_in)
        grad = self._training_grad if grad is None else grad
        if grad is not None:
            check_grad(grad, x)
        pre = self.hidden_pre(x)
        if grad is None or self.beta == 0:
            return select_by_score(pre, pre, self.k), pre
        return select_by_score(pre, gradient_scores(pre, self.W_dec, grad, self.beta, self.grad_norm), self.k), pre

    def encode(self, x: torch.Tensor, grad: torch.Tensor | None = None) -> torch.Tensor:
        """Codes [..., d_sae]: g-SAE selection with ``grad`` [..., d_in], plain TopK without it."""
        return self.encode_with_hidden_pre(x, grad)[0]

    def forward(self, x: torch.Tensor, grad: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, grad))

    def training_loss(self, x: Any, tracker: Any = None) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """MSE (+ aux_k on dead latents) of one batch ``x`` or ``(x, grad)``: the core's TopK loss, g-selected.

        The gradient reaches :meth:`encode_with_hidden_pre` for the duration of this call only
        (the core's loss calls it with ``x`` alone).
        """
        x, grad = _split(x)
        if grad is None and self.beta > 0:
            raise bad_value("grad", None, "a gradient with every training batch when beta > 0 "
                            "(pass batches as (x, grad); see collect_acts_and_grads)")
        self._training_grad = grad
        try:
            return super().training_loss(x, tracker)
        finally:
            self._training_grad = None


def _split(batch: Any) -> tuple[Any, torch.Tensor | None]:
    if isinstance(batch, (tuple, list)):
        if len(batch) != 2:
            raise bad_value("batch", f"<sequence of {len(batch)}>", "x or a pair (x, grad)")
        return batch[0], batch[1]
    return batch, None

