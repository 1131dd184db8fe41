"""One-shot pruning baselines for ``transformers`` LLMs: magnitude, Wanda and SparseGPT.

Each function prunes every reader and writer Linear of every block (q, k, v, o, gate, up, down
or the family's equivalents; never the embeddings or the LM head, as the reference code does)
**in place** and returns ``{"<module>.weight": Mask}`` in the parameter's own shape, unstructured
or N:M ("2:4": n kept of every m consecutive weights along the input dimension). Every argument is
checked before any weight changes.

* :func:`magnitude` -- keep the largest |W_ij| per layer (layer-wise threshold, Wanda's baseline).
* :func:`wanda` -- Sun et al. 2023, "A Simple and Effective Pruning Approach for LLMs": score
  S_ij = |W_ij| · ‖X_j‖₂, compared within each output row (unstructured) or within each group of
  m inputs (N:M); no weight update.
* :func:`sparsegpt` -- Frantar & Alistarh 2023: optimal-brain-surgeon updates with the upper
  Cholesky factor of the damped inverse Hessian H = XᵀX + λI (λ = percdamp · mean diag H),
  columns processed in blocks of 128 with lazy batch updates; inside each block the mask is chosen
  adaptively from w² / [H⁻¹]_jj² (unstructured: the lowest fraction of the block; N:M: the m - n
  lowest of each group of m when the loop reaches it).

Wanda and SparseGPT run sequentially (:func:`~sparsehub.nn.calibration.sequential_blocks`): the
statistics of block i come from calibration inputs that went through the already pruned blocks
0..i-1, as in their reference code (``locuslab/wanda`` ``lib/prune.py``,
``IST-DASLab/sparsegpt`` ``sparsegpt.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sparsehub.errors import PatternError, bad_value
from sparsehub.mask import NM, Mask, Pattern, Unstructured, pruned_count
from sparsehub.nn.calibration import check_calibration, sequential_blocks
from sparsehub.nn.layout import ModelLayout, layout_of, weight_matrix

__all__ = [
    "check_fits", "check_pattern", "check_sparsity", "magnitude", "mask_of", "sparsegpt", "sparsegpt_layer",
    "wanda", "wanda_keep",
]

_PATTERNS = "'unstructured' or 'N:M' (e.g. '2:4', n kept of every m inputs)"


# --------------------------------------------------------------------------------------------------
# Argument checks (all before anything changes)


def check_pattern(pattern: Any) -> Pattern:
    """``pattern`` as a Pattern a one-shot pruner takes (unstructured, or N:M along the input dimension)."""
    try:
        parsed = Pattern.parse(pattern)
    except (PatternError, ValueError, TypeError):
        raise bad_value("pattern", pattern, _PATTERNS, PatternError) from None
    if isinstance(parsed, Unstructured):
        return parsed
    if isinstance(parsed, NM) and parsed.axis in (-1, 1):
        return NM(parsed.n, parsed.m)
    raise bad_value("pattern", pattern, _PATTERNS, PatternError)


def check_sparsity(sparsity: Any, pattern: Pattern) -> float:
    """``sparsity`` as a float in [0, 1); for N:M, None or exactly 1 - n/m (what the pattern implies)."""
    if isinstance(pattern, NM):
        implied = pattern.implied_sparsity
        if sparsity is None or (isinstance(sparsity, int | float) and not isinstance(sparsity, bool)
                                and abs(float(sparsity) - implied) < 1e-9):
            return implied
        raise bad_value("sparsity", sparsity, f"None or {implied} (what pattern={pattern.n}:{pattern.m} implies)")
    if isinstance(sparsity, bool) or not isinstance(sparsity, int | float) or not 0.0 <= float(sparsity) < 1.0:
        raise bad_value("sparsity", sparsity, "a float in [0, 1)")
    return float(sparsity)


def check_fits(model: nn.Module, pattern: Pattern) -> tuple[ModelLayout, dict[str, nn.Module]]:
    """The layout and every block Linear; PatternError naming the module if N:M does not fit it."""
    layout = layout_of(model)
    layers = dict(layout.all_linears())
    if isinstance(pattern, NM):
        for name, layer in layers.items():
            fan_in = weight_matrix(layer).shape[1]
            if fan_in % pattern.m:
                raise PatternError(f"pattern={pattern.n}:{pattern.m} does not fit module {name!r}: its input "
                                   f"dimension {fan_in} is not a multiple of m={pattern.m}")
    return layout, layers


def _prepare(model: nn.Module, sparsity: Any, pattern: Any, calibration: Any = None, *, calibrated: bool = True):
    pattern = check_pattern(pattern)
    sparsity = check_sparsity(sparsity, pattern)
    layout, layers = check_fits(model, pattern)
    batches = None
    if calibrated:
        vocab = getattr(getattr(model, "config", None), "vocab_size", None)
        batches = check_calibration(calibration, vocab_size=vocab)
    return pattern, sparsity, layout, layers, batches


def mask_of(layer: nn.Module, keep: torch.Tensor, pattern: Pattern) -> Mask:
    """A core Mask in the parameter's own shape (Conv1D stores (in, out): transpose, N:M on axis 0)."""
    keep = keep.cpu()
    if isinstance(layer, nn.Linear):
        return Mask(keep.numpy(), pattern)
    axis_pattern = NM(pattern.n, pattern.m, axis=0) if isinstance(pattern, NM) else pattern
    return Mask(keep.t().contiguous().numpy(), axis_pattern)


def _apply(layer: nn.Module, keep: torch.Tensor) -> None:
    with torch.no_grad():
        weight_matrix(layer).mul_(keep.to(layer.weight.dtype))


# --------------------------------------------------------------------------------------------------
# Magnitude


def magnitude(model: nn.Module, sparsity: float | None, *, pattern: str | Pattern = "unstructured"
              ) -> dict[str, Mask]:
    """Prune every block Linear to ``sparsity`` by |W| (per layer) in place; name -> Mask.

    Unstructured: exactly ``pruned_count(numel, sparsity)`` weights per layer, ties to the lower
    index (:meth:`Mask.from_scores`). N:M: the n largest of each group of m inputs; ``sparsity``
    must then be None or 1 - n/m.
    """
    pattern, sparsity, _, layers, _ = _prepare(model, sparsity, pattern, calibrated=False)
    masks: dict[str, Mask] = {}
    for name, layer in layers.items():
        scores = weight_matrix(layer).detach().abs()
        keep = torch.from_numpy(Mask.from_scores(scores, sparsity=sparsity, pattern=pattern).array.copy())
        _apply(layer, keep)
        masks[f"{name}.weight"] = mask_of(layer, keep, pattern)
    return masks


# --------------------------------------------------------------------------------------------------
# Wanda


def wanda_keep(weight: torch.Tensor, norm: torch.Tensor, sparsity: float, pattern: Pattern) -> torch.Tensor:
    """Wanda's keep mask (out, in) for one layer: S_ij = |W_ij| · ‖X_j‖₂ (paper Eq. 1).

    Unstructured: in each output row, the ``pruned_count(in, sparsity)`` lowest scores are pruned
    (the paper's per-output comparison group); N:M: the n highest of each group of m consecutive
    inputs are kept. Ties keep the lower input index.
    """
    score = weight.detach().abs().to(torch.float64) * norm.to(torch.float64)[None, :]
    out_f, in_f = score.shape
    if isinstance(pattern, NM):
        groups = score.reshape(out_f, in_f // pattern.m, pattern.m)
        best = torch.argsort(groups, dim=-1, descending=True, stable=True)[..., : pattern.n]
        keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, best, True)
        return keep.reshape(out_f, in_f)
    n_keep = in_f - pruned_count(in_f, sparsity)
    best = torch.argsort(score, dim=1, descending=True, stable=True)[:, :n_keep]
    return torch.zeros_like(score, dtype=torch.bool).scatter_(1, best, True)


def wanda(model: nn.Module, sparsity: float | None, *, calibration: Any,
          pattern: str | Pattern = "unstructured") -> dict[str, Mask]:
    """Wanda: prune every block Linear in place by |W_ij| · ‖X_j‖₂, block by block; name -> Mask.

    ``calibration``: an iterable of LongTensor (batch, length) token batches or of dicts of model
    inputs. ‖X_j‖₂ is accumulated in float64 over all calibration tokens reaching the layer through
    the already pruned blocks (Wanda's sequential reference code).
    """
    pattern, sparsity, layout, _, batches = _prepare(model, sparsity, pattern, calibration)
    masks: dict[str, Mask] = {}
    for step in sequential_blocks(model, batches, layout=layout, desc=f"wanda {_label(sparsity, pattern)}"):
        stats = step.stats()
        for name, layer in step.linears.items():
            keep = wanda_keep(weight_matrix(layer), stats[name].norm, sparsity, pattern)
            _apply(layer, keep)
            masks[f"{name}.weight"] = mask_of(layer, keep, pattern)
    return masks


def _label(sparsity: float, pattern: Pattern) -> str:
    return f"{pattern.n}:{pattern.m}" if isinstance(pattern, NM) else f"{sparsity:.0%}"


# --------------------------------------------------------------------------------------------------
# SparseGPT


_SUB = 16  # columns per inner sub-block of the SparseGPT loop


def _unstructured_sub_block(w1: torch.Tensor, err1: torch.Tensor, hinv1: torch.Tensor, scale: torch.Tensor,
                            s1: int, s2: int) -> None:
    """Columns s1..s2 of the OBS loop in one batched triangular solve (rows of ``w1`` are columns of W).

    With a fixed mask, the column loop's errors satisfy, for every output r,
    e_i = s_i (w_i - Σ_{j<i} U_ji e_j) with s_i = [pruned] / U_ii: a unit lower-triangular system
    (I + diag(s) U_strictᵀ) e = s ∘ w per output, identical to running the loop column by column.
    """
    u = hinv1[s1:s2, s1:s2]
    s = scale[s1:s2].t()  # (out, b)
    lower = torch.tril(u.t(), diagonal=-1)
    system = torch.eye(s2 - s1, dtype=w1.dtype) + s[:, :, None] * lower[None]
    rhs = (s * w1[s1:s2].t()).unsqueeze(-1)
    err = torch.linalg.solve_triangular(system, rhs, upper=False, unitriangular=True).squeeze(-1)
    err1[s1:s2] = err.t()
    w1[s1:s2].addmm_(u.t(), err1[s1:s2], alpha=-1.0)


def sparsegpt_layer(weight: torch.Tensor, xtx: torch.Tensor, sparsity: float, pattern: Pattern, *,
                    blocksize: int = 128, percdamp: float = 0.01) -> torch.Tensor:
    """SparseGPT on one layer: prune ``weight`` (out, in) in place with OBS updates; the keep mask.

    ``xtx`` = XᵀX (in, in) of the layer's calibration inputs (float64). Algorithm 1 of the paper:
    H = XᵀX + percdamp · mean(diag) · I (dead inputs with H_jj = 0 get H_jj = 1 and zero weights);
    U = chol(H⁻¹)ᵀ (upper); columns in blocks of ``blocksize``: the block's mask from
    w² / U_jj² (unstructured: the ``pruned_count(out*blocksize, sparsity)`` lowest of the block;
    N:M: the m - n lowest of each group when the loop reaches it), then column by column
    err = (w - q) / U_jj and the block's remaining columns take -err·U_j,j:; after the block the
    later columns take the lazy batch update -Err · U_block,rest. The Cholesky runs in float64,
    the column loop in float32 as in the reference code.
    """
    out_f, in_f = weight.shape
    # work on Wᵀ (in, out) so that a column of W is a contiguous row: the loop is Python-bound
    wt = weight.detach().to(torch.float32).t().contiguous()
    h = xtx.detach().to(torch.float64).clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    wt[dead, :] = 0.0
    h.diagonal().add_(percdamp * torch.mean(torch.diag(h)))
    # H⁻¹ = L⁻ᵀ L⁻¹ from H = L Lᵀ (torch.cholesky_inverse is 50x slower on CPU at in = 1536)
    l_inv = torch.linalg.solve_triangular(torch.linalg.cholesky(h), torch.eye(in_f, dtype=torch.float64), upper=False)
    hinv = torch.linalg.cholesky(l_inv.t() @ l_inv, upper=True).to(torch.float32)
    pruned_all = torch.zeros(in_f, out_f, dtype=torch.bool)
    nm = pattern if isinstance(pattern, NM) else None
    sub = _SUB if nm is None else max(nm.m, _SUB // nm.m * nm.m)  # N:M groups never straddle sub-blocks
    for i1 in range(0, in_f, blocksize):
        i2 = min(i1 + blocksize, in_f)
        count = i2 - i1
        w1 = wt[i1:i2]  # a view: updated in place
        err1 = torch.zeros_like(w1)
        hinv1 = hinv[i1:i2, i1:i2]
        d1 = torch.diag(hinv1)
        pruned = pruned_all[i1:i2]
        if nm is None:
            k = pruned_count(out_f * count, sparsity)
            if k:
                tmp = (w1**2 / d1[:, None] ** 2).reshape(-1)
                pruned.view(-1)[torch.argsort(tmp, stable=True)[:k]] = True
        # err_i = (w_i - q_i) / U_ii with q_i = w_i on kept and 0 on pruned weights
        scale = pruned.to(torch.float32) / d1[:, None]
        # the block's columns in sub-blocks: updates inside a sub-block are immediate, the rest of
        # the block gets them as one matmul (the same lazy-update identity, one level down)
        for s1 in range(0, count, sub):
            s2 = min(s1 + sub, count)
            if nm is None:  # the mask is fixed: solve the sub-block's recursion for all rows at once
                _unstructured_sub_block(w1, err1, hinv1, scale, s1, s2)
            for i in range(s1, s2) if nm is not None else ():
                if nm is not None and i % nm.m == 0:
                    tmp = w1[i : i + nm.m] ** 2 / d1[i : i + nm.m, None] ** 2
                    lowest = torch.argsort(tmp, dim=0, stable=True)[: nm.m - nm.n]
                    pruned[i : i + nm.m].scatter_(0, lowest, True)
                    scale[i : i + nm.m] = pruned[i : i + nm.m].to(torch.float32) / d1[i : i + nm.m, None]
                torch.mul(w1[i], scale[i], out=err1[i])
                w1[i:s2].addr_(hinv1[i, i:s2], err1[i], alpha=-1.0)
            if s2 < count:
                w1[s2:].addmm_(hinv1[s1:s2, s2:].t(), err1[s1:s2], alpha=-1.0)
        w1.masked_fill_(pruned, 0.0)  # the update left pruned weights at round-off level, not 0
        if i2 < in_f:
            wt[i2:].addmm_(hinv[i1:i2, i2:].t(), err1, alpha=-1.0)
    keep_all = ~pruned_all.t()
    w_all = wt.t()
    with torch.no_grad():
        weight.copy_(w_all.to(weight.dtype))
    return keep_all


def sparsegpt(model: nn.Module, sparsity: float | None, *, calibration: Any,
              pattern: str | Pattern = "unstructured", blocksize: int = 128, percdamp: float = 0.01
              ) -> dict[str, Mask]:
    """SparseGPT: prune and update every block Linear in place, block by block; name -> Mask.

    ``calibration`` as for :func:`wanda`; XᵀX is accumulated in float64 per layer over the inputs
    that went through the already pruned blocks. ``blocksize`` (128) is the lazy-update block;
    ``percdamp`` (0.01) the damping relative to the mean diagonal of H. For N:M, ``blocksize``
    must be a multiple of m.
    """
    pattern, sparsity, layout, _, batches = _prepare(model, sparsity, pattern, calibration)
    if isinstance(blocksize, bool) or not isinstance(blocksize, int) or blocksize < 1 or (
            isinstance(pattern, NM) and blocksize % pattern.m):
        raise bad_value("blocksize", blocksize, "a positive int (a multiple of m for N:M)")
    if isinstance(percdamp, bool) or not isinstance(percdamp, int | float) or not 0 < percdamp < 1:
        raise bad_value("percdamp", percdamp, "a float in (0, 1)")
    masks: dict[str, Mask] = {}
    for step in sequential_blocks(model, batches, layout=layout, desc=f"sparsegpt {_label(sparsity, pattern)}"):
        stats = step.stats(xtx=True)
        for name, layer in step.linears.items():
            keep = sparsegpt_layer(weight_matrix(layer), stats[name].xtx, sparsity, pattern,
                                   blocksize=blocksize, percdamp=float(percdamp))
            masks[f"{name}.weight"] = mask_of(layer, keep, pattern)
            stats[name] = None  # free XᵀX as soon as the layer is done
    return masks
