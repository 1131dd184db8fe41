"""Mutual Choice and Feature Choice as SAE selections, with JumpReLU thresholds for inference.

Both allocations depend on the whole batch, so a single token cannot be encoded the same way.
During training each selection keeps a running threshold (an EMA of the smallest selected
positive activation, rate ``threshold_lr``): one global θ for Mutual Choice (SAELens's BatchTopK
rule), one θ_i per feature for Feature Choice. ``batch_allocation=False`` (the default in eval
mode) encodes as JumpReLU with those thresholds, token by token.
"""

from __future__ import annotations

from typing import Any

import torch

from sparsehub.errors import bad_value
from sparsehub.sae import Selection

from .allocation import feature_choice_codes, mutual_choice_codes, uniform_capacities, zipf_capacities

__all__ = ["FeatureChoice", "MutualChoice"]

_CAPACITIES = ("uniform", "zipf")


def _check_k(k: object) -> float:
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not k > 0:
        raise bad_value("k", k, "a number > 0 (mean active latents per token)")
    return k


def _check_lr(threshold_lr: object) -> float:
    if isinstance(threshold_lr, bool) or not isinstance(threshold_lr, (int, float)) or not 0 < threshold_lr <= 1:
        raise bad_value("threshold_lr", threshold_lr, "a float in (0, 1]")
    return float(threshold_lr)


class _BatchSelection(Selection):
    """Shared mode logic: batch allocation in train mode, thresholds in eval mode (overridable)."""

    batch_dependent = True

    def __init__(self) -> None:
        super().__init__()
        self.batch_allocation: bool | None = None  # None: follow train/eval mode
        self.register_buffer("n_updates", torch.zeros((), dtype=torch.long))

    def use_batch(self) -> bool:
        return self.training if self.batch_allocation is None else self.batch_allocation

    def select(self, values: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if values.ndim != 2:
            shape = values.shape
            return self.select(values.reshape(-1, shape[-1]), scores.reshape(-1, shape[-1])).reshape(shape)
        if self.use_batch():
            codes = self.allocate(values, scores)
            if self.training:
                self._update_thresholds(codes)
            return codes
        if int(self.n_updates) == 0:
            raise bad_value("thresholds", "<untrained>", "thresholds learnt in training; train the SAE first or "
                            "encode with batch_allocation=True (a whole batch)")
        theta = self.threshold.to(scores.dtype)
        return torch.where(scores > theta, values.relu(), torch.zeros_like(values))

    def allocate(self, values: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _update_thresholds(self, codes: torch.Tensor) -> None:  # pragma: no cover
        raise NotImplementedError


class MutualChoice(_BatchSelection):
    """Mutual Choice (paper 23 §3.2): the top k·B entries of the whole [B, F] matrix.

    ``k`` may be fractional (mean active latents per token). ``threshold`` (float64 scalar)
    follows θ ← (1 − lr)·θ + lr·min(selected positive), as SAELens's BatchTopK.
    """

    def __init__(self, k: float, threshold_lr: float = 0.01):
        super().__init__()
        self.k = _check_k(k)
        self.threshold_lr = _check_lr(threshold_lr)
        self.register_buffer("threshold", torch.zeros((), dtype=torch.float64))

    def check(self, d_sae: int) -> None:
        if self.k > d_sae:
            raise bad_value("k", self.k, f"a number in (0, {d_sae}] (k·B cannot exceed B·F, F = d_sae)")

    def allocate(self, values: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return mutual_choice_codes(values, scores, self.k)

    @torch.no_grad()
    def _update_thresholds(self, codes: torch.Tensor) -> None:
        positive = codes > 0
        if bool(positive.any()):
            low = codes[positive].min().double()
            self.threshold.mul_(1 - self.threshold_lr).add_(self.threshold_lr * low)
            self.n_updates += 1

    def config(self) -> dict[str, Any]:
        return {"k": self.k, "threshold_lr": self.threshold_lr}

    def extra_repr(self) -> str:
        return f"k={self.k}"


class FeatureChoice(_BatchSelection):
    """Feature Choice (paper 23 §3.1): feature i takes its top-m_i tokens of the batch.

    ``capacity``: ``"uniform"`` (m = k·B/F), ``"zipf"`` (m_i ∝ rank_i^−s by EMA usage, Σ m_i =
    k·B) or an int m (every feature takes at most m tokens; total k·B is then m·F/B per token).
    Per-feature thresholds θ_i are the EMA of each feature's smallest selected positive value.
    """

    def __init__(self, k: float, d_sae: int, capacity: str | int = "uniform", zipf_exponent: float = 0.7,
                 threshold_lr: float = 0.01, usage_decay: float = 0.99):
        super().__init__()
        self.k = _check_k(k)
        if isinstance(d_sae, bool) or not isinstance(d_sae, int) or d_sae < 1:
            raise bad_value("d_sae", d_sae, "an int >= 1")
        if isinstance(capacity, bool) or not (capacity in _CAPACITIES or (isinstance(capacity, int) and capacity >= 1)):
            raise bad_value("capacity", capacity, f"one of {_CAPACITIES} or an int m >= 1 (tokens per feature)")
        if isinstance(zipf_exponent, bool) or not isinstance(zipf_exponent, (int, float)) or not zipf_exponent >= 0:
            raise bad_value("zipf_exponent", zipf_exponent, "a float >= 0")
        if not 0 <= usage_decay < 1:
            raise bad_value("usage_decay", usage_decay, "a float in [0, 1)")
        self.d_sae, self.capacity, self.zipf_exponent = d_sae, capacity, float(zipf_exponent)
        self.threshold_lr, self.usage_decay = _check_lr(threshold_lr), float(usage_decay)
        self.register_buffer("threshold", torch.zeros(d_sae, dtype=torch.float64))
        self.register_buffer("usage", torch.zeros(d_sae, dtype=torch.float64))

    def check(self, d_sae: int) -> None:
        if d_sae != self.d_sae:
            raise bad_value("d_sae", d_sae, f"{self.d_sae} (the selection's d_sae)")
        if self.k > d_sae:
            raise bad_value("k", self.k, f"a number in (0, {d_sae}] (k·B cannot exceed B·F, F = d_sae)")

    def capacities(self, n_tokens: int) -> torch.Tensor:
        """m [F] for a batch of ``n_tokens``."""
        if isinstance(self.capacity, int):
            if self.capacity > n_tokens:
                raise bad_value("m", self.capacity, f"an int in [1, B={n_tokens}] (tokens per feature in this batch)")
            return torch.full((self.d_sae,), self.capacity, dtype=torch.long)
        if self.capacity == "uniform":
            return uniform_capacities(n_tokens, self.d_sae, self.k)
        return zipf_capacities(n_tokens, self.k, self.usage, self.zipf_exponent)

    def allocate(self, values: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return feature_choice_codes(values, scores, self.capacities(values.shape[0]))

    @torch.no_grad()
    def _update_thresholds(self, codes: torch.Tensor) -> None:
        positive = codes > 0
        fired = positive.any(0)
        masked = torch.where(positive, codes, torch.full_like(codes, torch.inf))
        low = masked.min(0).values.double()
        lr = self.threshold_lr
        self.threshold[fired] = (1 - lr) * self.threshold[fired] + lr * low[fired]
        self.usage.mul_(self.usage_decay).add_(positive.double().mean(0), alpha=1 - self.usage_decay)
        self.n_updates += 1

    def config(self) -> dict[str, Any]:
        return {"k": self.k, "d_sae": self.d_sae, "capacity": self.capacity, "zipf_exponent": self.zipf_exponent,
                "threshold_lr": self.threshold_lr, "usage_decay": self.usage_decay}

    def extra_repr(self) -> str:
        return f"k={self.k}, capacity={self.capacity!r}"
