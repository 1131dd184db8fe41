"""The rotation Q of SliceGPT §3.3: principal components of the residual stream on calibration data.

The paper computes one Q_ℓ per residual site and inserts shortcut matrices ``Q_ℓᵀ Q_ℓ₊₁`` on the
residual connections. A stock ``transformers`` model has no such matrices, so this package uses
one Q for the whole stream (as in the brief's small-scale study): the eigenvectors of
``H = Σ_sites Σ_tokens x xᵀ`` (float64), the summed covariance of the stream at every norm input,
damped by ``0.01 · mean(diag H)`` like the official ``pca_calc``, sorted by decreasing eigenvalue.
Keeping its first D' columns minimises the stream's total squared reconstruction error over all
sites at once.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sparsehub.nn.calibration import InputStats
from sparsehub.nn.layout import ModelLayout
from sparsehub.progress import progress

from .invariance import norm_names

__all__ = ["principal_basis", "residual_covariance"]

DAMPING = 0.01  # official pca_calc: H += 0.01 * mean(diag(H)) * I


@torch.no_grad()
def residual_covariance(model: nn.Module, layout: ModelLayout, batches: list[dict[str, Any]]) -> torch.Tensor:
    """``H = Σ x xᵀ`` (D, D), float64, over every token of every batch at every norm input.

    Runs the model's body (no LM head) once per batch with pre-hooks on the norms; nothing but
    the D x D accumulator is kept, so memory does not grow with the calibration set.
    """
    stats = InputStats(layout.hidden_size, xtx=True)
    hooks = [layout.module(n).register_forward_pre_hook(lambda m, args: stats.update(args[0]))
             for n in norm_names(layout)]
    body_name = layout.blocks_name.rpartition(".")[0]
    body = layout.model.get_submodule(body_name) if body_name else layout.model
    try:
        for index in progress(range(len(batches)), desc="SliceGPT PCA"):
            body(**batches[index], use_cache=False)
    finally:
        for h in hooks:
            h.remove()
    assert stats.xtx is not None
    return stats.xtx


def principal_basis(h: torch.Tensor, *, rotation: str = "pca") -> torch.Tensor:
    """An orthogonal (D, D) float64 matrix whose leading columns span what to keep.

    ``rotation="pca"``: eigenvectors of the damped ``H`` by decreasing eigenvalue (the paper).
    ``rotation="none"``: a permutation that keeps the coordinates of largest calibration energy
    ``diag(H)`` as they are, the same deletion without a rotation (the ablation baseline).
    """
    if rotation == "none":
        order = torch.argsort(torch.diagonal(h), descending=True, stable=True)
        return torch.eye(h.shape[0], dtype=torch.float64)[:, order]
    damped = h + DAMPING * torch.diagonal(h).mean() * torch.eye(h.shape[0], dtype=torch.float64)
    values, vectors = torch.linalg.eigh(damped)
    order = torch.argsort(values, descending=True, stable=True)
    return vectors[:, order]
