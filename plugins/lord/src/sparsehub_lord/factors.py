"""LoRD's factorisation of one layer: W (out, in) ~ A B with A (out, r) and B (r, in).

Two modes (paper arXiv:2309.14021, section 3, and the brief's section 50):

* ``"activation"`` -- the output-PCA ("atomic feature mimicking") form: with the calibration
  inputs' Gram matrix Σ = XᵀX, the layer outputs' second moment is C = W Σ Wᵀ (out, out); its
  top-r eigenvectors U_r give A = U_r and B = U_rᵀ W, so A B x is the projection of W x on the
  r directions that carry most of the output energy. The outputs are never formed. When
  out <= in (down, o, k, v projections) C itself is small and is decomposed; when out > in (gate,
  up) its eigenvectors are the left singular vectors of M = W L for any root Σ = L Lᵀ, found
  through the (in, in) Gram matrix Mᵀ M, so no (out, out) eigh is ever needed.
* ``"weight"`` -- plain truncated SVD of W (Eckart-Young): A = U_r diag(√s), B = diag(√s) V_rᵀ,
  also through ``eigh`` of the smaller Gram matrix (:func:`top_left_singular`).

All arithmetic is float64 (float16/32 eigh on an ill-conditioned Σ is unstable); the factors are
cast back to the layer's dtype. A bias stays exact on A's side: y = A(Bx) + b.
"""

from __future__ import annotations

import torch
from torch import nn

from sparsehub.errors import ShapeError, bad_value

__all__ = ["LowRankLinear", "input_root", "lord_factors", "top_left_singular"]

MODES = ("activation", "weight")


def _eigh(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.linalg.eigh`` on one thread.

    LAPACK's tridiagonal reduction synchronises its threads at every column: on a busy 2-core
    machine a 576 x 576 float64 eigh took 0.1 s on one thread and 0.5-9 s on two. The previous
    thread count is restored.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.linalg.eigh(gram)
    finally:
        torch.set_num_threads(before)


def _top_eigh(gram: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``rank`` largest eigenvalues (clamped at 0) and eigenvectors of a symmetric PSD matrix."""
    lam, vec = _eigh(gram)
    return lam.flip(0)[:rank].clamp_min(0.0), vec.flip(1)[:, :rank]


def top_left_singular(m: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The top ``rank`` left singular vectors (out, r) and singular values (r,) of ``m`` (out, in).

    Through ``eigh`` of the smaller Gram matrix (m mᵀ or mᵀ m), in float64: LAPACK's SVD of a
    tall (1536, 576) float64 matrix takes tens of seconds on a small CPU where this takes one.
    """
    out_f, in_f = m.shape
    if out_f <= in_f:
        lam, u = _top_eigh(m @ m.t(), rank)
        return u, lam.sqrt()
    lam, v = _top_eigh(m.t() @ m, rank)
    s = lam.sqrt()
    return (m @ v) / s.clamp_min(torch.finfo(s.dtype).tiny), s


def input_root(xtx: torch.Tensor) -> torch.Tensor:
    """A root L (in, in) of Σ = XᵀX with L Lᵀ = Σ, float64.

    Cholesky when Σ is numerically positive definite (a fraction of the cost of an eigh), else
    Q Λ^{1/2} from its eigendecomposition (Σ is singular when the calibration has fewer tokens
    than input channels). Layers fed the same input (gate and up) can share one root.
    """
    sigma = xtx.to(torch.float64)
    root, info = torch.linalg.cholesky_ex(sigma)
    if int(info) == 0:
        return root
    lam, q = _eigh(sigma)
    return q * lam.clamp_min(0.0).sqrt()


def lord_factors(
    weight: torch.Tensor,
    rank: int,
    *,
    xtx: torch.Tensor | None = None,
    mode: str = "activation",
    root: torch.Tensor | None = None,
    output_gram: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The factors (A (out, r), B (r, in)) of ``weight`` (out, in), float64.

    ``mode="activation"`` needs either ``xtx``, Σ = XᵀX (in, in) of the layer's calibration inputs
    (``root``: optionally :func:`input_root` of it, already computed for a layer with the same
    input), or ``output_gram``, C = Σ y yᵀ (out, out) of its bias-free outputs measured directly.
    """
    if mode not in MODES:
        raise bad_value("mode", mode, f"one of {MODES}")
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
        raise bad_value(
            "weight", getattr(weight, "shape", type(weight).__name__), "a 2-D tensor (out, in)", ShapeError
        )
    out_f, in_f = weight.shape
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= min(out_f, in_f):
        raise bad_value(
            "rank", rank, f"an int in [1, {min(out_f, in_f)}] for a weight of shape {(out_f, in_f)}"
        )
    for name, gram, n in (("xtx", xtx, in_f), ("output_gram", output_gram, out_f), ("root", root, in_f)):
        if gram is not None and (not isinstance(gram, torch.Tensor) or tuple(gram.shape) != (n, n)):
            raise bad_value(f"{name}.shape", tuple(getattr(gram, "shape", ())), f"({n}, {n})", ShapeError)
    w = weight.detach().to(torch.float64)
    if mode == "weight":
        u, s = top_left_singular(w, rank)
        root_s = s.sqrt()
        return u * root_s, (u.t() @ w) / root_s.clamp_min(torch.finfo(s.dtype).tiny)[:, None]
    if (xtx is None) == (output_gram is None):
        raise ValueError(
            "mode='activation' needs exactly one of xtx (the Gram matrix of the layer's "
            "calibration inputs) or output_gram (that of its outputs)"
        )
    if output_gram is not None or out_f <= in_f:
        c = output_gram.to(torch.float64) if output_gram is not None else w @ xtx.to(torch.float64) @ w.t()
        u = _top_eigh((c + c.t()) / 2, rank)[1]  # C = W Σ Wᵀ (out, out)
    else:
        u = top_left_singular(w @ (input_root(xtx) if root is None else root), rank)[0]
    return u, u.t() @ w


class LowRankLinear(nn.Module):
    """y = A(B x) + b: a Linear replaced by two dense, trainable factors (``B``: in -> r, ``A``: r -> out).

    Parameters: ``r * (in + out)`` (+ ``out`` for the bias) instead of ``in * out``. ``B`` and ``A``
    are ordinary ``nn.Linear`` modules, so LoRA/QLoRA and quantisers can target them.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int,
        *,
        bias: bool = False,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self.B = nn.Linear(in_features, rank, bias=False, dtype=dtype, device=device)
        self.A = nn.Linear(rank, out_features, bias=bias, dtype=dtype, device=device)

    @classmethod
    def from_factors(
        cls,
        a: torch.Tensor,
        b: torch.Tensor,
        bias: torch.Tensor | None = None,
        *,
        dtype: torch.dtype | None = None,
    ) -> LowRankLinear:
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
