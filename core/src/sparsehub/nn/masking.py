"""Masked training: masks on a model's weights that hold exactly through optimizer steps and checkpoints.

The life cycle follows ``torch.ao.pruning`` (prepare / step / squash): :func:`attach` puts a mask
on every selected weight and returns a :class:`MaskedTraining`; the optimizer steps as usual; the
masks change through :meth:`MaskedTraining.update`; :meth:`MaskedTraining.remove` bakes them in.

Mechanism, and why. The stored parameter *is* the masked weight: pruned entries of ``W`` are
exactly 0 in memory, so the forward pass is the dense module untouched (no ``W * M`` per call, no
re-parametrisation, ``model.weight`` is still the ``nn.Parameter``). The invariant ``W = W ⊙ M``
is kept by two optimizer hooks: before ``step()`` the gradients of pruned entries are zeroed
(so gradient clipping, LARS/LAMB norms and the update itself see the masked model), after
``step()`` the weights and every optimizer-state tensor of the weight's shape (SGD
``momentum_buffer``, Adam/AdamW ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``) are multiplied
by ``M``, which makes weight decay and any optimizer that moves zero-gradient entries harmless.
Between ``backward()`` and ``step()`` the ``.grad`` of a pruned entry is still the dense
gradient ``∂L/∂W``, which is what gradient-based regrowth (RigL) reads. On the reference MLP
(40-512-512-10, batch 128, SGD with momentum; :mod:`sparsehub.nn.bench_masking`, 2-core CPU) the
masked step cost +6.5 % (1 thread) and +10 % (2 threads) over the dense step; a
``torch.nn.utils.parametrize`` version (``W * M`` recomputed in every forward and backward)
cost +15 to +19 % in the same comparison, over the 15 % budget. The multiplications use float
copies of the masks: ``t.mul_(m)`` is about 10x faster than ``t.masked_fill_(~m, 0)`` here, at
the price that a non-finite value at a pruned entry stays non-finite (finite training keeps
exact zeros; a NaN weight means the run has diverged anyway).

Masks live in ``model.state_dict()`` as bool buffers next to their parameter: the mask of
``"fc1.weight"`` is the buffer ``"fc1.weight_mask"``. Loading a state dict goes through a
validation hook that checks every mask key (missing ones, ones for parameters that do not
exist, shapes) before anything is copied, so a bad checkpoint leaves the model as it was.
"""

from __future__ import annotations

import fnmatch
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from sparsehub.errors import ShapeError, bad_value
from sparsehub.mask import Mask, Pattern, Unstructured

__all__ = ["DEFAULT_INCLUDE", "MASK_SUFFIX", "MaskedTraining", "attach", "masking_of"]

DEFAULT_INCLUDE: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding)
MASK_SUFFIX = "_mask"  # the mask of parameter "fc1.weight" is the buffer "fc1.weight_mask"
_MARK = "_sparsehub_masked"  # module attribute: {parameter attribute name: the owning MaskedTraining}
_STATE_VERSION = 1


class _Entry:
    """One masked parameter: where it lives, its mask buffer and the float copies of the mask.

    The parameter and the buffer are looked up on the module each time (``module.to()`` or
    ``load_state_dict`` may replace or rewrite them); the float copies used by the multiplications
    are rebuilt whenever the buffer object, its in-place version counter, or the target's
    dtype/device changes, so they can never go stale.
    """

    __slots__ = ("_keeps", "attr", "module", "module_name", "name", "pattern")

    def __init__(self, name: str, module_name: str, module: nn.Module, attr: str, pattern: Pattern) -> None:
        self.name, self.module_name, self.module, self.attr = name, module_name, module, attr
        self.pattern = pattern
        self._keeps: dict[tuple[torch.dtype, torch.device], tuple[Any, int, torch.Tensor]] = {}

    @property
    def buffer_name(self) -> str:
        return self.attr + MASK_SUFFIX

    @property
    def key(self) -> str:
        """The mask's key in ``model.state_dict()``."""
        return self.name + MASK_SUFFIX

    @property
    def param(self) -> nn.Parameter:
        return self.module._parameters[self.attr]

    @property
    def mask(self) -> torch.Tensor:
        return self.module._buffers[self.buffer_name]

    def keep_like(self, target: torch.Tensor) -> torch.Tensor:
        """The mask as 0/1 in ``target``'s dtype and device (a multiply is ~10x faster than masked_fill_)."""
        mask = self.mask
        slot = (target.dtype, target.device)
        cached = self._keeps.get(slot)
        # _version counts in-place writes (load_state_dict, set_masks, DDP buffer broadcasts)
        if cached is None or cached[0]() is not mask or cached[1] != mask._version:
            cached = (weakref.ref(mask), mask._version, mask.to(device=target.device, dtype=target.dtype))
            self._keeps[slot] = cached
        return cached[2]

    def forget(self) -> None:
        self._keeps.clear()

    def __getstate__(self) -> dict[str, Any]:  # copies and pickles rebuild the float masks on use
        return {slot: getattr(self, slot) for slot in self.__slots__ if slot != "_keeps"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for slot, value in state.items():
            setattr(self, slot, value)
        self._keeps = {}


def _is_optimizer_state(value: Any, param: torch.Tensor) -> bool:
    return (
        isinstance(value, torch.Tensor)
        and value.shape == param.shape
        and (value.is_floating_point() or value.is_complex())
    )


def _zero_pruned(tensors: list[torch.Tensor], entries: list[_Entry]) -> None:
    """``t ← t ⊙ M`` for each tensor and its entry's mask, in one fused call per device/dtype group."""
    if not tensors:
        return
    dense = [(t, e) for t, e in zip(tensors, entries) if not t.is_sparse]
    with torch.no_grad():
        if dense:
            torch._foreach_mul_([t for t, _ in dense], [e.keep_like(t) for t, e in dense])
        for t, e in zip(tensors, entries):
            if t.is_sparse:  # sparse Embedding gradients
                t.mul_(e.keep_like(t))


def _as_bool_tensor(name: str, value: Any) -> tuple[torch.Tensor, Pattern]:
    """A mask given as Mask, bool tensor/array or 0/1 numbers -> (bool CPU tensor, pattern)."""
    if isinstance(value, Mask):
        return value.to_torch(), value.pattern
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    elif isinstance(value, np.ndarray):
        tensor = torch.from_numpy(np.array(value))
    else:
        raise bad_value(
            f"masks[{name!r}]", type(value).__name__, "a Mask, a bool torch tensor or a bool numpy array"
        )
    if tensor.dtype != torch.bool:
        if tensor.is_complex() or not bool(((tensor == 0) | (tensor == 1)).all()):
            raise bad_value(
                f"masks[{name!r}].dtype", tensor.dtype, "bool (True = kept) or numbers that are all 0 or 1"
            )
        tensor = tensor != 0
    return tensor.cpu(), Unstructured()


def _torch_pruned(module: nn.Module, attr: str) -> bool:
    """Whether ``module.attr`` is re-parametrised by ``torch.nn.utils.prune`` (``attr_orig`` and a mask)."""
    from torch.nn.utils import prune

    return any(
        isinstance(hook, prune.BasePruningMethod) and hook._tensor_name == attr
        for hook in module._forward_pre_hooks.values()
    )


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _pattern_state(pattern: Pattern) -> dict[str, Any]:
    """A ``torch.load(weights_only=True)``-safe description of a pattern (primitives and tensors only)."""
    meta, arrays = pattern._state()
    return {"meta": meta, "arrays": {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}}


def _pattern_from_state(state: Mapping[str, Any]) -> Pattern:
    arrays = {
        k: v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v) for k, v in state["arrays"].items()
    }
    return Pattern._from_state(state["meta"], arrays)


def _obeys(pattern: Pattern, keep: torch.Tensor) -> bool:
    try:
        pattern.validate(keep.cpu().numpy())
    except ValueError:
        return False
    return True


class MaskedTraining:
    """Masks attached to a model's weights, kept exactly through training (create it with :func:`attach`).

    Invariant after :func:`attach`, every ``optimizer.step()`` of a registered optimizer,
    :meth:`apply_`, :meth:`set_masks`, :meth:`update` and ``model.load_state_dict``:
    ``W[~M] == 0`` for every masked weight ``W`` with mask ``M``, and every optimizer-state tensor
    of ``W``'s shape is 0 at ``~M``. The masks are bool buffers ``<param>_mask`` in
    ``model.state_dict()``.
    """

    def __init__(self, model: nn.Module, entries: list[_Entry], mask_gradients: bool) -> None:
        self.model = model
        self.mask_gradients = mask_gradients
        self._entries: dict[str, _Entry] = {e.name: e for e in entries}
        self._aliases: dict[str, str] = {}
        self._optimizers: list[tuple[torch.optim.Optimizer, list[Any]]] = []
        self._model_handles: list[Any] = []
        self._attached = True

    # --- introspection ----------------------------------------------------------------------

    @property
    def attached(self) -> bool:
        """False once :meth:`remove` has run."""
        return self._attached

    @property
    def names(self) -> tuple[str, ...]:
        """The masked parameters' names, as in ``model.named_parameters()``, in model order."""
        return tuple(self._entries)

    def _check_attached(self) -> None:
        if not self._attached:
            raise RuntimeError(
                "this MaskedTraining was removed (remove() was called): attach() again to mask"
            )

    def masks(self) -> dict[str, Mask]:
        """The current masks as core :class:`~sparsehub.mask.Mask` objects (copies), by parameter name."""
        self._check_attached()
        return {e.name: Mask(e.mask.cpu().numpy(), e.pattern) for e in self._entries.values()}

    def mask_tensors(self) -> dict[str, torch.Tensor]:
        """The live bool mask buffers by parameter name (read them; change masks with :meth:`set_masks`)."""
        self._check_attached()
        return {e.name: e.mask for e in self._entries.values()}

    def layer_sparsity(self) -> dict[str, float]:
        """Fraction of pruned entries of each masked parameter."""
        self._check_attached()
        return {
            e.name: 1.0 - int(e.mask.count_nonzero()) / max(e.mask.numel(), 1) for e in self._entries.values()
        }

    def sparsity(self) -> float:
        """Fraction of pruned entries over all masked parameters together: Σ pruned / Σ numel."""
        self._check_attached()
        total = sum(e.mask.numel() for e in self._entries.values())
        kept = sum(int(e.mask.count_nonzero()) for e in self._entries.values())
        return 1.0 - kept / total if total else 0.0

    def __getstate__(self) -> dict[str, Any]:
        """What ``copy.deepcopy(model)`` and ``pickle`` copy (they reach the masking through its hooks).

        Everything but the hooked optimizers: the copy masks the copied model, and registers its own.
        """
        return {**self.__dict__, "_optimizers": []}

    def __repr__(self) -> str:
        if not self._attached:
            return "MaskedTraining(removed)"
        return f"MaskedTraining({len(self._entries)} masked parameters, sparsity={self.sparsity():.4g})"

    # --- keeping the invariant ----------------------------------------------------------------

    def apply_(self) -> None:
        """Zero the pruned weights and their optimizer state now (for loops without a hooked optimizer)."""
        self._check_attached()
        entries = list(self._entries.values())
        _zero_pruned([e.param for e in entries], entries)
        for optimizer, _ in self._optimizers:
            self._zero_state(optimizer)

    def mask_grads_(self) -> None:
        """Zero the gradients of pruned entries now (done before every registered optimizer step)."""
        self._check_attached()
        pairs = [(e.param.grad, e) for e in self._entries.values() if e.param.grad is not None]
        _zero_pruned([g for g, _ in pairs], [e for _, e in pairs])

    def _zero_state(self, optimizer: torch.optim.Optimizer) -> None:
        tensors, owners = [], []
        for e in self._entries.values():
            param = e.param
            state = optimizer.state.get(param)
            if state:
                for value in state.values():
                    if _is_optimizer_state(value, param):
                        tensors.append(value)
                        owners.append(e)
        _zero_pruned(tensors, owners)

    def _weights_and_state(self) -> list[tuple[str, torch.Tensor]]:
        """The masked weights and their per-weight optimizer state, labelled, in a fixed order.

        What :func:`sparsehub.nn.distributed.sync_masks` copies from the source rank.
        """
        found: list[tuple[str, torch.Tensor]] = [(e.name, e.param) for e in self._entries.values()]
        for i, (optimizer, _) in enumerate(self._optimizers):
            for e in self._entries.values():
                state = optimizer.state.get(e.param) or {}
                found += [
                    (f"optimizer {i} state[{e.name!r}][{key!r}]", value)
                    for key, value in state.items()
                    if _is_optimizer_state(value, e.param)
                ]
        return found

    def register_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Hook ``optimizer``: mask gradients before and weights + state after each of its steps.

        Zeroes the optimizer's existing state at pruned entries at once. Registering the same
        optimizer twice is a no-op.
        """
        self._check_attached()
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise bad_value("optimizer", type(optimizer).__name__, "a torch.optim.Optimizer")
        if any(opt is optimizer for opt, _ in self._optimizers):
            return
        handles = [
            optimizer.register_step_pre_hook(self._before_step),
            optimizer.register_step_post_hook(self._after_step),
        ]
        self._optimizers.append((optimizer, handles))
        self._zero_state(optimizer)

    def _before_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self.mask_gradients:
            self.mask_grads_()

    def _after_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        entries = list(self._entries.values())
        _zero_pruned([e.param for e in entries], entries)
        self._zero_state(optimizer)

    # --- changing masks -----------------------------------------------------------------------

    def _resolve(self, name: Any) -> _Entry | None:
        if not isinstance(name, str):
            return None
        return self._entries.get(self._aliases.get(name, name))

    def _validated(self, masks: Mapping[str, Any]) -> list[tuple[_Entry, torch.Tensor, Pattern]]:
        """Check every mask of ``masks`` (names, dtypes, shapes) before any is assigned."""
        if not isinstance(masks, Mapping):
            raise bad_value("masks", type(masks).__name__, "a mapping parameter name -> Mask or bool tensor")
        unknown = [n for n in masks if self._resolve(n) is None]
        if unknown:
            raise bad_value(
                "masks", f"<names {unknown}>", f"names of masked parameters, i.e. of {list(self._entries)}"
            )
        checked = []
        for name, value in masks.items():
            entry = self._resolve(name)
            keep, pattern = _as_bool_tensor(name, value)
            if tuple(keep.shape) != tuple(entry.param.shape):
                raise ShapeError(
                    f"masks[{name!r}].shape={tuple(keep.shape)} is not allowed: expected the shape of "
                    f"parameter {entry.name!r}, {tuple(entry.param.shape)}"
                )
            checked.append((entry, keep, pattern))
        return checked

    def set_masks(self, masks: Mapping[str, Any]) -> None:
        """Replace the masks of the named parameters (others keep theirs), then zero what they prune.

        ``masks``: parameter name -> :class:`~sparsehub.mask.Mask`, bool tensor or bool array of the
        parameter's shape. All-or-nothing: every mask is checked before any is assigned. Entries a
        new mask re-grows start at weight 0 with zero optimizer state (they were pruned).
        """
        self._check_attached()
        for entry, keep, pattern in self._validated(masks):
            entry.mask.copy_(keep)
            entry.pattern = pattern
        self.apply_()

    def update(
        self,
        scores_or_masks: Mapping[str, Any],
        *,
        sparsity: float | Mapping[str, float] | None = None,
        pattern: Pattern | str = "unstructured",
        scope: str = "local",
    ) -> dict[str, Mask]:
        """Set new masks from masks or from importance scores, zero the newly pruned weights and state.

        ``scores_or_masks``: name -> mask (as in :meth:`set_masks`), or name -> float scores of the
        parameter's shape, turned into masks by :meth:`Mask.from_scores` (higher = kept, exact
        counts) at ``sparsity`` — a float in [0, 1) or a name -> float mapping (local scope only)
        — with ``pattern`` and ``scope`` ("local" per tensor or "global" across the given tensors).
        Returns the new masks of the given names.
        """
        self._check_attached()
        if not isinstance(scores_or_masks, Mapping) or not scores_or_masks:
            raise bad_value(
                "scores_or_masks", scores_or_masks, "a non-empty mapping parameter name -> scores or mask"
            )
        are_masks = [_is_mask_like(v) for v in scores_or_masks.values()]
        if all(are_masks):
            if sparsity is not None:
                raise bad_value("sparsity", sparsity, "None when masks are given (it applies to scores)")
            new = scores_or_masks
        elif any(are_masks):
            raise bad_value("scores_or_masks", "<masks and scores mixed>", "all masks or all float scores")
        else:
            new = self._masks_from_scores(scores_or_masks, sparsity, pattern, scope)
        self.set_masks(new)
        entries = [self._resolve(name) for name in new]
        return {name: Mask(e.mask.cpu().numpy(), e.pattern) for name, e in zip(new, entries)}

    def _masks_from_scores(
        self, scores: Mapping[str, Any], sparsity: Any, pattern: Pattern | str, scope: str
    ) -> dict[str, Mask]:
        unknown = [n for n in scores if self._resolve(n) is None]
        if unknown:
            raise bad_value(
                "scores", f"<names {unknown}>", f"names of masked parameters, i.e. of {list(self._entries)}"
            )
        for name, s in scores.items():
            shape = tuple(self._resolve(name).param.shape)
            if tuple(getattr(s, "shape", ())) != shape:
                raise ShapeError(
                    f"scores[{name!r}].shape={tuple(getattr(s, 'shape', ()))} is not allowed: expected the "
                    f"shape of parameter {name!r}, {shape}"
                )
        if isinstance(sparsity, Mapping):
            if scope != "local":
                raise bad_value("scope", scope, "'local' when sparsity is a per-parameter mapping")
            missing = [n for n in scores if n not in sparsity]
            if missing:
                raise bad_value(
                    "sparsity", f"<mapping without {missing}>", "a sparsity for every scored parameter"
                )
            return {
                name: Mask.from_scores(_host(s), sparsity=sparsity[name], pattern=pattern)
                for name, s in scores.items()
            }
        return Mask.from_scores(
            {n: _host(s) for n, s in scores.items()}, sparsity=sparsity, pattern=pattern, scope=scope
        )

    # --- checkpoints --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The masking's own state: masks, patterns and options; safe for ``torch.load(weights_only=True)``.

        ``model.state_dict()`` already holds the masks; this adds the patterns and settings, and
        lets masks move to another model of the same architecture.
        """
        self._check_attached()
        return {
            "version": _STATE_VERSION,
            "mask_gradients": self.mask_gradients,
            "masks": {e.name: e.mask.detach().cpu().clone() for e in self._entries.values()},
            "patterns": {e.name: _pattern_state(e.pattern) for e in self._entries.values()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output; the masked parameter names must be exactly this masking's."""
        self._check_attached()
        if not isinstance(state, Mapping) or state.get("version") != _STATE_VERSION:
            got = state.get("version") if isinstance(state, Mapping) else type(state).__name__
            raise bad_value("state['version']", got, f"{_STATE_VERSION} (a MaskedTraining.state_dict())")
        masks = state["masks"]
        names = set(self._entries)
        extra, missing = sorted(set(masks) - names), sorted(names - set(masks))
        if extra or missing:
            raise bad_value(
                "state['masks']",
                f"<names: {len(extra)} unknown {extra}, {len(missing)} missing {missing}>",
                f"exactly the masked parameters {sorted(names)}",
            )
        checked = self._validated(masks)
        patterns = {name: _pattern_from_state(p) for name, p in state.get("patterns", {}).items()}
        for entry, keep, _ in checked:
            pattern = patterns.get(entry.name, Unstructured())
            if not _obeys(pattern, keep):
                raise bad_value(f"state['patterns'][{entry.name!r}]", pattern, "a pattern its mask obeys")
        for entry, keep, _ in checked:
            entry.mask.copy_(keep)
            entry.pattern = patterns.get(entry.name, Unstructured())
        self.mask_gradients = bool(state.get("mask_gradients", self.mask_gradients))
        self.apply_()

    def _validate_checkpoint(
        self,
        module: nn.Module,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: Any,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        """``load_state_dict`` pre-hook on the root: reject bad mask entries before anything is copied."""
        own = {prefix + k for k in self.model.state_dict(keep_vars=True)}
        stray = sorted(
            k for k in state_dict if k.startswith(prefix) and k.endswith(MASK_SUFFIX) and k not in own
        )
        # torch passes strict=True to every hook whatever the caller chose, so "missing" cannot
        # follow the caller's strictness; the rule is: a masked weight that is loaded brings its mask.
        missing = [
            prefix + e.key
            for e in self._entries.values()
            if prefix + e.name in state_dict and prefix + e.key not in state_dict
        ]
        if stray or missing:
            raise bad_value(
                "state_dict",
                f"<mask keys: {len(stray)} for parameters that do not exist {stray}, "
                f"{len(missing)} missing beside their weights {missing}>",
                f"one '<param>{MASK_SUFFIX}' entry beside each masked weight and none for other parameters; "
                "the model is unchanged (dense weights load before attach(), or with their masks)",
            )
        for e in self._entries.values():
            shape = tuple(e.param.shape)
            for key in (prefix + e.key, prefix + e.name):
                value = state_dict.get(key)
                if value is not None and isinstance(value, torch.Tensor) and tuple(value.shape) != shape:
                    raise ShapeError(
                        f"state_dict[{key!r}].shape={tuple(value.shape)} is not allowed: expected the "
                        f"shape of parameter {e.name!r}, {shape} (model left unchanged)"
                    )
            value = state_dict.get(prefix + e.key)
            if value is not None:
                _as_bool_tensor(prefix + e.key, value)

    def _after_load(self, module: nn.Module, incompatible_keys: Any) -> None:
        """``load_state_dict`` post-hook on each masked module: re-establish W = W ⊙ M for its weights."""
        entries = [e for e in self._entries.values() if e.module is module]
        for e in entries:
            if not isinstance(e.pattern, Unstructured) and not _obeys(e.pattern, e.mask):
                e.pattern = Unstructured()
        _zero_pruned([e.param for e in entries], entries)

    # --- detaching ----------------------------------------------------------------------------

    def remove(self) -> dict[str, Mask]:
        """Bake ``W ⊙ M`` into plain parameters and detach every buffer and hook; returns the final masks.

        Afterwards the model's ``state_dict()`` has the keys of the unmasked model, and the
        registered optimizers are no longer hooked.
        """
        self._check_attached()
        self.apply_()
        final = self.masks()
        for _, handles in self._optimizers:
            for handle in handles:
                handle.remove()
        for handle in self._model_handles:
            handle.remove()
        for e in self._entries.values():
            del e.module._buffers[e.buffer_name]
            marks = e.module.__dict__.get(_MARK, {})
            marks.pop(e.attr, None)
            if not marks:
                e.module.__dict__.pop(_MARK, None)
            e.forget()
        self._optimizers, self._model_handles, self._attached = [], [], False
        return final


def _is_mask_like(value: Any) -> bool:
    if isinstance(value, Mask):
        return True
    if isinstance(value, torch.Tensor):
        return value.dtype == torch.bool
    return isinstance(value, np.ndarray) and value.dtype == np.bool_


def _host(x: Any) -> Any:
    """Scores for Mask.from_scores: a torch tensor on the host (Mask reads it through numpy)."""
    return x.detach().cpu() if isinstance(x, torch.Tensor) else x


def masking_of(model: nn.Module) -> MaskedTraining | None:
    """The :class:`MaskedTraining` attached to ``model`` or to one of its submodules, else None."""
    for module in model.modules():
        for masking in module.__dict__.get(_MARK, {}).values():
            return masking
    return None


def _stored_parameter(module: nn.Module, attr: str) -> nn.Parameter:
    """The parameter behind ``module.attr``: itself, or ``attr_orig`` under ``torch.nn.utils.prune``."""
    return module._parameters[attr] if attr in module._parameters else module._parameters[attr + "_orig"]


def _candidates(
    model: nn.Module, include: tuple[type[nn.Module], ...], exclude: tuple[str, ...]
) -> dict[str, tuple[str, nn.Module, str]]:
    """Parameters masked by default: ``weight`` of each included, non-excluded module (torch-pruned too)."""
    found: dict[str, tuple[str, nn.Module, str]] = {}
    for module_name, module in model.named_modules():
        if not isinstance(module, include) or _matches(module_name, exclude):
            continue
        if isinstance(module._parameters.get("weight"), nn.Parameter) or _torch_pruned(module, "weight"):
            name = f"{module_name}.weight" if module_name else "weight"
            found[name] = (module_name, module, "weight")
    return found


def _parameter_owners(model: nn.Module) -> dict[str, tuple[str, nn.Module, str]]:
    """Each parameter's name -> (module name, module, attr); torch-pruned ``x_orig`` is listed as ``x``."""
    owners: dict[str, tuple[str, nn.Module, str]] = {}
    for module_name, module in model.named_modules():
        for attr in module._parameters:
            plain = (
                attr[: -len("_orig")] if attr.endswith("_orig") and _torch_pruned(module, attr[:-5]) else attr
            )
            name = f"{module_name}.{plain}" if module_name else plain
            owners.setdefault(name, (module_name, module, plain))
    return owners


def _select(
    model: nn.Module, masks: dict[str, Any], include: tuple[type[nn.Module], ...], exclude: tuple[str, ...]
) -> tuple[dict[str, tuple[str, nn.Module, str]], dict[str, str]]:
    """The parameters to mask (name -> (module name, module, attr)) and the tied aliases (alias -> name).

    Moves a mask given under a tied alias to the parameter's first name, in ``masks`` itself.
    """
    selected = _candidates(model, include, exclude)
    owners = _parameter_owners(model)
    unknown = sorted(n for n in masks if n not in owners)
    if unknown:
        raise bad_value(
            "masks", f"<names {unknown}>", f"names of parameters of the model, e.g. {list(selected)[:5]}"
        )
    excluded = sorted(n for n in masks if n not in selected and _matches(owners[n][0], exclude))
    if excluded:
        raise bad_value(
            "masks", f"<names {excluded}>", f"parameters that exclude={exclude!r} does not remove"
        )
    for name in masks:
        selected.setdefault(name, owners[name])
    # Tied parameters (one nn.Parameter under several names) get one mask, under their first name.
    first_name: dict[int, str] = {}
    aliases: dict[str, str] = {}
    for name, (_, module, attr) in list(selected.items()):
        first = first_name.setdefault(id(_stored_parameter(module, attr)), name)
        if first != name:
            aliases[name] = first
            del selected[name]
    for alias, name in aliases.items():
        if alias in masks:
            if name in masks:
                raise bad_value(
                    "masks", f"<both {name!r} and its tied alias {alias!r}>", "one mask per parameter"
                )
            masks[name] = masks.pop(alias)
    return selected, aliases


def _check_free(module_name: str, module: nn.Module, attr: str) -> None:
    """Raise unless ``module.attr`` can take a mask: not masked already, no attribute in the mask's place."""
    if attr in module.__dict__.get(_MARK, {}):
        raise bad_value(
            "model",
            f"<module {module_name or type(module).__name__!r}>",
            f"a model whose {attr!r} is not masked yet: it already has a MaskedTraining attached "
            "(call remove() on that one first)",
        )
    taken = attr + MASK_SUFFIX
    if not _torch_pruned(module, attr) and (taken in module._buffers or hasattr(module, taken)):
        raise bad_value(
            "model",
            f"<module {module_name!r}>",
            f"a module without an attribute {taken!r} (it would hold the mask)",
        )


def _starting_mask(
    name: str, module: nn.Module, attr: str, masks: Mapping[str, Any]
) -> tuple[torch.Tensor, Pattern]:
    """The mask ``attach`` starts ``module.attr`` with: the given one, torch.nn.utils.prune's, or all ones."""
    shape = tuple(_stored_parameter(module, attr).shape)
    if name in masks:
        keep, pattern = _as_bool_tensor(name, masks[name])
        if tuple(keep.shape) != shape:
            raise ShapeError(
                f"masks[{name!r}].shape={tuple(keep.shape)} is not allowed: expected the shape of "
                f"parameter {name!r}, {shape}"
            )
        return keep, pattern
    if _torch_pruned(module, attr):
        return module._buffers[attr + MASK_SUFFIX].detach().cpu() != 0, Unstructured()
    return torch.ones(shape, dtype=torch.bool), Unstructured()


def attach(
    model: nn.Module,
    masks: Mapping[str, Any] | None = None,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    include: Iterable[type[nn.Module]] = DEFAULT_INCLUDE,
    exclude: Iterable[str] = (),
    mask_gradients: bool = True,
) -> MaskedTraining:
    """Attach masks to ``model``'s weights and return the :class:`MaskedTraining` that keeps them.

    Masked: the ``weight`` of every module that is an instance of ``include`` and whose name
    matches no pattern of ``exclude`` (``fnmatch`` patterns over module names, e.g. ``"head"``
    or ``"blocks.*.attn.*"``), plus any parameter named in ``masks`` (e.g. a
    MultiheadAttention's ``in_proj_weight``). ``masks``: parameter name -> Mask / bool tensor /
    bool array; parameters without one get an all-ones mask. Pruned weights are zeroed at once.
    ``optimizer``: hooked as by :meth:`MaskedTraining.register_optimizer` (more can be added
    later). ``mask_gradients``: zero the gradients of pruned entries before each step.

    A module re-parametrised by ``torch.nn.utils.prune`` is taken over: its ``weight_mask`` is the
    starting mask (unless ``masks`` gives one) and ``weight_orig`` becomes ``weight`` again.
    Raises (leaving ``model`` unchanged) on a second attach to a masked module, unknown or
    excluded names in ``masks``, or a mask whose shape is not its parameter's.
    """
    if not isinstance(model, nn.Module):
        raise bad_value("model", type(model).__name__, "a torch.nn.Module")
    include = tuple(include)
    if not include or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in include):
        raise bad_value("include", include, "a non-empty tuple of torch.nn.Module subclasses")
    exclude = (exclude,) if isinstance(exclude, str) else tuple(exclude)
    if not all(isinstance(p, str) for p in exclude):
        raise bad_value("exclude", exclude, "module names or fnmatch patterns (strings)")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise bad_value("optimizer", type(optimizer).__name__, "None or a torch.optim.Optimizer")
    if masks is not None and not isinstance(masks, Mapping):
        raise bad_value(
            "masks", type(masks).__name__, "None or a mapping parameter name -> Mask or bool tensor"
        )
    masks = dict(masks or {})
    selected, aliases = _select(model, masks, include, exclude)
    for module_name, module, attr in selected.values():
        _check_free(module_name, module, attr)
    entries, initial = [], {}
    for name, (module_name, module, attr) in selected.items():
        initial[name], pattern = _starting_mask(name, module, attr, masks)
        entries.append(_Entry(name, module_name, module, attr, pattern))

    # Everything is checked: mutate from here on.
    from torch.nn.utils import prune

    masking = MaskedTraining(model, entries, bool(mask_gradients))
    masking._aliases = aliases
    for e in entries:
        if _torch_pruned(e.module, e.attr):
            prune.remove(e.module, e.attr)  # bakes weight_orig * weight_mask into weight_orig, renamed weight
        e.module.register_buffer(e.buffer_name, initial[e.name].to(e.param.device))
        e.module.__dict__.setdefault(_MARK, {})[e.attr] = masking
    masking._model_handles.append(model.register_load_state_dict_pre_hook(masking._validate_checkpoint))
    for module in {id(e.module): e.module for e in entries}.values():
        masking._model_handles.append(module.register_load_state_dict_post_hook(masking._after_load))
    masking.apply_()
    if optimizer is not None:
        masking.register_optimizer(optimizer)
    return masking
