"""SAELens's TopK SAE as a benchmark anchor: built and stepped the way its trainer does.

SAELens is never a dependency of sparsehub; it is imported when these are called (the plugins'
``bench`` extras install it). Two plugins compare their training step with this one.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["SAELensTrainStep", "saelens_topk"]


def saelens_topk(d_in: int, d_sae: int, k: int, *, seed: int = 0) -> Any:
    """A SAELens ``TopKTrainingSAE`` (float32, CPU), initialised under ``torch.manual_seed(seed)``."""
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig

    torch.manual_seed(seed)
    return TopKTrainingSAE(TopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=k, dtype="float32", device="cpu"))


class SAELensTrainStep:
    """SAELens's ``SAETrainer._train_step`` minus logging and LR scheduling (constant LR).

    Dead-neuron mask from steps since each latent last fired, backward, gradient clipping at 1.0,
    Adam: the work one SAELens training step does, so step times compare like for like.
    """

    def __init__(self, sae: Any, lr: float, dead_window: int = 1000):
        self.sae, self.dead_window = sae, dead_window
        self.optimizer = torch.optim.Adam(sae.parameters(), lr=lr, betas=(0.9, 0.999))
        self.since_fired = torch.zeros(sae.cfg.d_sae, dtype=torch.long)

    def __call__(self, x: torch.Tensor) -> Any:
        from sae_lens.saes.sae import TrainStepInput

        self.sae.train()
        out = self.sae.training_forward_pass(TrainStepInput(
            sae_in=x, coefficients={}, dead_neuron_mask=self.since_fired > self.dead_window,
            n_training_steps=0, is_logging_step=False))
        with torch.no_grad():
            self.since_fired += 1
            self.since_fired[out.feature_acts.bool().any(0)] = 0
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.sae.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad()
        return out
