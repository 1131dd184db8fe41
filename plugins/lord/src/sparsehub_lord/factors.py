"""LoRD's factorisation of one layer: W (out, in) ~ A B with A (out, r) and B (r, in).

Two modes (paper arXiv:2309.14021, section 3, and the brief's section 50):

* ``"activation"`` -- the output-PCA ("atomic feature mimicking") form: with the calibration
  inputs' Gram matrix Σ = XᵀX, the layer outputs' second moment is C = W Σ Wᵀ (out, out); its
  top-r eigenvectors U_r give A = U_r and B = U_rᵀ W, so A B x is the projection of W x on the
  r directions that carry most of the output energy. C is never formed from outputs: the left
  singular vectors of M = W Σ^{1/2} are C's eigenvectors (M Mᵀ = C), which costs an (in, in)
  eigh and an (out, in) SVD instead of an (out, out) eigh.
* ``"weight"`` -- plain truncated SVD of W (Eckart-Young): A = U_r diag(√s), B = diag(√s) V_rᵀ.\n\nBoth are computed with ``eigh`` of the smaller Gram matrix (:func:`top_left_singular`).

All arithmetic is float64 (float16/32 eigh on an ill-conditioned Σ is unstable); the factors are
cast back to the layer's dtype. A bias stays exact on A's side: y = A(Bx) + b.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LowRankLinear", "lord_factors", "top_left_singular"]

MODES = ("activation", "weight")


def top_left_singular(m: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The top ``rank`` left singular vectors (out, r) and singular values (r,) of ``m`` (out, in).

    Through ``eigh`` of the smaller Gram matrix (m mᵀ or mᵀ m), in float64: LAPACK's SVD of a
    tall (1536, 576) float64 matrix takes tens of seconds on a small CPU where this takes one.
    """
    out_f, in_f = m.shape
    if out_f <= in_f:
        lam, u = torch.linalg.eigh(m @ m.t())
        lam, u = lam.flip(0)[:rank], u.flip(1)[:, :rank]
        return u, lam.clamp_min(0.0).sqrt()
    lam, v = torch.linalg.eigh(m.t() @ m)
    lam, v = lam.flip(0)[:rank], v.flip(1)[:, :rank]
    s = lam.clamp_min(0.0).sqrt()
    return (m @ v) / s.clamp_min(torch.finfo(s.dtype).tiny), s


def lord_factors(weight: torch.Tensor, rank: int, *, xtx: torch.Tensor | None = None,
                 mode: str = "activation") -> tuple[torch.Tensor, torch.Tensor]:
    """The factors (A (out, r), B (r, in)) of ``weight`` (out, in), float64.

    ``xtx``: Σ = XᵀX (in, in) of the layer's calibration inputs, required for ``mode="activation"``.
    """
    w = weight.detach().to(torch.float64)
    if mode == "weight":
        u, s = top_left_singular(w, rank)
        root = s.sqrt()
        return u * root, (u.t() @ w) / root.clamp_min(torch.finfo(s.dtype).tiny)[:, None]
    if xtx is None:
        raise ValueError("mode='activation' needs xtx, the Gram matrix of the layer's calibration inputs")
    lam, q = torch.linalg.eigh(xtx.to(torch.float64))
    m = (w @ q) * lam.clamp_min(0.0).sqrt()  # W Σ^{1/2} up to the rotation q, which U does not see
    u = top_left_singular(m, rank)[0]
    return u, u.t() @ w


class LowRankLinear(nn.Module):
    """y = A(B x) + b: a Linear replaced by two dense, trainable factors (``B``: in -> r, ``A``: r -> out).

    Parameters: ``r * (in + out)`` (+ ``out`` for the bias) instead of ``in * out``. ``B`` and ``A``
    are ordinary ``nn.Linear`` modules, so LoRA/QLoRA and quantisers can target them.
    """

    def __init__(self, in_features: int, out_features: int, rank: int, *, bias: bool = False,
                 dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self.B = nn.Linear(in_features, rank, bias=False, dtype=dtype, device=device)
        self.A = nn.Linear(rank, out_features, bias=bias, dtype=dtype, device=device)

    @classmethod
    def from_factors(cls, a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None = None, *,
                     dtype: torch.dtype | None = None) -> LowRankLinear:
        """The layer holding A (out, r), B (r, in) and an optional bias (out,), cast to ``dtype``."""
        dtype = dtype or torch.get_default_dtype()
        layer = cls(b.shape[1], a.shape[0], a.shape[1], bias=bias is not None, dtype=dtype, device=a.device)
        with torch.no_grad():
            layer.A.weight.copy_(a)
            layer.B.weight.copy_(b)
            if bias is not None:
                layer.A.bias.copy_(bias)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.A(self.B(x))

    def to_dense(self) -> torch.Tensor:
        """The product A B (out, in): the dense weight this layer computes."""
        return self.A.weight @ self.B.weight

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}"
