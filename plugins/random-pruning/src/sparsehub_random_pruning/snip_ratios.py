"""Layer densities borrowed from SNIP: how much of each layer one global SNIP top-k would keep.

Paper 19, section 4.1 ("SNIP ratio"): the layer-wise ratios of SNIP (Lee et al., 2019) are kept,
the positions inside each layer are then drawn at random, which tests whether the ratio alone
carries SNIP's benefit. SNIP's connection sensitivity is s = |w * dL/dw| on one batch; the
global selection keeps the round(D * N) largest scores over all pruned tensors together
(:meth:`sparsehub.mask.Mask.from_scores`, exact, ties by index).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from sparsehub.errors import ShapeError, bad_value
from sparsehub.mask import Mask

__all__ = ["snip_densities"]


def _batch(data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(data, (tuple, list)) or len(data) < 2:
        raise bad_value(
            "data",
            type(data).__name__,
            "(X, y): one batch of inputs and targets, needed by distribution='snip'",
        )
    X, y = data[0], data[1]
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise bad_value("data", f"<({type(X).__name__}, {type(y).__name__})>", "two torch tensors (X, y)")
    if X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise bad_value(
            "data",
            f"<X with {X.shape[0]} rows, y with {y.shape[0]}>",
            "as many targets as rows (> 0)",
            ShapeError,
        )
    return X, y


def snip_densities(
    model: nn.Module,
    params: Mapping[str, nn.Parameter],
    data: Any,
    density: float,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """Per-layer densities of the global SNIP mask at overall ``density``: name -> kept fraction.

    s_l = |w_l * dL/dw_l| with L = ``loss_fn(model(X), y)`` (default cross-entropy) on ``data``
    = (X, y). The model's weights, gradients, buffers (BatchNorm running statistics) and
    train/eval flags are left as they were. ``params``: name -> the parameters to score.
    """
    X, y = _batch(data)
    if loss_fn is None:
        loss_fn = nn.functional.cross_entropy
    elif not callable(loss_fn):
        raise bad_value("loss_fn", type(loss_fn).__name__, "None or a callable (output, target) -> loss")
    names = list(params)
    saved = {name: b.detach().clone() for name, b in model.named_buffers()}
    try:
        with torch.enable_grad():
            loss = loss_fn(model(X), y)
            grads = torch.autograd.grad(loss, [params[n] for n in names], allow_unused=True)
    finally:
        with torch.no_grad():  # a training-mode forward moved the BatchNorm statistics: put them back
            for name, b in model.named_buffers():
                if name in saved:
                    b.copy_(saved[name])
    scores = {
        name: (p.detach() * g).abs() if g is not None else torch.zeros_like(p.detach())
        for name, p, g in zip(names, (params[n] for n in names), grads)
    }
    sparsity = float(1 - Fraction(repr(float(density))))  # 1 - 0.7 as 0.3, not 0.30000000000000004
    kept = Mask.from_scores({n: s.cpu() for n, s in scores.items()}, sparsity=sparsity, scope="global")
    return {name: kept[name].density for name in names}
