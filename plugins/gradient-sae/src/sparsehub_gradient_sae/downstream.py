"""The downstream side of g-SAE: activations with their loss gradients, and spliced-in loss evaluation.

:func:`collect_acts_and_grads` runs the model once with the hooked module's output replaced by a
detached leaf copy, so one backward pass gives g = ∂L/∂x at the hook without touching (or
accumulating into) the model's parameters. :func:`spliced_loss` runs the model with the hooked
output replaced by the SAE's reconstruction and reports the downstream loss increase ΔL, the
paper's headline metric (ΔCE for a classifier or a language model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sparsehub.errors import bad_value
from sparsehub.sae import check_activations, resolve_module

from .sae import GradientTopKSAE

__all__ = ["SplicedLoss", "collect_acts_and_grads", "spliced_loss"]


def _check_batch(batch: Any) -> tuple[Any, Any]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise bad_value("batch", type(batch).__name__, "a pair (inputs, targets)", TypeError)
    return batch[0], batch[1]


def _call(model: nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, dict):
        return model(**inputs)
    return model(inputs)


@contextmanager
def _replace_output(model: nn.Module, hook: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[dict]:
    """Within the block, the output of submodule ``hook`` is ``fn(output)`` (tuple outputs: first item)."""
    module = resolve_module(model, hook)
    store: dict[str, Any] = {}

    def replace(_module: nn.Module, _inputs: Any, output: Any) -> Any:
        first = output[0] if isinstance(output, (tuple, list)) else output
        new = fn(first)
        store["act"], store["new"] = first, new
        if isinstance(output, (tuple, list)):
            return type(output)((new, *output[1:]))
        return new

    handle = module.register_forward_hook(replace)
    try:
        yield store
    finally:
        handle.remove()


def _ran(store: dict, hook: str) -> None:
    if "act" not in store:
        raise bad_value("hook", hook, "a submodule that runs in the model's forward pass")


def collect_acts_and_grads(model: nn.Module, hook: str, loss_fn: Callable[[Any, Any], torch.Tensor],
                           batch: tuple[Any, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, g): the hooked activations and the gradient of the downstream loss with respect to them.

    ``batch = (inputs, targets)``; the model is called as ``model(inputs)`` (a dict as keywords)
    and the loss is ``loss_fn(output, targets)``, a scalar. Both tensors are detached and
    flattened to [tokens, d]. The gradient is taken on the *original* activation (no SAE in the
    graph). Its scale follows ``loss_fn``'s reduction; :class:`GradientTopKSAE`'s ``grad_norm``
    makes the selection independent of it. Model parameters get no ``.grad``.
    """
    inputs, targets = _check_batch(batch)
    with _replace_output(model, hook, lambda a: a.detach().requires_grad_(True)) as store, torch.enable_grad():
        loss = loss_fn(_call(model, inputs), targets)
        _ran(store, hook)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise bad_value("loss_fn", type(loss).__name__, "a function returning a scalar tensor", TypeError)
        (grad,) = torch.autograd.grad(loss, store["new"], allow_unused=True)
    act = store["new"].detach()
    grad = torch.zeros_like(act) if grad is None else grad.detach()
    d = act.shape[-1]
    return act.reshape(-1, d), grad.reshape(-1, d)


@dataclass
class SplicedLoss:
    """Downstream loss with the clean activations and with the SAE's reconstruction spliced in."""

    clean: float
    spliced: float

    @property
    def delta(self) -> float:
        """ΔL = L(spliced) − L(clean)."""
        return self.spliced - self.clean


def spliced_loss(model: nn.Module, hook: str, sae: Any, loss_fn: Callable[[Any, Any], torch.Tensor],
                 batch: tuple[Any, Any], *, use_grad: bool = True) -> SplicedLoss:
    """Downstream loss with the hooked activation replaced by ``sae``'s reconstruction.

    With ``use_grad`` (and an SAE whose ``encode`` takes ``grad``, i.e. g-SAE), the selection
    uses the gradient of the clean loss at the hook, as the paper evaluates g-SAE; otherwise the
    SAE encodes without it (plain TopK on the same dictionary; any SAE with ``encode`` /
    ``decode`` works). The reconstruction's shape must match the hooked activation.
    """
    inputs, targets = _check_batch(batch)
    grad = None
    if use_grad and isinstance(sae, GradientTopKSAE):
        _, grad = collect_acts_and_grads(model, hook, loss_fn, batch)
    d_in = getattr(sae, "d_in", None)

    def reconstruct(act: torch.Tensor) -> torch.Tensor:
        flat = act.reshape(-1, act.shape[-1])
        if d_in is not None:
            check_activations(flat, d_in, name="activation at hook")
        codes = sae.encode(flat, grad) if grad is not None else sae.encode(flat)
        return sae.decode(codes).reshape(act.shape).to(act.dtype)

    with torch.no_grad():
        with _replace_output(model, hook, lambda a: a) as store:
            clean = float(loss_fn(_call(model, inputs), targets))
            _ran(store, hook)
        with _replace_output(model, hook, reconstruct):
            spliced = float(loss_fn(_call(model, inputs), targets))
    return SplicedLoss(clean, spliced)

