"""Selections: the activation function of an SAE, i.e. the rule that picks the active latents.

A :class:`Selection` maps pre-activations ``pre`` [..., d_sae] to codes of the same shape. It
separates *which* latents fire (``scores``) from *what value* they carry (``values``): TopK uses
the pre-activations for both; gradient-scored selection (g-SAE) ranks by a score built from the
pre-activations, the decoder and a downstream gradient, but outputs the original
pre-activations at the chosen indices. Selections that allocate across a batch (Mutual Choice,
Feature Choice) set ``batch_dependent = True`` and keep inference thresholds as buffers, so a
saved SAE restores them.

Subclasses register themselves by class name, which is how :meth:`SparseAutoencoder.load`
rebuilds them from a config.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import bad_value
from .validate import check_positive_int

__all__ = ["JumpReLU", "ReLU", "Selection", "TopK", "select_by_score", "topk_codes"]


def topk_codes(pre: torch.Tensor, k: int) -> torch.Tensor:
    """TopK activation: keep the k largest entries of every row, ReLU them, zero the rest.

    ``pre`` [..., d_sae] -> codes [..., d_sae] with at most k non-zeros per row (exactly k
    selected indices; a selected negative pre-activation becomes 0). Same order of operations as
    SAELens's ``TopK`` (top-k of the pre-activations, then ReLU), so the codes agree bitwise.
    """
    return select_by_score(pre, pre, k)


def select_by_score(values: torch.Tensor, scores: torch.Tensor, k: int) -> torch.Tensor:
    """Per row, the indices of the k largest ``scores``, carrying ReLU(``values``) at those indices.

    ``values`` and ``scores`` [..., d_sae]. The score decides which latents fire; their code is
    the original value (g-SAE's rule; TopK when ``scores is values``).
    """
    idx = scores.topk(k, dim=-1, sorted=False).indices
    return torch.zeros_like(values).scatter(-1, idx, values.gather(-1, idx).relu())


class Selection(nn.Module):
    """Base class: ``forward(pre) -> codes``; subclasses implement :meth:`select`.

    ``config()`` returns the constructor arguments (JSON-able) so that a saved SAE rebuilds
    the same selection; buffers (thresholds) travel in the state dict.
    """

    batch_dependent: ClassVar[bool] = False
    registry: ClassVar[dict[str, type[Selection]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Selection.registry[cls.__name__] = cls

    def forward(self, pre: torch.Tensor) -> torch.Tensor:
        return self.select(pre, pre)

    def select(self, values: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """Codes [..., d_sae] from ``values`` (what active latents carry) and ``scores`` (who is active)."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """The constructor arguments of this selection."""
        return {}

    def check(self, d_sae: int) -> None:
        """Raise if this selection cannot run on ``d_sae`` latents (e.g. k > d_sae)."""

    @classmethod
    def from_config(cls, name: str, config: dict[str, Any]) -> Selection:
        """Rebuild a selection saved by :meth:`config` under its class name."""
        if name not in Selection.registry:
            raise bad_value("selection", name, f"one of the known selections {sorted(Selection.registry)} "
                            "(import the plugin that defines it first)", KeyError)
        return Selection.registry[name](**config)


class ReLU(Selection):
    """Plain ReLU (a standard L1-trained SAE's activation): every positive pre-activation fires."""

    def select(self, values: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return torch.where(scores > 0, values.relu(), torch.zeros_like(values))


class TopK(Selection):
    """TopK (Gao et al. 2024): exactly k latents selected per token (row), ReLU on their values."""

    def __init__(self, k: int):
        super().__init__()
        self.k = check_positive_int("k", k)

    def check(self, d_sae: int) -> None:
        check_positive_int("k", self.k, d_sae, " (k cannot exceed the dictionary size d_sae)")

    def select(self, values: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return select_by_score(values, scores, self.k)

    def config(self) -> dict[str, Any]:
        return {"k": self.k}

    def extra_repr(self) -> str:
        return f"k={self.k}"


class JumpReLU(Selection):
    """JumpReLU: a latent fires when its pre-activation exceeds its threshold θ (scalar or per latent).

    z_i = pre_i · 1[pre_i > θ_i]. Used at inference for batch-dependent selections, whose
    allocation cannot be computed for a single token.
    """

    def __init__(self, threshold: float | list[float] = 0.0, d_sae: int | None = None):
        super().__init__()
        t = torch.as_tensor(threshold, dtype=torch.float32)
        if d_sae is not None and t.ndim == 0:
            t = t.expand(d_sae).clone()
        if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
            raise bad_value("threshold", threshold, "finite thresholds >= 0")
        self.register_buffer("threshold", t)

    def check(self, d_sae: int) -> None:
        if self.threshold.ndim == 1 and self.threshold.numel() != d_sae:
            raise bad_value("threshold", f"<{self.threshold.numel()} values>", f"a scalar or {d_sae} values")

    def select(self, values: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return torch.where(scores > self.threshold.to(scores.dtype), values.relu(), torch.zeros_like(values))

    def config(self) -> dict[str, Any]:
        shape = list(self.threshold.shape)
        return {"threshold": 0.0, "d_sae": shape[0] if shape else None}
