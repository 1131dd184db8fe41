"""Reconstruction metrics of an SAE: MSE, normalised MSE, fraction of variance explained, L0, dead.

NMSE = Σ‖x − x̂‖² / Σ‖x − x̄‖² (x̄ the mean activation of the evaluated set) and
FVE = 1 − NMSE. They depend on the eval batch size only through batch-dependent selections
(Mutual / Feature Choice in train mode), so :func:`evaluate` records it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch

__all__ = ["Metrics", "evaluate", "reconstruction_metrics"]


@dataclass
class Metrics:
    """Metrics over an evaluation set; ``mse`` is per element, ``l0`` the mean active latents per token."""

    mse: float
    nmse: float
    fve: float
    l0: float
    dead: int
    n_tokens: int
    batch_size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reconstruction_metrics(x: torch.Tensor, recon: torch.Tensor, codes: torch.Tensor) -> Metrics:
    """Metrics of one batch: x, x̂ [N, d_in] and codes [N, d_sae]."""
    return _Accumulator(codes.shape[-1]).add(x, recon, codes).result(x.shape[0])


class _Accumulator:
    """Streaming sums (float64) so evaluation never holds more than one batch."""

    def __init__(self, d_sae: int):
        self.sq_err = 0.0
        self.sum_x: torch.Tensor | None = None
        self.sum_x2 = 0.0
        self.n = 0
        self.active = 0
        self.fired = torch.zeros(d_sae, dtype=torch.bool)

    def add(self, x: torch.Tensor, recon: torch.Tensor, codes: torch.Tensor) -> _Accumulator:
        x64 = x.detach().reshape(-1, x.shape[-1]).double()
        self.sq_err += float((recon.detach().reshape(x64.shape).double() - x64).pow(2).sum())
        s = x64.sum(0)
        self.sum_x = s if self.sum_x is None else self.sum_x + s
        self.sum_x2 += float(x64.pow(2).sum())
        self.n += x64.shape[0]
        nz = codes.detach().reshape(-1, codes.shape[-1]) != 0
        self.active += int(nz.sum())
        self.fired |= nz.any(0).cpu()
        return self

    def result(self, batch_size: int) -> Metrics:
        assert self.sum_x is not None and self.n > 0
        total_var = self.sum_x2 - float(self.sum_x.pow(2).sum()) / self.n
        nmse = self.sq_err / total_var if total_var > 0 else float("nan")
        d_in = self.sum_x.numel()
        return Metrics(
            mse=self.sq_err / (self.n * d_in), nmse=nmse, fve=1.0 - nmse, l0=self.active / self.n,
            dead=int((~self.fired).sum()), n_tokens=self.n, batch_size=batch_size,
        )


@torch.no_grad()
def evaluate(sae: Any, batches: Iterable[torch.Tensor]) -> Metrics:
    """Stream ``batches`` [B, d_in] through ``sae.encode`` / ``sae.decode`` and aggregate metrics.

    ``sae`` is any object with ``encode``, ``decode`` and ``W_dec`` (ours or SAELens's); its
    train/eval mode is left as the caller set it. ``dead`` counts latents that never fired on
    the whole evaluation set.
    """
    acc: _Accumulator | None = None
    batch_size = 0
    for x in batches:
        codes = sae.encode(x)
        recon = sae.decode(codes)
        if acc is None:
            acc, batch_size = _Accumulator(codes.shape[-1]), x.shape[0]
        acc.add(x, recon, codes)
    if acc is None:
        from ..errors import bad_value

        raise bad_value("batches", "<empty>", "at least one batch")
    return acc.result(batch_size)
