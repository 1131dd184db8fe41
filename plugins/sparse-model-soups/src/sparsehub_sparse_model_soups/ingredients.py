"""Retraining ingredients: their varied settings, one masked retraining run, and running m of them in parallel.

Paper 12, section 2: in every phase the pruned soup is copied m times and each copy ("ingredient")
is retrained with one setting varied -- the random seed (batch order, augmentation), the weight
decay, the retraining length or the learning-rate schedule (the official code's ``ensemble_by``:
``pruned_seed``, ``weight_decay``, ``retrain_length``, ``retrain_schedule``). All ingredients share
the phase's mask; the core's ``MaskedTraining`` keeps the pruned weights and their momentum at
exactly 0 through every SGD step.

The ingredients are independent, so they run in worker processes (``spawn`` context, one torch
thread each, the model template, data and training function sent once per worker). Models travel
as ``torch.save`` bytes, so nothing depends on shared-memory tensor passing.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import multiprocessing
import numbers
import os
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from sparsehub.errors import bad_value
from sparsehub.nn.fixtures import train
from sparsehub.nn.masking import attach

__all__ = [
    "LR_SCHEDULES",
    "VARIATIONS",
    "IngredientPool",
    "RetrainSetting",
    "ingredient_settings",
    "resolve_n_jobs",
    "retrain",
    "setting_seed",
]

#: What the ingredients of one phase differ in (paper 12's ``ensemble_by``).
VARIATIONS = ("seed", "weight_decay", "retrain_length", "lr_schedule")

#: Learning-rate schedules of a retraining run, as names of ``sparsehub.nn.fixtures.SCHEDULES``:
#: "llr" is the paper's linear decay to zero.
LR_SCHEDULES = {"llr": "linear", "cosine": "cosine", "constant": "constant"}


@dataclass(frozen=True)
class RetrainSetting:
    """The hyperparameters of one retraining run (one ingredient, or IMP's single retrain).

    SGD with ``momentum`` and ``weight_decay``, ``epochs`` passes over the data in batches of
    ``batch_size``, learning rate ``lr`` shaped by ``schedule`` (a key of :data:`LR_SCHEDULES`),
    batch order (and any augmentation of a custom ``train_fn``) drawn from ``seed``.
    ``phase`` (1-based) and ``index`` (0-based ingredient number) say where the run belongs.
    """

    seed: int
    lr: float
    epochs: int
    weight_decay: float = 1e-4
    momentum: float = 0.9
    batch_size: int = 128
    schedule: str = "llr"
    phase: int = 1
    index: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def setting_seed(seed: int, phase: int, index: int) -> int:
    """The retraining seed of ingredient ``index`` in ``phase``: a 31-bit hash of the three numbers.

    IMP's retrain of phase k uses ``setting_seed(seed, k, 0)``, the seed of SMS's first ingredient,
    so the two methods start each comparison from the same batch order.
    """
    return int(np.random.SeedSequence([seed, phase, index]).generate_state(1)[0] >> 1)


def ingredient_settings(
    base: RetrainSetting, vary: str, n_ingredients: int, values: Sequence[Any] | None = None, *, seed: int = 0
) -> list[RetrainSetting]:
    """The m settings of one phase: ``base`` with the field named by ``vary`` set per ingredient.

    ``vary``: ``"seed"`` (default values: :func:`setting_seed` ``(seed, base.phase, i)``),
    ``"weight_decay"`` (base * 2 ** (i - (m - 1) / 2): a geometric spread around the base),
    ``"retrain_length"`` (epochs round(E * f_i), f_i evenly spaced in [0.5, 1.5], at least 1; mean E),
    ``"lr_schedule"`` (``"llr"``, ``"cosine"``, ``"constant"`` in turn; give ``values`` for m > 3).
    When ``vary`` is not ``"seed"`` every ingredient keeps the seed of ingredient 0, so only the
    varied setting differs. ``values``: one value per ingredient instead of the defaults.
    """
    if vary not in VARIATIONS:
        raise bad_value("vary", vary, f"one of {list(VARIATIONS)}")
    m = n_ingredients
    if values is not None:
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) != m:
            raise bad_value("values", values, f"None or a sequence of {m} values, one per ingredient")
        values = list(values)
    common = setting_seed(seed, base.phase, 0)
    if vary == "seed":
        raw = values if values is not None else [setting_seed(seed, base.phase, i) for i in range(m)]
        return [replace(base, seed=_check_seed_value(v), index=i) for i, v in enumerate(raw)]
    if vary == "weight_decay":
        raw = values if values is not None else [base.weight_decay * 2.0 ** (i - (m - 1) / 2) for i in range(m)]
        for v in raw:
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= v < math.inf:
                raise bad_value("values", raw, "finite weight decays >= 0")
        return [replace(base, seed=common, weight_decay=float(v), index=i) for i, v in enumerate(raw)]
    if vary == "retrain_length":
        if values is None:
            raw = [max(1, round(base.epochs * (0.5 + i / (m - 1)))) for i in range(m)]
        else:
            raw = values
        for v in raw:
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise bad_value("values", raw, "epoch counts, ints >= 1")
        return [replace(base, seed=common, epochs=int(v), index=i) for i, v in enumerate(raw)]
    if values is None:
        if m > len(LR_SCHEDULES):
            raise bad_value(
                "values", None, f"one schedule per ingredient (only {len(LR_SCHEDULES)} defaults for m={m})"
            )
        values = list(LR_SCHEDULES)[:m]
    for v in values:
        if v not in LR_SCHEDULES:
            raise bad_value("values", values, f"schedules from {list(LR_SCHEDULES)}")
    return [replace(base, seed=common, schedule=v, index=i) for i, v in enumerate(values)]


def _check_seed_value(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise bad_value("values", value, "seeds, ints >= 0")
    return int(value)


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run the body with ``threads`` intra-op threads (None: leave the setting alone), then restore."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def retrain(
    template: nn.Module,
    state: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    setting: RetrainSetting,
    data: Sequence[torch.Tensor] | None,
    train_fn: Callable[..., Any] | None = None,
    threads: int | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One masked retraining run: a copy of ``template`` loaded with ``state``, masked, retrained.

    The copy gets ``masks`` attached (``sparsehub.nn.masking.attach``), then is trained either by
    ``sparsehub.nn.fixtures.train`` on ``data`` with ``setting`` (SGD, fresh momentum) or by
    ``train_fn(model, masking, setting, data)``, which must hand its optimizer to
    ``masking.register_optimizer`` (or call ``masking.apply_()`` after each step). The global torch
    RNG is seeded from ``setting.seed`` and restored. Returns the trained state dict (masks baked
    in: pruned entries exactly 0) and the masks the run ended with, by name.
    """
    model = copy.deepcopy(template)
    model.load_state_dict(state)
    masking = attach(model, dict(masks))
    with _torch_threads(threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(setting.seed)
        if train_fn is None:
            train(
                model,
                data,
                epochs=setting.epochs,
                lr=setting.lr,
                momentum=setting.momentum,
                weight_decay=setting.weight_decay,
                batch_size=setting.batch_size,
                seed=setting.seed,
                schedule=LR_SCHEDULES[setting.schedule],
                masking=masking,
            )
        else:
            train_fn(model, masking, setting, data)
    final = masking.remove()
    return model.state_dict(), {name: final[name].to_torch() for name in masks}


# --------------------------------------------------------------------------------------------------
# Worker processes

_WORKER: dict[str, Any] = {}  # per worker process: what _init_worker received, sent once


def _dumps(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _loads(blob: bytes) -> Any:
    return torch.load(io.BytesIO(blob), weights_only=True)


def _init_worker(shared: bytes, threads: int) -> None:
    torch.set_num_threads(threads)
    _WORKER.update(pickle.loads(shared), threads=threads)


def _work(job: bytes) -> bytes:
    state, masks, setting = _loads(job)
    w = _WORKER
    result = retrain(w["template"], state, masks, RetrainSetting(**setting), w["data"], w["train_fn"], w["threads"])
    return _dumps(result)


def resolve_n_jobs(n_jobs: Any) -> int:
    """Worker count for ``n_jobs``: an int >= 1, or -1 for every core this process may use."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or (n_jobs < 1 and n_jobs != -1):
        raise bad_value("n_jobs", n_jobs, "an int >= 1, or -1 for all cores")
    if n_jobs == -1:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)
    return int(n_jobs)


class IngredientPool:
    """Runs :func:`retrain` for many settings, in this process or in ``n_workers`` worker processes.

    Use as a context manager (the workers start on entry, once for all phases, and stop on exit).
    ``threads``: torch threads per retraining run; None keeps the caller's setting in this process
    and gives each worker 1. With the same ``threads`` in every mode the results are bit-identical
    whatever ``n_workers`` is: a run's arithmetic depends only on its inputs and its thread count
    (CPU reductions split by thread count round differently, and training amplifies a last-bit
    difference). ``train_fn`` and ``template`` must be picklable when ``n_workers > 1``.
    """

    def __init__(
        self,
        template: nn.Module,
        data: Sequence[torch.Tensor] | None,
        train_fn: Callable[..., Any] | None,
        n_workers: int = 1,
        threads: int | None = None,
    ) -> None:
        self.template, self.data, self.train_fn = template, data, train_fn
        self.n_workers, self.threads = n_workers, threads
        self._executor: ProcessPoolExecutor | None = None
        self._shared: bytes | None = None
        if n_workers > 1:
            try:
                self._shared = pickle.dumps({"template": template, "data": data, "train_fn": train_fn})
            except (pickle.PicklingError, AttributeError, TypeError) as exc:
                raise bad_value(
                    "train_fn",
                    getattr(train_fn, "__qualname__", train_fn),
                    "a picklable (module-level) function and a picklable model when n_jobs != 1 "
                    f"(pickling failed: {exc})",
                ) from None

    def __enter__(self) -> IngredientPool:
        if self._shared is not None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.n_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self._shared, 1 if self.threads is None else self.threads),
            )
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def map(
        self, state: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor], settings: Sequence[RetrainSetting]
    ) -> list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]:
        """Retrain one copy of ``state`` under ``masks`` per setting; results in the order of ``settings``."""
        if self._executor is None:
            return [
                retrain(self.template, state, masks, s, self.data, self.train_fn, self.threads) for s in settings
            ]
        jobs = [_dumps((dict(state), dict(masks), s.to_dict())) for s in settings]
        futures = [self._executor.submit(_work, job) for job in jobs]
        return [_loads(f.result()) for f in futures]
