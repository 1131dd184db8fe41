"""Counters: parameters, non-zeros and dense / sparse FLOPs per layer and in total, as a table.

FLOPs follow the common convention FLOPs = 2 x MACs (one multiply and one add per weight use);
bias additions, activations, normalisation, pooling and matmuls outside Linear / Conv modules
(attention scores) are not counted. A weight is "used" once per output row of a Linear (every
leading position of its input) and once per output position of a convolution (once per input
position for a transposed one), so dense MACs = uses x weight.numel() and sparse MACs =
uses x kept weights: the FLOPs a kernel that skips pruned weights performs.
Counts are measured with forward hooks on one example input and reported per example (divided by
the input's first dimension, the batch).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from sparsehub.errors import bad_value

from .allocation import as_keep_tensor

__all__ = ["CountTable", "LayerCount", "count"]

_FLOP_MODULES = (nn.Linear, nn.modules.conv._ConvNd)


@dataclass(frozen=True)
class LayerCount:
    """One row: a module with parameters of its own, or the total.

    ``params``: its parameters (a tied parameter counts in the first module that owns it);
    ``nonzeros``: kept entries of masked parameters plus non-zero entries of the others;
    ``density``: nonzeros / params; ``dense_flops`` / ``sparse_flops``: per example, None when no
    example input was given, 0 for modules that do no counted arithmetic (norms, embeddings).
    Sparse FLOPs scale with the density of the module's weight alone (its mask, else its zeros).
    """

    name: str
    type: str
    params: int
    nonzeros: int
    density: float
    dense_flops: int | float | None
    sparse_flops: int | float | None


class CountTable:
    """Per-layer :class:`LayerCount` rows (module order) and their ``total``; ``str()`` is a table."""

    def __init__(self, rows: list[LayerCount], total: LayerCount) -> None:
        self.rows = rows
        self.total = total

    def __iter__(self) -> Iterator[LayerCount]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, name: str) -> LayerCount:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """``{"rows": [row dict, ...], "total": row dict}``: JSON-able."""
        return {"rows": [asdict(row) for row in self.rows], "total": asdict(self.total)}

    def __str__(self) -> str:
        header = ("layer", "type", "params", "nonzeros", "density", "dense FLOPs", "sparse FLOPs")

        def number(x: int | float | None) -> str:
            if x is None:
                return "-"
            return f"{round(x):,}" if isinstance(x, int) or float(x).is_integer() else f"{x:,.1f}"

        lines = [
            (
                r.name,
                r.type,
                number(r.params),
                number(r.nonzeros),
                f"{r.density:.4f}",
                number(r.dense_flops),
                number(r.sparse_flops),
            )
            for r in [*self.rows, self.total]
        ]
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]

        def fmt(cells: tuple[str, ...]) -> str:
            left = [c.ljust(w) for c, w in zip(cells[:2], widths[:2])]
            right = [c.rjust(w) for c, w in zip(cells[2:], widths[2:])]
            return "  ".join(left + right).rstrip()

        rule = "  ".join("-" * w for w in widths)
        return "\n".join([fmt(header), rule, *(fmt(line) for line in lines[:-1]), rule, fmt(lines[-1])])

    def __repr__(self) -> str:
        t = self.total
        return f"CountTable({len(self.rows)} layers, params={t.params}, nonzeros={t.nonzeros}, dense_flops={t.dense_flops})"


def _own_tensors(module: nn.Module) -> list[tuple[str, nn.Parameter, torch.Tensor]]:
    """(logical name, underlying Parameter, effective value) of the module's own parameters.

    A weight re-parametrised by ``parametrize`` (``parametrizations.weight.original``) or by
    ``torch.nn.utils.prune`` (``weight_orig``) is reported as ``weight`` with its masked value.
    """
    found = []
    for name, param in module.named_parameters(recurse=False):
        logical = (
            name[: -len("_orig")]
            if name.endswith("_orig") and hasattr(module, name[: -len("_orig")])
            else name
        )
        found.append((logical, param, getattr(module, logical)))
    params = getattr(module, "parametrizations", None)
    if isinstance(params, nn.ModuleDict):
        for name, plist in params.items():
            original = getattr(plist, "original", None)
            if isinstance(original, nn.Parameter):
                found.append((name, original, getattr(module, name)))
    return found


def _example(model: nn.Module, example_input: Any) -> tuple[tuple[Any, ...], dict[str, Any], int]:
    """Positional args, keyword args and batch size for one forward call."""
    if isinstance(example_input, (tuple, list, torch.Size)) and all(
        isinstance(d, int) and not isinstance(d, bool) for d in example_input
    ):
        if not example_input or any(d <= 0 for d in example_input):
            raise bad_value(
                "example_input", example_input, "a shape of positive ints (batch first) or tensors"
            )
        ref = next(model.parameters(), None)
        dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.get_default_dtype()
        device = ref.device if ref is not None else None
        example_input = torch.zeros(tuple(example_input), dtype=dtype, device=device)
    if isinstance(example_input, torch.Tensor):
        args: tuple[Any, ...] = (example_input,)
        kwargs: dict[str, Any] = {}
    elif isinstance(example_input, (tuple, list)):
        args, kwargs = tuple(example_input), {}
    elif isinstance(example_input, Mapping):
        args, kwargs = (), dict(example_input)
    else:
        raise bad_value(
            "example_input", type(example_input).__name__, "a tensor, a tuple of tensors, a dict or a shape"
        )
    first = next((x for x in [*args, *kwargs.values()] if isinstance(x, torch.Tensor)), None)
    if first is None or first.dim() == 0 or first.shape[0] == 0:
        raise bad_value(
            "example_input", type(example_input).__name__, "at least one tensor with a batch dimension first"
        )
    return args, kwargs, int(first.shape[0])


def _weight_uses(module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> int:
    """How many times each weight entry is multiplied in this call (see the module docstring)."""
    if isinstance(module, nn.Linear):
        return output.numel() // module.out_features
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        x = inputs[0]
        return x.numel() // module.in_channels
    return output.numel() // module.out_channels


def count(model: nn.Module, masks: Mapping[str, Any] | None = None, example_input: Any = None) -> CountTable:
    """Count parameters, non-zeros and dense / sparse FLOPs of every module that owns parameters.

    ``masks``: optional name -> Mask / bool tensor for parameters (``"fc.weight"``); a masked weight
    counts its kept entries and its layer's sparse FLOPs scale with the mask density. Without a
    mask the actual zeros of the (effective) weight are counted. ``example_input``: a tensor, a
    tuple of positional tensors, a dict of keyword tensors, or a shape (zeros of the model's dtype)
    with the batch first; FLOPs are measured on one forward pass (eval mode, no grad, training
    flags restored afterwards) and reported per example. Without it FLOP columns are None.
    Returns a :class:`CountTable`.
    """
    if not isinstance(model, nn.Module):
        raise bad_value("model", type(model).__name__, "a torch.nn.Module")
    masks = dict(masks or {})
    entries = []  # (module name, module, [(logical, param, value)])
    for name, module in model.named_modules():
        if ".parametrizations." in f".{name}.":
            continue  # the ParametrizationList containers: reported with the module they parametrise
        tensors = _own_tensors(module)
        if tensors:
            entries.append((name, module, tensors))
    full = {(f"{name}.{t[0]}" if name else t[0]): t for name, _, tensors in entries for t in tensors}
    keeps = {}
    for key, mask in masks.items():
        if key not in full:
            raise bad_value(
                "masks", key, f"keys naming parameters of the model, such as {next(iter(full), '...')!r}"
            )
        keeps[key] = as_keep_tensor(mask, tuple(full[key][1].shape))

    uses: dict[int, int] = {}
    batch = None
    if example_input is not None:
        args, kwargs, batch = _example(model, example_input)

        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if isinstance(output, torch.Tensor):
                uses[id(module)] = uses.get(id(module), 0) + _weight_uses(module, inputs, output)

        flags = {m: m.training for m in model.modules()}
        handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _FLOP_MODULES)]
        try:
            model.eval()
            with torch.no_grad():
                model(*args, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
            for m, flag in flags.items():
                m.training = flag

    seen: set[int] = set()
    rows = []
    for name, module, tensors in entries:
        params = nonzeros = 0
        weight_kept = None
        for logical, param, value in tensors:
            key = f"{name}.{logical}" if name else logical
            kept = int(keeps[key].sum()) if key in keeps else int(torch.count_nonzero(value.detach()))
            if logical == "weight":
                weight_kept = kept
            if id(param) in seen:
                continue
            seen.add(id(param))
            params += param.numel()
            nonzeros += kept
        dense = sparse = None
        if batch is not None:
            n_uses = uses.get(id(module), 0)
            weight = getattr(module, "weight", None)
            if n_uses and isinstance(weight, torch.Tensor):
                kept = weight.numel() if weight_kept is None else weight_kept
                dense = _per_example(2 * n_uses * weight.numel(), batch)
                sparse = _per_example(2 * n_uses * kept, batch)
            else:
                dense = sparse = 0
        rows.append(
            LayerCount(
                name=name or "(model)",
                type=type(module).__name__.removeprefix("Parametrized"),
                params=params,
                nonzeros=nonzeros,
                density=nonzeros / params if params else 1.0,
                dense_flops=dense,
                sparse_flops=sparse,
            )
        )
    total_params = sum(r.params for r in rows)
    total_nonzeros = sum(r.nonzeros for r in rows)
    total = LayerCount(
        name="total",
        type="",
        params=total_params,
        nonzeros=total_nonzeros,
        density=total_nonzeros / total_params if total_params else 1.0,
        dense_flops=None if batch is None else sum(r.dense_flops for r in rows),
        sparse_flops=None if batch is None else sum(r.sparse_flops for r in rows),
    )
    return CountTable(rows, total)


def _per_example(flops: int, batch: int) -> int | float:
    return flops // batch if flops % batch == 0 else flops / batch
