"""``FlashLLMLinear``: an inference-only ``nn.Linear`` whose weight lives in Tiled-CSL (Flash-LLM, Section 5).

The paper replaces the weight GEMMs of a pruned LLM (the QKV, output and MLP projections) with
its SpMM; this module does the same for one ``torch.nn.Linear``: ``y = x @ W.T + b`` computed as
``(W @ x.T).T`` by :func:`~.spmm.flash_llm_spmm` with fp16 weights and fp32 accumulation. torch
is imported only when this module is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from sparsehub.errors import ShapeError, Shown, bad_value

from .spmm import BACKENDS, flash_llm_spmm
from .tiled_csl import TiledCSL

__all__ = ["FlashLLMLinear"]


class FlashLLMLinear(nn.Module):
    """A Linear layer with a Tiled-CSL weight; forward only (no autograd through the weight).

    Build it with :meth:`from_linear`. ``weight`` is the :class:`TiledCSL` (out, in), ``bias``
    a float32 buffer or None. Input (..., in) of any float dtype -> output (..., out) in the
    input's dtype, computed in fp32.
    """

    def __init__(self, weight: TiledCSL, bias: torch.Tensor | None = None, *, backend: str = "numba") -> None:
        super().__init__()
        if not isinstance(weight, TiledCSL):
            raise bad_value("weight", Shown(f"<{type(weight).__name__}>"), "a TiledCSL", TypeError)
        if backend not in BACKENDS:
            raise bad_value("backend", backend, f"one of {', '.join(BACKENDS)}")
        if bias is not None and tuple(bias.shape) != (weight.shape[0],):
            raise bad_value("bias.shape", tuple(bias.shape), f"({weight.shape[0]},)", ShapeError)
        self.weight = weight
        self.backend = backend
        self.out_features, self.in_features = weight.shape
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.float32).clone())

    @classmethod
    def from_linear(cls, linear: nn.Linear, mask: Any = None, *, tile_m: int = 128, tile_k: int = 64,
                    vector: int = 4, shuffle: bool = False, backend: str = "numba") -> FlashLLMLinear:
        """Compress a (pruned) ``nn.Linear``: its weight times ``mask`` (bool, weight's shape) if given.

        Zeros of the weight are not stored; weights are rounded to fp16 (NaN/Inf or beyond the fp16
        range are rejected). A :class:`sparsehub.Mask` is accepted as ``mask``.
        """
        if not isinstance(linear, nn.Linear):
            raise bad_value("linear", Shown(f"<{type(linear).__name__}>"), "a torch.nn.Linear", TypeError)
        w = linear.weight.detach().cpu().to(torch.float32).numpy()
        if mask is not None:
            m = np.asarray(getattr(mask, "array", mask.cpu().numpy() if isinstance(mask, torch.Tensor) else mask))
            if m.shape != w.shape:
                raise bad_value("mask.shape", m.shape, f"the weight's shape {w.shape}", ShapeError)
            if m.dtype != np.bool_ and not np.isin(m, (0, 1)).all():
                raise bad_value("mask", Shown("<array>"), "a boolean mask (or numbers that are all 0 or 1)")
            w = np.where(m.astype(bool), w, np.float32(0))
        weight = TiledCSL.from_dense(w, tile_m=tile_m, tile_k=tile_k, vector=vector, shuffle=shuffle)
        return cls(weight, linear.bias, backend=backend)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``y = x @ W.T + b`` through the Tiled-CSL SpMM; x (..., in) -> (..., out)."""
        if x.shape[-1] != self.in_features:
            raise bad_value("x.shape", tuple(x.shape), f"(..., {self.in_features})", ShapeError)
        if torch.is_grad_enabled() and x.requires_grad:
            raise bad_value("x", Shown("<tensor requiring grad>"),
                            "an input without requires_grad (FlashLLMLinear is inference-only; use torch.no_grad())")
        lead = tuple(x.shape[:-1])
        xt = x.detach().reshape(-1, self.in_features).to(torch.float32).cpu().numpy().T
        y = flash_llm_spmm(self.weight, xt, backend=self.backend).T
        out = torch.from_numpy(np.ascontiguousarray(y))
        if self.bias is not None:
            out = out + self.bias.cpu()
        return out.to(dtype=x.dtype, device=x.device).reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, nnz={self.weight.nnz}, nbytes={self.weight.nbytes}")
