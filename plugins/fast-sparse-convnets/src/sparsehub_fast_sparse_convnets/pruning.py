"""The paper's pruning recipe: gradual magnitude pruning of the 1x1 convolutions only (Sec. 5).

Fast Sparse ConvNets prunes with Zhu & Gupta's gradual magnitude pruning: the sparsity of every
1x1 convolution follows the cubic schedule s_t = s_f + (s_i - s_f)(1 - (t - t_0)/(t_end - t_0))^3,
and at each update step each layer keeps its largest-magnitude weights. The first full
convolution, the depthwise convolutions and the classifier stay dense (they are a small share of
the FLOPs and do not map to the SpMM). This module drives the core's machinery, the schedule
:class:`sparsehub.nn.schedule.PolynomialSchedule` and the masks of
:func:`sparsehub.nn.masking.attach` (weights, gradients and optimizer state stay masked).
"""

from __future__ import annotations

import torch
from torch import nn

from sparsehub.errors import bad_value
from sparsehub.mask import Mask
from sparsehub.nn.masking import MaskedTraining, attach
from sparsehub.nn.schedule import PolynomialSchedule

from .modules import pointwise_problem

__all__ = ["PointwisePruner", "pointwise_names"]


def pointwise_names(model: nn.Module) -> list[str]:
    """Names of the modules the recipe prunes: every 1x1, stride-1, groups-1 ``nn.Conv2d``."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d) and pointwise_problem(m) is None]


def _literal(name: str) -> str:
    """An fnmatch pattern matching exactly ``name`` (brackets, stars and question marks escaped)."""
    return "".join(f"[{c}]" if c in "[*?" else c for c in name)


class PointwisePruner:
    """Gradual magnitude pruning of a model's 1x1 convolutions, per layer, on a cubic schedule.

    Life cycle (torch.ao.pruning idiom): ``attach(model, optimizer)``, then call ``step(t)`` (or the
    pruner itself, ``pruner(t)``) after every optimizer step with the 0-based step index; ``remove()``
    bakes the masks in. It can be passed as ``masking=`` to :func:`sparsehub.nn.fixtures.train`.
    ``schedule``: a :class:`~sparsehub.nn.schedule.PolynomialSchedule` (s_f is the paper's 0.9 for
    MobileNet v1).
    """

    def __init__(self, schedule: PolynomialSchedule) -> None:
        if not isinstance(schedule, PolynomialSchedule):
            raise bad_value("schedule", type(schedule).__name__, "a sparsehub.nn.schedule.PolynomialSchedule")
        self.schedule = schedule
        self.masking_: MaskedTraining | None = None
        self.names_: tuple[str, ...] = ()

    def attach(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> PointwisePruner:
        """Put a mask on every 1x1 convolution of ``model`` (the others stay dense and unmasked)."""
        if self.masking_ is not None:
            raise RuntimeError("this PointwisePruner is attached already: call remove() first")
        if not isinstance(model, nn.Module):
            raise bad_value("model", type(model).__name__, "a torch.nn.Module")
        targets = pointwise_names(model)
        if not targets:
            raise bad_value("model", type(model).__name__, "a model with at least one 1x1 Conv2d (stride 1, groups 1)")
        others = [_literal(n) for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and n not in targets]
        self.masking_ = attach(model, optimizer=optimizer, include=(nn.Conv2d,), exclude=others)
        self.names_ = self.masking_.names
        return self

    def register_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Keep ``optimizer``'s steps masked (see :meth:`MaskedTraining.register_optimizer`)."""
        self._masking().register_optimizer(optimizer)

    def _masking(self) -> MaskedTraining:
        if self.masking_ is None:
            raise RuntimeError("this PointwisePruner is not attached: call attach(model, optimizer) first")
        return self.masking_

    def step(self, step: int) -> bool:
        """Prune to the schedule's sparsity if ``step`` is an update step; returns whether it pruned.

        Scores are |W| on the kept entries; pruned entries score -1 so they are never regrown and
        the masks only shrink.
        """
        masking = self._masking()
        if not self.schedule.is_update_step(step):
            return False
        target = self.schedule(step)
        keep = masking.mask_tensors()
        params = dict(masking.model.named_parameters())
        scores = {}
        for name in self.names_:
            w = params[name].detach()
            scores[name] = torch.where(keep[name].to(w.device), w.abs(), torch.full_like(w, -1.0)).double().cpu()
        masking.update(scores, sparsity=target)
        return True

    __call__ = step

    @property
    def sparsity(self) -> dict[str, float]:
        """Current sparsity of each pruned layer."""
        return self._masking().layer_sparsity()

    def masks(self) -> dict[str, Mask]:
        """The current masks by parameter name."""
        return self._masking().masks()

    def remove(self) -> dict[str, Mask]:
        """Detach the masks (the pruned weights stay exactly zero) and return them."""
        masks = self._masking().remove()
        self.masking_ = None
        return masks
