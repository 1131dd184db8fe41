"""The rotation Q of SliceGPT §3.3: principal components of the residual stream on calibration data.

The paper computes one Q_ℓ per residual site and inserts shortcut matrices ``Q_ℓᵀ Q_ℓ₊₁`` on the
residual connections. A stock ``transformers`` model has no such matrices, so by default this
package uses one Q for the whole stream (as in the brief's small-scale study): the eigenvectors of
``H = Σ_sites Σ_tokens x xᵀ`` (float64), the summed covariance of the stream at every norm input,
damped by ``0.01 · mean(diag H)`` like the official ``pca_calc``, sorted by decreasing eigenvalue.
Keeping its first D' columns minimises the stream's total squared reconstruction error over all
sites at once. :func:`sequential_site_bases` gives the paper's per-site bases instead
(``basis="block"``).
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
def residual_covariance(
    model: nn.Module, layout: ModelLayout, batches: list[dict[str, Any]], *, per_site: bool = False
) -> torch.Tensor | list[torch.Tensor]:
    """``H = Σ x xᵀ`` (D, D), float64, over every token of every batch at every norm input.

    ``per_site=True``: one ``H_s`` per norm input instead (2 per block, then the final norm's), for
    the per-block bases. Runs the model's body (no LM head) once per batch with pre-hooks on the
    norms; nothing but the D x D accumulators is kept, so memory does not grow with the calibration set.
    """
    names = norm_names(layout)
    sites = [InputStats(layout.hidden_size, xtx=True) for _ in (names if per_site else names[:1])]

    def hook(index: int):
        return lambda m, args: sites[index if per_site else 0].update(args[0])

    hooks = [layout.module(n).register_forward_pre_hook(hook(i)) for i, n in enumerate(names)]
    body_name = layout.blocks_name.rpartition(".")[0]
    body = layout.model.get_submodule(body_name) if body_name else layout.model
    try:
        for index in progress(range(len(batches)), desc="SliceGPT PCA"):
            body(**batches[index], use_cache=False)
    finally:
        for h in hooks:
            h.remove()
    covariances = [stats.xtx for stats in sites]
    assert all(h is not None for h in covariances)
    return covariances if per_site else covariances[0]


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


class _Projector:
    """Hooks that replace a sub-block's residual update ``z + out`` by ``(z + out) P`` (P = Q Qᵀ, or none)."""

    def __init__(self) -> None:
        self.p: torch.Tensor | None = None
        self._z: torch.Tensor | None = None

    def capture(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self._z = args[0]

    def project(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        z, self._z = self._z, None
        if self.p is None or z is None:
            return output
        out = output[0] if isinstance(output, tuple) else output
        new = ((z + out).to(self.p.dtype) @ self.p).to(out.dtype) - z
        return (new, *output[1:]) if isinstance(output, tuple) else new


@torch.no_grad()
def sequential_site_bases(
    model: nn.Module, layout: ModelLayout, batches: list[dict[str, Any]], width: int, *, rotation: str = "pca"
) -> list[torch.Tensor]:
    """Per-site bases (D, D') computed as the official ``rotate_and_slice_sequential`` does.

    Each site's PCA sees the signals of the model whose earlier sites are already sliced: the
    D-wide folded model runs with the stream at every processed site projected onto the kept
    subspace (``P = Q Qᵀ``), which is what the sliced model computes expressed in the original
    coordinates. Sites: the input of block 0's attention norm, then per block its MLP norm's
    input and its output (the next block's input; after the last block, the final norm's).
    Llama layout (``self_attn``/``mlp`` sub-blocks); three passes per block.
    """
    from sparsehub.nn.calibration import sequential_blocks

    def basis(tensors: list[torch.Tensor]) -> torch.Tensor:
        stats = InputStats(layout.hidden_size, xtx=True)
        for t in tensors:
            stats.update(t)
        assert stats.xtx is not None
        return principal_basis(stats.xtx, rotation=rotation)[:, :width]

    bases: list[torch.Tensor] = []
    hooks: list[Any] = []
    try:
        for step in sequential_blocks(model, batches, layout=layout, desc="SliceGPT per-block PCA"):
            for h in hooks:  # the runner has re-run the previous block with its projections by now
                h.remove()
            if step.index == 0:
                bases.append(basis(step.inputs))
                p = bases[0] @ bases[0].t()
                step.inputs = [(x.to(p.dtype) @ p).to(x.dtype) for x in step.inputs]
            hooks = _slice_block_sites(step, bases, basis)
    finally:
        for h in hooks:
            h.remove()
    return bases


def _slice_block_sites(step: Any, bases: list[torch.Tensor], basis: Any) -> list[Any]:
    """Append the bases of one block's two output sites; its projection hooks stay on for the re-run."""
    block = step.block
    attn, mlp = _Projector(), _Projector()
    hooks = [
        block.input_layernorm.register_forward_pre_hook(attn.capture),
        block.self_attn.register_forward_hook(attn.project),
        block.post_attention_layernorm.register_forward_pre_hook(mlp.capture),
        block.mlp.register_forward_hook(mlp.project),
    ]
    seen: list[torch.Tensor] = []
    grab = block.post_attention_layernorm.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    try:
        step.forward()  # MLP-norm inputs: z_a + attn(z_a), not yet projected
    except BaseException:
        for h in hooks:
            h.remove()
        raise
    finally:
        grab.remove()
    bases.append(basis(seen))
    attn.p = bases[-1] @ bases[-1].t()
    bases.append(basis(step.forward()))  # block outputs, with the attention site already sliced
    mlp.p = bases[-1] @ bases[-1].t()
    return hooks
