"""Gradual magnitude pruning: masks that follow the cubic schedule of Zhu & Gupta (2017) during training.

Paper 31, "To prune, or not to prune" (arXiv:1710.01878), section 3: every prunable weight W gets a
binary mask M (initially all ones). At the update steps t_0, t_0 + Δt, ..., t_0 + nΔt the target
sparsity is the cubic schedule

    s_t = s_f + (s_i - s_f) * (1 - (t - t_0) / (n Δt)) ** 3

(:class:`sparsehub.nn.schedule.PolynomialSchedule`), and each layer's mask becomes the
``(1 - s_t)`` fraction of its entries with the largest |W ⊙ M|: the smallest surviving weights are
pruned, pruned weights stay pruned, and training goes on between updates. After t_0 + nΔt the
mask is frozen. The masked weights are kept exactly zero through the optimizer steps (and their
momentum / Adam moments zeroed) by :func:`sparsehub.nn.masking.attach`.

Selection is exact: ``round(s_t · N)`` entries pruned per layer (:func:`sparsehub.mask.pruned_count`,
ties broken by the lower flat index, through :meth:`sparsehub.mask.Mask.from_scores`), never a
histogram threshold. The paper prunes per layer (``scope="layer"``); ``scope="global"`` ranks all
pruned layers together.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from sparsehub.errors import PatternError, bad_value
from sparsehub.mask import Mask, Pattern, Unstructured, pruned_count
from sparsehub.nn.allocation import DEFAULT_PRUNABLE, parameter_by_name, prunable_parameters
from sparsehub.nn.distributed import sync_masks
from sparsehub.nn.masking import MaskedTraining, attach
from sparsehub.nn.schedule import PolynomialSchedule

__all__ = ["GradualMagnitudePruner"]

SCOPES = ("layer", "global")
_STATE_VERSION = 1


def _literal(name: str) -> str:
    """An fnmatch pattern that matches exactly the module name ``name``."""
    return "".join(f"[{c}]" if c in "[*?" else c for c in name)


def _live_units(
    name: str, weight: torch.Tensor, keep: torch.Tensor, pattern: Pattern
) -> tuple[np.ndarray, np.ndarray]:
    """The units of ``pattern`` that are still kept, and their scores |W ⊙ M| (summed per unit).

    Returns ``(flat indices of the kept units, their scores)``, both 1-D, in flat unit order (so
    the tie break "lower index first" is the same as over the whole layer). Ranking only the kept
    units is what makes masks monotone (a pruned unit is never a candidate, not even when it ties
    with a kept weight that is exactly 0), and it costs O(kept) instead of O(N): numpy's partition
    is also several times slower on the long runs of equal values that pruned entries would add.
    """
    w = weight.detach()
    if isinstance(pattern, Unstructured):
        scores = torch.masked_select(w.reshape(-1), keep.reshape(-1).to(w.device)).abs().to(torch.float64)
        units = np.flatnonzero(keep.reshape(-1).cpu().numpy())
        values = scores.cpu().numpy()
    else:
        masked = w.abs().to(torch.float64).masked_fill_(~keep.to(w.device), 0.0).cpu().numpy()
        counts = pattern.reduce_scores(keep.cpu().numpy()).reshape(-1)
        units = np.flatnonzero(counts > 0)
        values = pattern.reduce_scores(masked).reshape(-1)[units]
    bad = values.size - int(np.count_nonzero(np.isfinite(values)))
    if bad:
        raise bad_value(
            f"weights of {name!r}",
            f"<{bad} NaN or Inf among the kept units>",
            "finite weights (training has diverged; nothing was pruned)",
        )
    return units, np.array(values, dtype=np.float64)  # writeable: global scope may raise one entry


class GradualMagnitudePruner:
    """Prune a model during training on the cubic schedule of gradual magnitude pruning (paper 31).

    The sparse-training life cycle of ``torch.ao.pruning``: configure, :meth:`attach` to a model and
    its optimizer, call :meth:`step` right after every ``optimizer.step()``, :meth:`remove` to bake
    the masks. ``pruner(t)`` is ``pruner.step(t)``, so the pruner can be given to
    :func:`sparsehub.nn.fixtures.train` as ``masking=``.

    ``schedule``: a :class:`~sparsehub.nn.schedule.PolynomialSchedule` (s_f, s_i, t_0, t_end, Δt,
    power 3 = the paper); the masks change only on its update steps. ``scope``: ``"layer"`` (the
    paper: each layer pruned to s_t on its own) or ``"global"`` (one ranking over all pruned layers;
    every layer keeps at least one unit). ``pattern``: ``"unstructured"`` (the paper), a Block or a
    Channel pattern (units ranked by the sum of their |W ⊙ M|; Channel only with scope "layer").
    ``include`` / ``exclude``: which weights are pruned, as in
    :func:`sparsehub.nn.allocation.prunable_parameters` (module types, fnmatch patterns of names, and
    ``"first"`` / ``"last"``). The default leaves the first layer dense, as in the paper and because
    pruning a small input layer to high sparsity collapses accuracy.

    Guarantees: exactly ``pruned_count(N, s_t)`` of a layer's N units pruned after the update at t
    (at most N - 1: every layer keeps a unit); masks only shrink; pruned weights and their optimizer
    state are exactly 0; under ``torch.distributed`` every rank holds rank 0's masks, weights and
    optimizer state after each pruning step (:func:`sparsehub.nn.distributed.sync_masks`).

    Learned state: ``masking_`` (the :class:`~sparsehub.nn.masking.MaskedTraining`), ``last_step_``
    (the last step seen, -1 before the first), ``last_update_`` (the last schedule update applied),
    ``history_`` (``(step, target sparsity, achieved sparsity of the pruned layers)`` per update).
    """

    def __init__(
        self,
        schedule: PolynomialSchedule,
        *,
        scope: str = "layer",
        pattern: Pattern | str = "unstructured",
        include: Iterable[type[nn.Module]] = DEFAULT_PRUNABLE,
        exclude: Iterable[str | type[nn.Module]] | str = ("first",),
    ) -> None:
        if not isinstance(schedule, PolynomialSchedule):
            raise bad_value("schedule", type(schedule).__name__, "a sparsehub.nn.schedule.PolynomialSchedule")
        if scope not in SCOPES:
            raise bad_value("scope", scope, "'layer' (per layer, the paper) or 'global'")
        parsed = Pattern.parse(pattern)
        if parsed.implied_sparsity is not None:
            raise bad_value(
                "pattern",
                pattern,
                "unstructured, a block or a channel pattern (N:M fixes its own sparsity)",
                PatternError,
            )
        if scope == "global" and not parsed.supports_global:
            raise bad_value(
                "pattern", pattern, "unstructured or a block pattern with scope='global'", PatternError
            )
        include = (include,) if isinstance(include, type) else tuple(include)
        if not include or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in include):
            raise bad_value("include", include, "a non-empty tuple of torch.nn.Module subclasses")
        exclude = (exclude,) if isinstance(exclude, (str, type)) else tuple(exclude)
        for spec in exclude:
            if not (isinstance(spec, str) or (isinstance(spec, type) and issubclass(spec, nn.Module))):
                raise bad_value("exclude", spec, "module types, name patterns (str), 'first' or 'last'")
        self.schedule = schedule
        self.scope = scope
        self.pattern = parsed
        self.include = include
        self.exclude = exclude
        self.masking_: MaskedTraining | None = None
        self.last_step_ = -1
        self.last_update_ = -1
        self.history_: list[tuple[int, float, float]] = []

    # --- life cycle -----------------------------------------------------------------------------

    def attach(
        self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None
    ) -> GradualMagnitudePruner:
        """Put an all-ones mask on every selected weight of ``model`` and hook ``optimizer``; returns self.

        Raises (model unchanged) when this pruner is attached already, when ``include`` / ``exclude``
        leave no weight to prune, when ``pattern`` does not fit a weight's shape, or when a selected
        weight is masked already by another :class:`~sparsehub.nn.masking.MaskedTraining`.
        """
        if self.masking_ is not None:
            raise RuntimeError("this GradualMagnitudePruner is attached already: call remove() first")
        if not isinstance(model, nn.Module):
            raise bad_value("model", type(model).__name__, "a torch.nn.Module")
        params = prunable_parameters(model, self.include, self.exclude)
        if not params:
            every = list(prunable_parameters(model, self.include))
            raise bad_value("exclude", self.exclude, f"patterns that leave a weight to prune among {every}")
        for name, weight in params.items():
            try:
                self.pattern.check_shape(tuple(weight.shape))
            except PatternError as err:
                raise bad_value(
                    "pattern",
                    self.pattern,
                    f"a pattern that fits {name!r} of shape {tuple(weight.shape)} ({err})",
                    PatternError,
                ) from None
        others = [
            _literal(module_name)
            for module_name, module in model.named_modules()
            if isinstance(module, self.include)
            and (f"{module_name}.weight" if module_name else "weight") not in params
        ]
        masking = attach(model, optimizer=optimizer, include=self.include, exclude=others)
        if set(masking.names) != set(params):  # e.g. a weight behind torch.nn.utils.parametrize
            masking.remove()
            raise bad_value(
                "model",
                f"<masked {sorted(masking.names)}>",
                f"a model whose selected weights {sorted(params)} "
                "are plain parameters (or torch.nn.utils.prune re-parametrisations)",
            )
        self.masking_ = masking
        self.last_step_, self.last_update_, self.history_ = -1, -1, []
        return self

    def register_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Hook another optimizer: its steps keep pruned weights at 0, pruning zeroes its state there."""
        self._masking().register_optimizer(optimizer)

    def remove(self) -> dict[str, Mask]:
        """Bake W ⊙ M into plain parameters, unhook everything and return the final masks by name."""
        final = self._masking().remove()
        self.masking_ = None
        return final

    def _masking(self) -> MaskedTraining:
        if self.masking_ is None:
            raise RuntimeError(
                "this GradualMagnitudePruner is not attached: call attach(model, optimizer) first"
            )
        return self.masking_

    # --- pruning ------------------------------------------------------------------------------

    def due_update(self, global_step: int) -> int | None:
        """The schedule's latest update step at or before ``global_step`` (None before t_0).

        A pure function of the step: a loop that skips steps still applies the update it passed.
        """
        s = self.schedule
        if global_step < s.begin_step:
            return None
        if global_step >= s.end_step:
            return s.end_step
        return s.begin_step + (global_step - s.begin_step) // s.frequency * s.frequency

    def step(self, global_step: int | None = None) -> bool:
        """Advance to ``global_step`` (default: the last one + 1); prune if an update step is due.

        Call it right after ``optimizer.step()``, with that step's 0-based index. When the schedule
        has an update step u in (``last_update_``, ``global_step``], the masks are recomputed at
        s_u = ``schedule(u)`` from |W ⊙ M|, the newly pruned weights and their optimizer state are
        zeroed and, under torch.distributed, every rank takes rank 0's masks. Returns whether a
        mask changed. Raises ValueError (nothing changed) for a step that does not move forward or
        a NaN/Inf among the weights still kept.
        """
        masking = self._masking()
        t = self.last_step_ + 1 if global_step is None else global_step
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < 0:
            raise bad_value("global_step", global_step, "None or an int >= 0")
        t = int(t)
        if t <= self.last_step_:
            raise bad_value(
                "global_step",
                global_step,
                f"an int > {self.last_step_}, the last step seen (steps only move forward)",
            )
        update = self.due_update(t)
        changed = False
        if update is not None and update > self.last_update_:
            target = self.schedule(update)
            changed = self._prune_to(masking, target)
            self.last_update_ = update
            self.history_.append((update, target, masking.sparsity()))
        self.last_step_ = t
        return changed

    __call__ = step

    def _prune_to(self, masking: MaskedTraining, target: float) -> bool:
        """Recompute the masks at sparsity ``target`` from |W ⊙ M|; False if no layer has more to prune."""
        model = masking.model
        live: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        shapes: dict[str, tuple[int, ...]] = {}
        n_units: dict[str, int] = {}
        for name, keep in masking.mask_tensors().items():  # every check before anything changes
            weight = parameter_by_name(model, name)
            live[name] = _live_units(name, weight, keep, self.pattern)
            shapes[name] = tuple(weight.shape)
            n_units[name] = int(np.prod(self.pattern.unit_shape(shapes[name])))
        # how many more kept units each selection drops; Mask.from_scores picks which (exact, ties by index)
        if self.scope == "layer":
            drops = {}
            for name, (units, scores) in live.items():
                n, gone = n_units[name], n_units[name] - units.size
                drop = max(min(pruned_count(n, target), n - 1), gone) - gone
                if drop:  # drop / size reads back as exactly `drop` units through pruned_count
                    drops[name] = Mask.from_scores(scores, sparsity=drop / units.size).array
        else:
            n, kept = sum(n_units.values()), sum(u.size for u, _ in live.values())
            alive = [name for name, (units, _) in live.items() if units.size]
            drop = max(min(pruned_count(n, target), n - len(alive)), n - kept) - (n - kept)
            if not drop:
                return False
            top = max(float(live[name][1].max()) for name in alive)
            for name in alive:  # each layer's largest unit outranks all others: no layer is emptied
                scores = live[name][1]
                scores[int(np.argmax(scores))] = np.nextafter(top + 1.0, np.inf)
            chosen = Mask.from_scores(
                {name: live[name][1] for name in alive}, sparsity=drop / kept, scope="global"
            )
            drops = {name: mask.array for name, mask in chosen.items() if mask.nnz < mask.array.size}
        if not drops:
            return False
        new = {}
        for name, survives in drops.items():
            unit_keep = np.zeros(n_units[name], dtype=bool)
            unit_keep[live[name][0][survives]] = True
            shape = shapes[name]
            unit_keep = unit_keep.reshape(self.pattern.unit_shape(shape))
            new[name] = Mask(self.pattern.expand_units(unit_keep, shape), self.pattern)
        masking.update(new)
        sync_masks(masking)
        return True

    # --- introspection ----------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The pruned parameters' names, in model order."""
        return self._masking().names

    def sparsity(self) -> dict[str, float]:
        """Fraction of pruned entries of each pruned parameter, by name."""
        return self._masking().layer_sparsity()

    def masks(self) -> dict[str, Mask]:
        """The current masks as :class:`~sparsehub.mask.Mask` objects (copies), by parameter name."""
        return self._masking().masks()

    def __repr__(self) -> str:
        where = (
            "detached"
            if self.masking_ is None
            else f"{len(self.masking_.names)} layers, step {self.last_step_}"
        )
        return f"GradualMagnitudePruner({self.schedule!r}, scope={self.scope!r}, {where})"

    # --- checkpoints ------------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        return {
            "schedule": dataclasses.asdict(self.schedule),
            "scope": self.scope,
            "pattern": repr(self.pattern),
        }

    def state_dict(self) -> dict[str, Any]:
        """The pruner's state (step counters, history, masks); safe for ``torch.load(weights_only=True)``.

        ``model.state_dict()`` holds the masks too; with this the pruner resumes on the same schedule.
        """
        masking = self._masking()
        return {
            "version": _STATE_VERSION,
            "config": self._config(),
            "last_step": self.last_step_,
            "last_update": self.last_update_,
            "history": [list(h) for h in self.history_],
            "masking": masking.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output taken with the same schedule, scope and pattern.

        All-or-nothing: a wrong version or configuration, bad counters, or masks for other
        parameters or of other shapes raise before anything changes.
        """
        masking = self._masking()
        if not isinstance(state, Mapping) or state.get("version") != _STATE_VERSION:
            got = state.get("version") if isinstance(state, Mapping) else type(state).__name__
            raise bad_value(
                "state['version']", got, f"{_STATE_VERSION} (a GradualMagnitudePruner.state_dict())"
            )
        if state.get("config") != self._config():
            raise bad_value(
                "state['config']", state.get("config"), f"this pruner's configuration {self._config()}"
            )
        counters = {}
        for key in ("last_step", "last_update"):
            value = state.get(key)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < -1:
                raise bad_value(f"state[{key!r}]", value, "an int >= -1")
            counters[key] = int(value)
        history = [(int(t), float(s), float(a)) for t, s, a in state.get("history", [])]
        masking.load_state_dict(state["masking"])
        self.last_step_, self.last_update_ = counters["last_step"], counters["last_update"]
        self.history_ = history
