"""Dead and under-used latent tracking: steps since each latent last fired and EMA firing rates.

A latent is *dead* once it has not fired for more than ``dead_window`` training steps (SAELens's
``dead_feature_window``, counted in steps of one batch). The EMA firing rate f_i is the
fraction of tokens on which latent i fires, smoothed over steps; it drives under-use measures
(paper 23's aux_zipf, Zipf capacities) and usage statistics.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import bad_value
from .validate import check_positive_int

__all__ = ["FiringTracker"]


class FiringTracker:
    """Per-latent firing state over a training run.

    ``update(codes)`` after each step with the batch's codes [B, d_sae]. ``dead`` [d_sae] bool,
    ``firing_rate`` [d_sae] EMA of the per-token firing frequency (decay ``ema_decay`` per step;
    bias-corrected like Adam's moments so early steps are not pulled towards 0).
    """

    def __init__(self, d_sae: int, dead_window: int = 1000, ema_decay: float = 0.99):
        check_positive_int("d_sae", d_sae)
        check_positive_int("dead_window", dead_window)
        if not 0 <= ema_decay < 1:
            raise bad_value("ema_decay", ema_decay, "a float in [0, 1)")
        self.d_sae, self.dead_window, self.ema_decay = d_sae, dead_window, float(ema_decay)
        self.steps_since_fired = torch.zeros(d_sae, dtype=torch.long)
        self._ema = torch.zeros(d_sae, dtype=torch.float64)
        self.fire_counts = torch.zeros(d_sae, dtype=torch.long)
        self.n_steps = 0
        self.n_tokens = 0

    @torch.no_grad()
    def update(self, codes: torch.Tensor) -> None:
        """Record one batch of codes [..., d_sae] (non-zero = fired)."""
        if codes.shape[-1] != self.d_sae:
            raise bad_value("codes.shape", tuple(codes.shape), f"[..., {self.d_sae}]")
        fired = (codes.detach().reshape(-1, self.d_sae) != 0)
        per_latent = fired.sum(0).cpu()
        n = fired.shape[0]
        self.steps_since_fired += 1
        self.steps_since_fired[per_latent > 0] = 0
        self.fire_counts += per_latent
        self._ema.mul_(self.ema_decay).add_(per_latent.double() / max(n, 1), alpha=1 - self.ema_decay)
        self.n_steps += 1
        self.n_tokens += n

    @property
    def dead(self) -> torch.Tensor:
        """[d_sae] bool: latents silent for more than ``dead_window`` steps."""
        return self.steps_since_fired > self.dead_window

    @property
    def firing_rate(self) -> torch.Tensor:
        """[d_sae] float64: bias-corrected EMA of the fraction of tokens each latent fires on."""
        if self.n_steps == 0:
            return self._ema.clone()
        return self._ema / (1 - self.ema_decay ** self.n_steps)

    def summary(self) -> dict[str, Any]:
        """Counts of dead and never-fired latents, steps and tokens seen."""
        return {
            "dead": int(self.dead.sum()),
            "never_fired": int((self.fire_counts == 0).sum()),
            "steps": self.n_steps,
            "tokens": self.n_tokens,
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume tracking."""
        return {"steps_since_fired": self.steps_since_fired.clone(), "ema": self._ema.clone(),
                "fire_counts": self.fire_counts.clone(), "n_steps": self.n_steps, "n_tokens": self.n_tokens,
                "dead_window": self.dead_window, "ema_decay": self.ema_decay}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output."""
        self.steps_since_fired = state["steps_since_fired"].clone()
        self._ema = state["ema"].clone()
        self.fire_counts = state["fire_counts"].clone()
        self.n_steps, self.n_tokens = int(state["n_steps"]), int(state["n_tokens"])
        self.dead_window, self.ema_decay = int(state["dead_window"]), float(state["ema_decay"])
