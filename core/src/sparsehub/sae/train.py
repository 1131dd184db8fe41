"""A streaming SAE trainer: Adam over an iterator of activation batches, one batch in memory at a time.

Each step: loss = ``sae.training_loss(x, tracker)`` (MSE + the SAE's auxiliary term, which sees
the dead mask as it stood *before* the step, as in SAELens), backward, projection of the decoder
gradient orthogonal to the unit rows, optional gradient-norm clipping (SAELens clips at 1.0),
Adam step, renormalisation of the decoder rows, then the firing tracker records the codes.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import bad_value
from ..progress import progress as _progress
from .tracking import FiringTracker

__all__ = ["TrainResult", "Trainer", "train_sae"]


@dataclass
class TrainResult:
    """What a run produced: the trained ``sae`` (same object), its ``tracker`` and the loss history."""

    sae: Any
    tracker: FiringTracker
    history: dict[str, list[float]] = field(default_factory=dict)
    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")


class Trainer:
    """One optimiser step at a time: ``Trainer(sae, lr=...).step(x) -> (loss, parts, codes)``.

    Holds the Adam state and the :class:`FiringTracker`; :func:`train_sae` loops over it, and a
    caller that interleaves training with something else (a benchmark, a model forward pass)
    drives it directly.
    """

    def __init__(self, sae: Any, *, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 clip_grad_norm: float | None = None, tracker: FiringTracker | None = None):
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise bad_value("lr", lr, "a finite float > 0")
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise bad_value("clip_grad_norm", clip_grad_norm, "None or a float > 0")
        self.sae, self.clip_grad_norm = sae, clip_grad_norm
        self.tracker = tracker or FiringTracker(sae.d_sae)
        self.optimizer = torch.optim.Adam(sae.parameters(), lr=lr, betas=betas)

    def step(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """Train on one batch x [B, d_in]; returns the loss, its parts and the codes."""
        sae = self.sae
        sae.train()
        loss, parts, codes = sae.training_loss(x, self.tracker)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        sae.project_decoder_grad_()
        if self.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(sae.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        sae.normalize_decoder_()
        self.tracker.update(codes)
        return loss, parts, codes


def train_sae(
    sae: Any,
    batches: Iterable[torch.Tensor],
    *,
    steps: int | None = None,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    clip_grad_norm: float | None = None,
    dead_window: int = 1000,
    ema_decay: float = 0.99,
    tracker: FiringTracker | None = None,
    log_every: int = 1,
    progress: bool = False,
    desc: str = "train SAE",
) -> TrainResult:
    """Train ``sae`` (a :class:`~sparsehub.sae.SparseAutoencoder`) on ``batches`` [B, d_in].

    ``steps`` caps the number of batches drawn (all of them when None). Returns a
    :class:`TrainResult`; ``history`` holds ``loss``, ``mse``, ``aux`` (when used) and ``l0``
    every ``log_every`` steps. Deterministic given the SAE's seed and the batch stream.
    """
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise bad_value("steps", steps, "None or an int >= 1")
    if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
        raise bad_value("log_every", log_every, "an int >= 1")
    trainer = Trainer(sae, lr=lr, betas=betas, clip_grad_norm=clip_grad_norm,
                      tracker=tracker or FiringTracker(sae.d_sae, dead_window=dead_window, ema_decay=ema_decay))
    result = TrainResult(sae, trainer.tracker)
    history: dict[str, list[float]] = result.history
    stream = iter(batches) if steps is None else itertools.islice(batches, steps)
    start = time.perf_counter()
    for step, x in enumerate(_ticked(stream, steps, progress, desc)):
        loss, parts, codes = trainer.step(x)
        result.steps += 1
        result.tokens += codes.reshape(-1, codes.shape[-1]).shape[0]
        if step % log_every == 0:
            history.setdefault("loss", []).append(float(loss.detach()))
            for name, value in parts.items():
                history.setdefault(name, []).append(value)
            history.setdefault("l0", []).append(float((codes.detach() != 0).sum(-1).double().mean()))
    result.seconds = time.perf_counter() - start
    return result


def _ticked(stream: Iterable[torch.Tensor], steps: int | None, show: bool, desc: str) -> Iterable[torch.Tensor]:
    """Yield from ``stream``; with ``show``, draw a progress bar of about 20 ticks (not one per step)."""
    if not show:
        yield from stream
        return
    if steps is None:
        for x in _progress(stream, desc=desc, label=lambda _: ""):
            yield x
        return
    chunk = max(1, -(-steps // 20))
    it = iter(stream)
    for _ in _progress(range(-(-steps // chunk)), desc=desc, label=lambda i: f"step {i * chunk}"):
        for x in itertools.islice(it, chunk):
            yield x
