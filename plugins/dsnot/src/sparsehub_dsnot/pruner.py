"""``prune``: DSnoT over a whole ``transformers`` LLM, block by block, in place.

The paper's pipeline (and ``prune_DSnoT`` of the official code): calibration inputs go through the
model block by block (:func:`sparsehub.nn.calibration.sequential_blocks`); for each block the
inputs of its Linears are summarised in float64 (per-sequence sum, within-sequence variance,
‖x_j‖₂, as the official ``WrappedGPT``; no activation kept),
each Linear gets its initial mask from the named baseline (Wanda by default, computed per output
row as DSnoT needs), :mod:`.refine` swaps weights row by row, the pruned weights are zeroed (no
other weight changes, no gradient), and the block's outputs feed the next block.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from sparsehub.errors import bad_value
from sparsehub.mask import NM, Mask, Pattern
from sparsehub.nn.calibration import InputStats, check_calibration, sequential_blocks
from sparsehub.nn.layout import weight_matrix
from sparsehub.nn.oneshot import check_fits, check_pattern, check_sparsity, mask_of, wanda_keep

from .refine import RefineResult, expected_error, refine_nm, refine_unstructured

__all__ = ["INITS", "prune", "refine_layer"]

INITS = ("wanda", "magnitude")
_OPTS = {
    "max_cycles": 50,
    "update_threshold": 0.1,
    "var_power": 1.0,
    "stop_on_sign_flip": None,
    "skip": (),
    "log": None,
}


def _check_opts(opts: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(opts) - set(_OPTS))
    if unknown:
        raise TypeError(f"prune() got unknown option(s) {unknown}; allowed: {sorted(_OPTS)}")
    out = {**_OPTS, **opts}
    cycles = out["max_cycles"]
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 0:
        raise bad_value("max_cycles", cycles, "an int >= 0 (0 keeps the initial mask)")
    for name in ("update_threshold", "var_power"):
        value = out[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= float(value) < float("inf")
        ):
            raise bad_value(name, value, "a finite float >= 0")
    if out["stop_on_sign_flip"] not in (None, True, False):
        raise bad_value(
            "stop_on_sign_flip", out["stop_on_sign_flip"], "None (the official default), True or False"
        )
    skip = out["skip"]
    if isinstance(skip, str):
        skip = (skip,)
    if not isinstance(skip, Iterable) or not all(isinstance(s, str) and s for s in skip):
        raise bad_value("skip", skip, "an iterable of module-name parts such as ('mlp',) or ()")
    out["skip"] = tuple(skip)
    if out["log"] is not None and not isinstance(out["log"], dict):
        raise bad_value("log", type(out["log"]).__name__, "None or a dict to fill with per-layer results")
    return out


def _skipped(name: str, skip: tuple[str, ...]) -> bool:
    parts = name.split(".")
    return any(s in parts for s in skip)


class _LayerInputs:
    """DSnoT's statistics of one Linear's inputs, accumulated in float64 as the official wrapper does.

    ``stats``: core's :class:`InputStats` (sums, squared norms); ``within_var``: Σ over sequences of
    the population variance of each channel *within* the sequence, so ``var`` is their mean over
    sequences (``WrappedGPT.var``: one sequence per batch in the official loop), not the variance
    pooled over all tokens, which would also count the spread of the sequences' means.
    """

    def __init__(self, dim: int) -> None:
        self.stats = InputStats(dim)
        self.within_var = torch.zeros(dim, dtype=torch.float64)
        self.sequences = 0

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().to(torch.float64)
        x = x.reshape(-1, x.shape[-2], x.shape[-1]) if x.ndim >= 2 else x.reshape(1, 1, -1)
        self.stats.update(x)
        self.within_var += x.var(dim=1, unbiased=False).sum(0)
        self.sequences += x.shape[0]

    @property
    def var(self) -> torch.Tensor:
        return self.within_var / max(self.sequences, 1)

    @property
    def per_sequence_sum(self) -> torch.Tensor:
        """E[x_j] in the official units: Σ over a sequence's tokens, averaged over sequences."""
        return self.stats.sum / max(self.sequences, 1)


def _block_inputs(step: Any) -> dict[str, _LayerInputs]:
    """Run the block once on every calibration batch and summarise each Linear's inputs."""
    out = {name: _LayerInputs(weight_matrix(layer).shape[1]) for name, layer in step.linears.items()}
    hooks = [
        layer.register_forward_hook(lambda _m, args, _o, s=out[name]: s.update(args[0]))
        for name, layer in step.linears.items()
    ]
    try:
        step.forward()
    finally:
        for h in hooks:
            h.remove()
    return out


def refine_layer(
    weight: torch.Tensor,
    inputs: _LayerInputs,
    sparsity: float,
    pattern: Pattern,
    init: str,
    *,
    refine: bool = True,
    **opts: Any,
) -> RefineResult:
    """Initial mask of one layer from ``init`` and, if ``refine``, DSnoT's refinement of it."""
    norm = inputs.stats.norm
    score_factor = norm if init == "wanda" else torch.ones_like(norm)
    keep = wanda_keep(weight, score_factor, sparsity, pattern)
    expected = inputs.per_sequence_sum
    if not refine or opts["max_cycles"] == 0:
        e = float(expected_error(weight, expected, keep).abs().mean())
        return RefineResult(keep, e, e, 0, 0)
    common = {
        "max_cycles": opts["max_cycles"],
        "update_threshold": float(opts["update_threshold"]),
        "var_power": float(opts["var_power"]),
    }
    if isinstance(pattern, NM):
        flip = True if opts["stop_on_sign_flip"] is None else opts["stop_on_sign_flip"]
        score = weight.detach().abs().to(torch.float64) * score_factor.to(torch.float64)[None, :]
        return refine_nm(
            weight, expected, inputs.var, score, keep, pattern.m, stop_on_sign_flip=flip, **common
        )
    flip = bool(opts["stop_on_sign_flip"])
    return refine_unstructured(weight, expected, inputs.var, norm, keep, stop_on_sign_flip=flip, **common)


def prune(
    model: nn.Module,
    sparsity: float | None,
    *,
    calibration: Any,
    init: str = "wanda",
    pattern: str | Pattern = "unstructured",
    **opts: Any,
) -> dict[str, Mask]:
    """DSnoT: prune every block Linear of ``model`` in place, training-free; ``{"<module>.weight": Mask}``.

    ``sparsity`` in [0, 1) (unstructured: exactly that share of each output row; None or 1 - n/m
    for N:M). ``calibration``: an iterable of LongTensor (batch, length) token batches or of dicts
    of model inputs. ``init``: the starting mask, ``"wanda"`` (|W_ij|·‖x_j‖₂) or ``"magnitude"``
    (|W_ij|), both per output row as in the official code. ``pattern``: ``"unstructured"`` or N:M.

    Options (defaults from the official code's ``main.py``): ``max_cycles=50``,
    ``update_threshold=0.1`` (on e_i in per-sequence-sum units), ``var_power=1.0`` (exponent of
    the variance in the growing criterion), ``stop_on_sign_flip=None`` (off for unstructured, as
    the official ``--without_same_sign`` flag is always true; on for N:M, as that branch always
    checks), ``skip=()`` (module-name parts left at the initial mask; the official script's
    default is ``("mlp",)``), ``log=None`` (a dict that receives a :class:`RefineResult` summary per
    layer). Every argument is checked before any weight changes.
    """
    pattern = check_pattern(pattern)
    sparsity = check_sparsity(sparsity, pattern)
    if init not in INITS:
        raise bad_value("init", init, f"one of {INITS}")
    opts = _check_opts(opts)
    layout, _ = check_fits(model, pattern)
    batches = check_calibration(
        calibration, vocab_size=getattr(getattr(model, "config", None), "vocab_size", None)
    )
    log = opts["log"]
    masks: dict[str, Mask] = {}
    label = f"{pattern.n}:{pattern.m}" if isinstance(pattern, NM) else f"{sparsity:.0%}"
    for step in sequential_blocks(model, batches, layout=layout, desc=f"dsnot {label} from {init}"):
        inputs = _block_inputs(step)
        for name, layer in step.linears.items():
            weight = weight_matrix(layer)
            result = refine_layer(
                weight, inputs[name], sparsity, pattern, init, refine=not _skipped(name, opts["skip"]), **opts
            )
            with torch.no_grad():
                weight.mul_(result.keep.to(weight.dtype))
            masks[f"{name}.weight"] = mask_of(layer, result.keep, pattern)
            if log is not None:
                log[name] = {
                    "error_before": result.error_before,
                    "error_after": result.error_after,
                    "cycles": result.cycles,
                    "swaps": result.swaps,
                }
    return masks
