"""The sequential calibration runner: block by block, with streaming float64 input statistics.

This is how Wanda's and SparseGPT's reference code (and DSnoT's, LoRD's, SliceGPT's) see
calibration data: the inputs of block 0 are captured once, then for each block in turn

1. its Linears' inputs are summarised while the block runs on every calibration batch
   (:class:`InputStats`: token count, per-channel sums and squared norms, optionally X^T X, all
   float64 and streaming, so no activation is kept);
2. the caller changes the block (prunes, rotates, factorises);
3. the block runs again and its outputs, produced by the *already compressed* block, become the
   next block's inputs.

Memory is bounded by two copies of the hidden states of the calibration set (tokens x hidden,
float32) plus the statistics of one block. Every token of a batch counts, padding included (an
``attention_mask`` is passed to the model but does not weight the statistics), as in the
reference code, which calibrates on unpadded windows. :func:`check_calibration` validates calibration data
up front, so a public function can reject it before anything is changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from sparsehub.errors import ShapeError, bad_value
from sparsehub.nn.layout import ModelLayout, layout_of
from sparsehub.progress import progress

__all__ = [
    "BlockStep",
    "InputStats",
    "check_calibration",
    "collect_input_stats",
    "sequential_blocks",
]

_CALIBRATION = ("a non-empty iterable of token batches (torch.LongTensor of shape (batch, length)) "
                "or of dicts of model inputs holding 'input_ids'")


_BATCH = 8  # rows per forward pass when a single (n, length) tensor is given


class InputStats:
    """Streaming statistics of the inputs x (rows of X, one per token) of one layer, in float64.

    ``n``: tokens seen; ``sum``: Σ x (in,); ``sq``: Σ x² per channel (in,), i.e. ‖X_j‖₂² (Wanda's
    ``scaler_row`` up to a constant); ``xtx``: Σ x xᵀ (in, in) = XᵀX when asked for (SparseGPT's
    Hessian up to the factor 2/n). ``mean`` and ``var`` (population variance) follow.
    """

    def __init__(self, dim: int, *, xtx: bool = False) -> None:
        self.n = 0
        self.sum = torch.zeros(dim, dtype=torch.float64)
        self.sq = torch.zeros(dim, dtype=torch.float64)
        self.xtx = torch.zeros(dim, dim, dtype=torch.float64) if xtx else None

    def update(self, x: torch.Tensor) -> None:
        """Add the rows of ``x`` (..., in) (float64 accumulation)."""
        x = x.detach().reshape(-1, x.shape[-1]).to(torch.float64)
        self.n += x.shape[0]
        self.sum += x.sum(0)
        self.sq += (x * x).sum(0)
        if self.xtx is not None:
            self.xtx.addmm_(x.t(), x)

    @property
    def mean(self) -> torch.Tensor:
        """Per-channel mean of the inputs (in,)."""
        return self.sum / max(self.n, 1)

    @property
    def var(self) -> torch.Tensor:
        """Per-channel population variance of the inputs (in,), clamped at 0 against round-off."""
        return (self.sq / max(self.n, 1) - self.mean**2).clamp_min(0.0)

    @property
    def norm(self) -> torch.Tensor:
        """Per-channel L2 norm ‖X_j‖₂ over all tokens (in,): Wanda's activation factor."""
        return self.sq.sqrt()

    def __repr__(self) -> str:
        return f"InputStats(dim={self.sum.numel()}, n={self.n}, xtx={self.xtx is not None})"


def check_calibration(calibration: Any, *, vocab_size: int | None = None,
                      name: str = "calibration") -> list[dict[str, Any]]:
    """Materialise and validate calibration data; a list of model-input dicts.

    Accepts an iterable of LongTensor (batch, length) token batches or of dicts holding at least
    ``input_ids`` (a LongTensor (batch, length)) and possibly ``attention_mask``; a single 2-D
    LongTensor (e.g. from :func:`~sparsehub.nn.text.text_windows`) is split into batches of
    ``_BATCH`` rows. Raises ShapeError
    or ValueError naming ``name``, the offending item and what is allowed: an empty iterable, a
    1-D or 3-D tensor, a float tensor, token ids outside [0, vocab_size).
    """
    if isinstance(calibration, torch.Tensor) and calibration.ndim == 2 and calibration.dtype == torch.int64:
        calibration = list(calibration.split(_BATCH))
    if isinstance(calibration, torch.Tensor | str | bytes) or not isinstance(calibration, Iterable):
        raise bad_value(name, _short(calibration), _CALIBRATION)
    batches: list[dict[str, Any]] = []
    for i, item in enumerate(calibration):
        where = f"{name}[{i}]"
        if isinstance(item, Mapping):
            if "input_ids" not in item:
                raise bad_value(where, f"dict with keys {sorted(item)}", "a dict holding 'input_ids'")
            batch = dict(item)
            ids = batch["input_ids"]
            where += "['input_ids']"
        else:
            ids, batch = item, {"input_ids": item}
        if not isinstance(ids, torch.Tensor):
            raise bad_value(where, _short(ids), "a torch.LongTensor of shape (batch, length)")
        if ids.dtype not in (torch.int64, torch.int32):
            raise bad_value(f"{where}.dtype", ids.dtype, "torch.int64 token ids", ShapeError)
        if ids.ndim != 2 or ids.shape[0] == 0 or ids.shape[1] == 0:
            raise bad_value(f"{where}.shape", tuple(ids.shape), "(batch, length) with batch, length >= 1",
                            ShapeError)
        if vocab_size is not None and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
            raise bad_value(where, f"token ids in [{int(ids.min())}, {int(ids.max())}]",
                            f"token ids in [0, {vocab_size}) (the model's vocabulary)")
        batch["input_ids"] = ids.long()
        batches.append(batch)
    if not batches:
        raise bad_value(name, "an empty iterable", _CALIBRATION)
    return batches


def _short(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor(shape={tuple(value.shape)}, dtype={value.dtype})"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Captured(Exception):
    """Raised by the hook on block 0 to stop the forward pass once its inputs are caught."""


@dataclass
class BlockStep:
    """One block of a :func:`sequential_blocks` run.

    ``inputs[b]``: the hidden states entering the block for calibration batch ``b`` (produced by
    the already processed earlier blocks); ``kwargs[b]``: the other arguments the model passed to
    the block (attention mask, position embeddings, ...). A caller may replace ``inputs`` (e.g.
    SliceGPT rotates them); the block is re-run on them after the caller is done.
    """

    index: int
    name: str
    block: nn.Module
    linears: dict[str, nn.Module]
    inputs: list[torch.Tensor] = field(repr=False)
    kwargs: list[dict[str, Any]] = field(repr=False)

    def forward(self) -> list[torch.Tensor]:
        """The block's outputs on every calibration batch (no grad)."""
        outputs = []
        with torch.no_grad():
            for x, kw in zip(self.inputs, self.kwargs):
                out = self.block(x, **kw)
                outputs.append(out[0] if isinstance(out, tuple | list) else out)
        return outputs

    def stats(self, *, xtx: bool = False, names: Iterable[str] | None = None) -> dict[str, InputStats]:
        """Run the block on all batches and return name -> :class:`InputStats` of each Linear's input."""
        wanted = list(self.linears) if names is None else list(names)
        stats = {n: InputStats(_in_features(self.linears[n]), xtx=xtx) for n in wanted}
        hooks = [self.linears[n].register_forward_hook(_stats_hook(stats[n])) for n in wanted]
        try:
            self.forward()
        finally:
            for h in hooks:
                h.remove()
        return stats


def _in_features(layer: nn.Module) -> int:
    return int(layer.in_features) if isinstance(layer, nn.Linear) else int(layer.weight.shape[0])


def _stats_hook(stats: InputStats):
    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        stats.update(args[0])

    return hook


def _capture_block0(model: nn.Module, layout: ModelLayout, batches: list[dict[str, Any]]
                    ) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    inputs: list[torch.Tensor] = []
    kwargs: list[dict[str, Any]] = []

    def catch(module: nn.Module, args: tuple[Any, ...], kw: dict[str, Any]) -> None:
        hidden = args[0] if args else kw.pop("hidden_states")
        inputs.append(hidden.detach())
        extra = {k: v for k, v in kw.items() if k not in ("past_key_values", "past_key_value", "layer_past",
                                                           "use_cache", "output_attentions")}
        kwargs.append(extra)
        raise _Captured

    handle = layout.blocks[0].register_forward_pre_hook(catch, with_kwargs=True)
    try:
        with torch.no_grad():
            for batch in batches:
                try:
                    model(**batch, use_cache=False) if _accepts_cache(model) else model(**batch)
                except _Captured:
                    pass
    finally:
        handle.remove()
    return inputs, kwargs


def _accepts_cache(model: nn.Module) -> bool:
    return getattr(getattr(model, "config", None), "use_cache", None) is not None


def sequential_blocks(model: nn.Module, calibration: Any, *, layout: ModelLayout | None = None,
                      desc: str = "calibration") -> Iterator[BlockStep]:
    """Yield a :class:`BlockStep` per block, feeding each block the outputs of the processed ones.

    After the caller's loop body for block i returns, block i is run again (no grad) on
    ``step.inputs`` and its outputs become block i+1's inputs, so whatever the caller did to
    block i (pruning, ...) is seen downstream: the sequential scheme of Wanda and SparseGPT.
    The model is put in eval mode for the run and restored afterwards. A progress bar is drawn.
    """
    layout = layout or layout_of(model)
    batches = check_calibration(calibration, vocab_size=getattr(getattr(model, "config", None), "vocab_size", None))
    was_training = model.training
    model.eval()
    try:
        inputs, kwargs = _capture_block0(model, layout, batches)
        for index in progress(range(len(layout)), desc=desc):
            step = BlockStep(index, layout.block_name(index), layout.blocks[index], layout.linears(index),
                             inputs, kwargs)
            yield step
            inputs = step.forward()
            del step
    finally:
        model.train(was_training)


def collect_input_stats(model: nn.Module, calibration: Any, *, xtx: bool = False,
                        layout: ModelLayout | None = None) -> dict[str, InputStats]:
    """Input statistics of every block Linear, sequentially, without changing the model.

    The same numbers a pruner sees when it prunes nothing (block i's statistics come from the
    dense blocks before it). Returns module name -> :class:`InputStats`. With ``xtx=True`` the
    result holds every layer's XᵀX (about 1 GB for SmolLM2): a pruner should instead consume
    ``step.stats(xtx=True)`` block by block in :func:`sequential_blocks`, which keeps one block's.
    """
    out: dict[str, InputStats] = {}
    for step in sequential_blocks(model, calibration, layout=layout, desc="input statistics"):
        out.update(step.stats(xtx=xtx))
    return out
