"""Sparse Model Soups and its baseline, iterative magnitude pruning, as prune-retrain estimators.

Paper 12 (Zimmer, Spiegel, Pokutta, "Sparse Model Soups: A Recipe for Improved Pruning via Model
Averaging", ICLR 2024), section 2. Both start from a trained dense model theta_0 and reach the
sparsity S in P phases, phase k pruning the fraction p = 1 - (1 - S) ** (1 / P) of the remaining
weights by magnitude (mask M_k, sparsity s_k = 1 - (1 - p) ** k), then retraining with masked SGD
under LLR (the learning rate decaying linearly to 0):

* IMP (:class:`IterativeMagnitudePruning`): one retraining run per phase.
* SMS (:class:`SparseModelSoup`): m copies ("ingredients") retrained with one setting varied, all
  sharing M_k; their average (uniform or greedy soup) keeps M_k exactly; BatchNorm statistics are
  recalibrated on a fraction of the training data; the soup seeds phase k + 1.

scikit-learn conventions: ``__init__`` stores the parameters, ``fit`` validates them and leaves
the learned state in attributes ending in ``_`` (``model_``, ``masks_``, ``history_``). ``fit``
never modifies the model it is given.
"""

from __future__ import annotations

import copy
import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from sparsehub.errors import ShapeError, bad_value
from sparsehub.mask import Mask
from sparsehub.nn.allocation import prunable_parameters
from sparsehub.nn.fixtures import evaluate
from sparsehub.nn.masking import masking_of
from sparsehub.nn.merge import average_state_dicts, recalibrate_batchnorm
from sparsehub.nn.schedule import imp_phase_fractions
from sparsehub.progress import progress

from .averaging import greedy_soup
from .ingredients import (
    LR_SCHEDULES,
    VARIATIONS,
    IngredientPool,
    RetrainSetting,
    ingredient_settings,
    resolve_n_jobs,
    setting_seed,
)
from .pruning import PRUNERS, magnitude_masks

__all__ = ["IterativeMagnitudePruning", "SparseModelSoup"]

SOUPS = ("uniform", "greedy")


def _real(name: str, value: Any, low: float, high: float, allowed: str, *, open_high: bool = True) -> float:
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(float(value))
    if ok:
        v = float(value)
        ok = low <= v < high if open_high else low <= v <= high
    if not ok:
        raise bad_value(name, value, allowed)
    return float(value)


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise bad_value(name, value, f"an int >= {minimum}")
    return int(value)


def _check_data(name: str, data: Any) -> tuple[torch.Tensor, ...]:
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 4):
        raise bad_value(name, type(data).__name__, "(X, y) or (X_train, y_train, X_test, y_test) tensors")
    if not all(isinstance(t, torch.Tensor) for t in data):
        raise bad_value(name, type(data).__name__, "a tuple of torch tensors")
    X, y = data[0], data[1]
    if X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise bad_value(name, f"<X with {X.shape[0]} rows, y with {y.shape[0]}>", "as many labels as rows (> 0)", ShapeError)
    if X.is_floating_point() and not bool(torch.isfinite(X).all()):
        raise bad_value(name, "<X with NaN or Inf>", "finite inputs")
    return tuple(data)


class _PruneRetrain:
    """The phase loop shared by IMP and SMS: validation, pruning, bookkeeping; subclasses retrain."""

    def _check_common(self) -> None:
        """Validate the parameters both estimators share (scikit-learn style: in fit, not __init__)."""
        _real("target_sparsity", self.target_sparsity, 0.0, 1.0, "a float in [0, 1)")
        _int("n_phases", self.n_phases, 1)
        _int("retrain_epochs", self.retrain_epochs, 1)
        _real("lr", self.lr, math.ulp(0.0), math.inf, "a finite float > 0")
        _real("momentum", self.momentum, 0.0, math.inf, "a finite float >= 0")
        _real("weight_decay", self.weight_decay, 0.0, math.inf, "a finite float >= 0")
        _int("batch_size", self.batch_size, 1)
        _int("seed", self.seed, 0)
        if self.threads is not None:
            _int("threads", self.threads, 1)
        if self.pruner not in PRUNERS:
            raise bad_value("pruner", self.pruner, f"one of {list(PRUNERS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise bad_value("lr_schedule", self.lr_schedule, f"one of {list(LR_SCHEDULES)}")
        exclude = (self.exclude,) if isinstance(self.exclude, (str, type)) else self.exclude
        if not isinstance(exclude, Sequence):
            raise bad_value("exclude", self.exclude, "module names, fnmatch patterns, module types or 'first'/'last'")

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, by name (scikit-learn's ``get_params``)."""
        return {name: getattr(self, name) for name in self._param_names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _base_setting(self, phase: int) -> RetrainSetting:
        return RetrainSetting(
            seed=setting_seed(self.seed, phase, 0),
            lr=float(self.lr),
            epochs=int(self.retrain_epochs),
            weight_decay=float(self.weight_decay),
            momentum=float(self.momentum),
            batch_size=int(self.batch_size),
            schedule=self.lr_schedule,
            phase=phase,
        )

    def _prepare(
        self, model: Any, data: Any, val_data: Any, train_fn: Any, val_fn: Any
    ) -> tuple[nn.Module, dict[str, torch.Tensor], list[str], Any, Any]:
        """Validate the fit arguments; return the template, its state, the prunable names, data, val_fn."""
        if not isinstance(model, nn.Module):
            raise bad_value("model", type(model).__name__, "a torch.nn.Module (the trained dense model)")
        if masking_of(model) is not None:
            raise bad_value(
                "model", "<a model with a MaskedTraining attached>", "a plain model (call remove() on the masking first)"
            )
        if train_fn is None and data is None:
            raise bad_value("data", None, "training data (X, y) when no train_fn is given")
        if train_fn is not None and not callable(train_fn):
            raise bad_value("train_fn", train_fn, "None or a callable train_fn(model, masking, setting, data)")
        data = None if data is None else _check_data("data", data)
        if val_fn is not None and val_data is not None:
            raise bad_value("val_fn", val_fn, "None when val_data is given (give one of the two)")
        if val_fn is not None and not callable(val_fn):
            raise bad_value("val_fn", val_fn, "None or a callable val_fn(model) -> score")
        if val_data is not None:
            X_val, y_val = _check_data("val_data", val_data)[:2]

            def val_fn(m: nn.Module) -> float:
                return evaluate(m, X_val, y_val)

        exclude = (self.exclude,) if isinstance(self.exclude, (str, type)) else tuple(self.exclude)
        names = list(prunable_parameters(model, exclude=exclude))
        if not names:
            raise bad_value("model", type(model).__name__, "a model with prunable Linear / convolution weights")
        hidden = [n for n in names if n not in model.state_dict()]
        if hidden:
            raise bad_value(
                "model",
                f"<re-parametrised weights {hidden}>",
                "plain weights (bake torch.nn.utils.prune / parametrize first, e.g. prune.remove)",
            )
        template = copy.deepcopy(model)
        state = {k: v.detach().clone() for k, v in template.state_dict().items()}
        return template, state, names, data, val_fn

    def _prune(
        self, state: dict[str, torch.Tensor], names: list[str], sparsity: float, masks: dict[str, torch.Tensor] | None
    ) -> dict[str, torch.Tensor]:
        """Phase masks from the effective weights of ``state``; zeroes the newly pruned weights in ``state``."""
        new = magnitude_masks({n: state[n] for n in names}, sparsity, self.pruner, masks)
        keeps = {n: m.to_torch() for n, m in new.items()}
        for n, keep in keeps.items():
            state[n] = state[n] * keep.to(state[n].device, state[n].dtype)
        return keeps

    def _finish(self, template: nn.Module, state: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> nn.Module:
        model = _load(template, state)
        self.model_ = model
        self.masks_ = {n: Mask(k.numpy()) for n, k in masks.items()}
        self.sparsity_ = 1.0 - sum(int(k.sum()) for k in masks.values()) / sum(k.numel() for k in masks.values())
        return model


def _load(template: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    model = copy.deepcopy(template)
    model.load_state_dict(state)
    return model


def _density(masks: Mapping[str, torch.Tensor]) -> float:
    return sum(int(k.sum()) for k in masks.values()) / sum(k.numel() for k in masks.values())


def _bn_running_stats(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        k: v.detach().clone()
        for k, v in model.state_dict().items()
        if k.endswith(("running_mean", "running_var"))
    }


class IterativeMagnitudePruning(_PruneRetrain):
    """IMP, the baseline of paper 12: P prune-retrain phases, one masked retraining run per phase.

    Phase k prunes to s_k (global magnitude by default, ``pruner="uniform"`` for the same rate per
    tensor) and retrains ``retrain_epochs`` epochs with SGD(``lr``, ``momentum``,
    ``weight_decay``), ``lr_schedule`` ``"llr"`` (linear decay to 0, the paper's), ``"cosine"`` or
    ``"constant"``, batches drawn from ``setting_seed(seed, k, 0)``. ``exclude``: weights left
    dense (as in ``sparsehub.nn.allocation.prunable_parameters``: names, patterns, types,
    ``"first"``/``"last"``). ``threads``: torch threads of each retraining run (None: unchanged).

    After :meth:`fit`: ``model_`` (the pruned model, pruned entries exactly 0), ``masks_`` (name
    -> Mask), ``sparsity_`` and ``history_`` (per phase: sparsity, density, n_kept, setting, score,
    seconds).
    """

    _param_names = (
        "target_sparsity", "n_phases", "pruner", "retrain_epochs", "lr", "lr_schedule", "momentum",
        "weight_decay", "batch_size", "exclude", "seed", "threads", "verbose",
    )

    def __init__(
        self,
        target_sparsity: float,
        n_phases: int = 3,
        pruner: str = "global_magnitude",
        retrain_epochs: int = 5,
        lr: float = 0.1,
        lr_schedule: str = "llr",
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        batch_size: int = 128,
        exclude: Sequence[Any] = (),
        seed: int = 0,
        threads: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.target_sparsity, self.n_phases, self.pruner = target_sparsity, n_phases, pruner
        self.retrain_epochs, self.lr, self.lr_schedule = retrain_epochs, lr, lr_schedule
        self.momentum, self.weight_decay, self.batch_size = momentum, weight_decay, batch_size
        self.exclude, self.seed, self.threads, self.verbose = exclude, seed, threads, verbose

    def fit(
        self,
        model: nn.Module,
        data: Sequence[torch.Tensor] | None = None,
        val_data: Sequence[torch.Tensor] | None = None,
        *,
        train_fn: Callable[..., Any] | None = None,
        val_fn: Callable[[nn.Module], float] | None = None,
    ) -> nn.Module:
        """Prune ``model`` (left untouched) to ``target_sparsity`` by IMP; returns the pruned copy.

        ``data``: ``(X_train, y_train)`` (or the 4-tuple of ``sparsehub.nn.fixtures``) for the
        built-in masked SGD retraining; or ``train_fn(model, masking, setting, data)`` retrains instead
        (see :func:`sparsehub_sparse_model_soups.ingredients.retrain`). ``val_data`` = (X, y) or
        ``val_fn(model) -> score`` scores each phase in ``history_`` (optional).
        """
        self._check_common()
        template, state, names, data, val_fn = self._prepare(model, data, val_data, train_fn, val_fn)
        _, sparsities = imp_phase_fractions(float(self.target_sparsity), int(self.n_phases))
        self.history_: list[dict[str, Any]] = []
        masks = None
        with IngredientPool(template, data, train_fn, 1, self.threads) as pool:
            phases = range(1, len(sparsities) + 1)
            for phase in progress(phases, desc="IMP") if self.verbose else phases:
                start = time.perf_counter()
                masks = self._prune(state, names, sparsities[phase - 1], masks)
                setting = self._base_setting(phase)
                ((state, _),) = pool.map(state, masks, [setting])
                entry: dict[str, Any] = {
                    "phase": phase,
                    "sparsity": sparsities[phase - 1],
                    "density": _density(masks),
                    "n_kept": sum(int(k.sum()) for k in masks.values()),
                    "setting": setting.to_dict(),
                }
                if val_fn is not None:
                    entry["score"] = float(val_fn(_load(template, state)))
                entry["seconds"] = time.perf_counter() - start
                self.history_.append(entry)
        return self._finish(template, state, masks)


class SparseModelSoup(_PruneRetrain):
    """SMS, paper 12: P prune-retrain phases, each retraining m same-mask ingredients and averaging them.

    Phase k: prune the previous soup to s_k (as :class:`IterativeMagnitudePruning`), retrain
    ``n_ingredients`` copies that differ in ``vary`` (``"seed"``, ``"weight_decay"``,
    ``"retrain_length"`` or ``"lr_schedule"``; ``values`` overrides the defaults of
    :func:`~sparsehub_sparse_model_soups.ingredients.ingredient_settings`), average them
    (``soup="uniform"``: weights 1/m; ``"greedy"``: :func:`~sparsehub_sparse_model_soups.averaging.greedy_soup`,
    needs validation) -- the masks are copied, never averaged, and must be identical -- then
    recompute BatchNorm statistics on the first ``bn_recalibration_frac`` of the calibration
    inputs (0 turns it off). The soup seeds phase k + 1.

    ``n_jobs``: worker processes for the ingredients (-1: all cores; 1: in this process).
    ``threads``: torch threads per ingredient run, default 1, which makes the result bit-identical
    for every ``n_jobs``; None keeps the caller's setting in-process (faster for big models, but a
    different thread count changes the last bits of the reductions, and training amplifies them).
    Other parameters as in :class:`IterativeMagnitudePruning`.

    After :meth:`fit`: ``model_``, ``masks_``, ``sparsity_`` and ``history_``, one dict per phase:
    ``sparsity``, ``density`` and ``n_kept`` (of the prunable weights), ``settings``, ``ingredient_scores``
    (as trained), ``mean_ingredient_score``,
    ``soup_score_before_recalibration``, ``soup_score``, ``selected`` (ingredients in the soup),
    ``mask_mismatches`` (entries where an ingredient's mask differs from the phase mask: always 0),
    ``bn_stat_change`` (max |change| of a BatchNorm running statistic by recalibration), ``seconds``.
    """

    _param_names = (
        "target_sparsity", "n_phases", "n_ingredients", "pruner", "vary", "values", "soup",
        "retrain_epochs", "lr", "lr_schedule", "momentum", "weight_decay", "batch_size",
        "bn_recalibration_frac", "exclude", "n_jobs", "threads", "seed", "verbose",
    )

    def __init__(
        self,
        target_sparsity: float,
        n_phases: int = 3,
        n_ingredients: int = 3,
        pruner: str = "global_magnitude",
        vary: str = "seed",
        values: Sequence[Any] | None = None,
        soup: str = "uniform",
        retrain_epochs: int = 5,
        lr: float = 0.1,
        lr_schedule: str = "llr",
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        batch_size: int = 128,
        bn_recalibration_frac: float = 0.2,
        exclude: Sequence[Any] = (),
        n_jobs: int = 1,
        threads: int | None = 1,
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        self.target_sparsity, self.n_phases, self.n_ingredients = target_sparsity, n_phases, n_ingredients
        self.pruner, self.vary, self.values, self.soup = pruner, vary, values, soup
        self.retrain_epochs, self.lr, self.lr_schedule = retrain_epochs, lr, lr_schedule
        self.momentum, self.weight_decay, self.batch_size = momentum, weight_decay, batch_size
        self.bn_recalibration_frac, self.exclude = bn_recalibration_frac, exclude
        self.n_jobs, self.threads, self.seed, self.verbose = n_jobs, threads, seed, verbose

    def fit(
        self,
        model: nn.Module,
        data: Sequence[torch.Tensor] | None = None,
        val_data: Sequence[torch.Tensor] | None = None,
        *,
        train_fn: Callable[..., Any] | None = None,
        val_fn: Callable[[nn.Module], float] | None = None,
        calib_data: Any = None,
    ) -> nn.Module:
        """Prune ``model`` (left untouched) to ``target_sparsity`` with sparse model soups; returns the soup.

        ``data``: ``(X_train, y_train)`` (or the 4-tuple of ``sparsehub.nn.fixtures``) for the
        built-in masked SGD retraining, or ``train_fn(model, masking, setting, data)`` retrains each
        ingredient instead: it gets the masked copy, its ``MaskedTraining`` (register the optimizer
        with it), the ingredient's :class:`RetrainSetting` and ``data`` as given (None allowed); it
        must be module-level, hence picklable, when ``n_jobs != 1``.
        ``val_data`` = (X, y) or ``val_fn(model) -> score`` (higher is better): scores in
        ``history_``, required by the greedy soup. ``calib_data``: inputs for BatchNorm
        recalibration (a tensor or a loader); default ``data[0]``.
        """
        self._check_common()
        m = _int("n_ingredients", self.n_ingredients, 2)
        if self.vary not in VARIATIONS:
            raise bad_value("vary", self.vary, f"one of {list(VARIATIONS)}")
        if self.soup not in SOUPS:
            raise bad_value("soup", self.soup, f"one of {list(SOUPS)}")
        frac = _real(
            "bn_recalibration_frac", self.bn_recalibration_frac, 0.0, 1.0, "a float in [0, 1] (0 = off)", open_high=False
        )
        n_workers = min(resolve_n_jobs(self.n_jobs), m)
        ingredient_settings(self._base_setting(1), self.vary, m, self.values, seed=self.seed)  # checks `values`
        template, state, names, data, val_fn = self._prepare(model, data, val_data, train_fn, val_fn)
        if self.soup == "greedy" and val_fn is None:
            raise bad_value(
                "soup", self.soup, "'uniform', or give val_data or val_fn: the greedy soup needs a validation score"
            )
        has_bn = any(
            isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.track_running_stats for mod in template.modules()
        )
        calib = calib_data if calib_data is not None else (None if data is None else data[0])
        if has_bn and frac > 0 and calib is None:
            raise bad_value(
                "calib_data", None, "inputs for BatchNorm recalibration (or data, or bn_recalibration_frac=0)"
            )
        recalibrate = has_bn and frac > 0
        _, sparsities = imp_phase_fractions(float(self.target_sparsity), int(self.n_phases))
        self.history_: list[dict[str, Any]] = []
        masks = None
        with IngredientPool(template, data, train_fn, n_workers, self.threads) as pool:
            phases = range(1, len(sparsities) + 1)
            for phase in progress(phases, desc="SMS") if self.verbose else phases:
                start = time.perf_counter()
                masks = self._prune(state, names, sparsities[phase - 1], masks)
                settings = ingredient_settings(self._base_setting(phase), self.vary, m, self.values, seed=self.seed)
                results = pool.map(state, masks, settings)
                states = [r[0] for r in results]
                ingredient_masks = [r[1] for r in results]
                mismatches = sum(int((im[n] != masks[n]).sum()) for im in ingredient_masks for n in names)
                scores = [float(val_fn(_load(template, s))) for s in states] if val_fn is not None else None
                entry: dict[str, Any] = {
                    "phase": phase,
                    "sparsity": sparsities[phase - 1],
                    "density": _density(masks),
                    "n_kept": sum(int(k.sum()) for k in masks.values()),
                    "settings": [s.to_dict() for s in settings],
                    "mask_mismatches": mismatches,
                    "ingredient_scores": scores,
                    "mean_ingredient_score": None if scores is None else sum(scores) / m,
                }
                if self.soup == "uniform":
                    soup = _load(template, average_state_dicts(states, masks=ingredient_masks))
                    entry["selected"] = list(range(m))
                    entry["soup_score_before_recalibration"] = None if val_fn is None else float(val_fn(soup))
                    averaged = _bn_running_stats(soup)
                    if recalibrate:
                        recalibrate_batchnorm(soup, calib, frac)
                    after = _bn_running_stats(soup)
                    entry["bn_stat_change"] = max(
                        (float((after[k] - averaged[k]).abs().max()) for k in averaged), default=0.0
                    )
                else:
                    soup, chosen = greedy_soup(
                        [_load(template, s) for s in states],
                        val_fn,
                        masks=ingredient_masks,
                        calib_data=calib if recalibrate else None,
                        bn_recalibration_frac=frac,
                    )
                    entry["selected"] = chosen
                    entry["soup_score_before_recalibration"] = None
                    entry["bn_stat_change"] = None
                entry["soup_score"] = None if val_fn is None else float(val_fn(soup))
                state = {k: v.detach().clone() for k, v in soup.state_dict().items()}
                entry["seconds"] = time.perf_counter() - start
                self.history_.append(entry)
        return self._finish(template, state, masks)
