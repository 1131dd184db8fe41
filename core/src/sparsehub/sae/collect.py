"""Activation collection from a torch model with forward hooks, streamed batch by batch.

:func:`collect_activations` yields the activations of one named submodule for each input batch
(flattened to [tokens, d]) and never holds more than one batch; ``stop_early=True`` aborts the
forward pass right after the hooked module, so the rest of the model costs nothing.
:func:`capture` is the context manager underneath, for callers that need the graph (gradients
with respect to the activation, as g-SAE does).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ..errors import bad_value

__all__ = ["capture", "collect_activations", "resolve_module"]


class _StopForward(Exception):
    """Raised by the hook to skip the modules after the hooked one."""


def resolve_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (as in ``model.named_modules()``), or a clear error listing close names."""
    if not isinstance(model, nn.Module):
        raise bad_value("model", type(model).__name__, "a torch.nn.Module", TypeError)
    modules = dict(model.named_modules())
    if not isinstance(name, str) or name not in modules:
        names = [n for n in modules if n]
        close = difflib.get_close_matches(str(name), names, n=5) or names[:8]
        raise bad_value("module", name, f"the name of a submodule of the model, e.g. {close}", KeyError)
    return modules[name]


def _output_tensor(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, (tuple, list)) else output


@contextmanager
def capture(model: nn.Module, name: str, *, stop_early: bool = False) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, ``store["act"]`` is the output of submodule ``name`` on the last forward pass.

    The tensor is kept as produced (in the graph, if grad is on). With ``stop_early`` the
    forward pass ends at the hooked module; call the model through :func:`_run` or catch
    nothing yourself: :func:`collect_activations` handles it.
    """
    module = resolve_module(model, name)
    store: dict[str, torch.Tensor] = {}

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        store["act"] = _output_tensor(output)
        if stop_early:
            raise _StopForward

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def _run(model: Callable[..., Any], batch: Any) -> None:
    try:
        if isinstance(batch, dict):
            model(**batch)
        elif isinstance(batch, (tuple, list)):
            model(*batch)
        else:
            model(batch)
    except _StopForward:
        pass


def collect_activations(
    model: nn.Module,
    module: str,
    batches: Iterable[Any],
    *,
    stop_early: bool = True,
    flatten: bool = True,
    dtype: torch.dtype | None = None,
) -> Iterator[torch.Tensor]:
    """Yield, for each input batch, the detached output of ``model``'s submodule ``module``.

    ``batches`` are passed to the model as ``model(batch)`` (a tuple is unpacked, a dict is
    passed as keywords). Activations [..., d] are flattened to [tokens, d] when ``flatten``.
    The module name is checked now, before the first batch; a bad name raises ``KeyError``
    naming the close matches. Runs under ``torch.no_grad()``.
    """
    resolve_module(model, module)
    return _stream(model, module, batches, stop_early, flatten, dtype)


def _stream(model: nn.Module, module: str, batches: Iterable[Any], stop_early: bool, flatten: bool,
            dtype: torch.dtype | None) -> Iterator[torch.Tensor]:
    with capture(model, module, stop_early=stop_early) as store, torch.no_grad():
        for batch in batches:
            store.pop("act", None)
            _run(model, batch)
            if "act" not in store:
                raise bad_value("module", module, "a submodule that runs in the model's forward pass")
            act = store.pop("act").detach()
            if flatten:
                act = act.reshape(-1, act.shape[-1])
            yield act.to(dtype) if dtype is not None else act
