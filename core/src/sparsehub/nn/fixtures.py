"""The small data sets, models and training loop every reproduction uses, seeded and deterministic.

Data (scikit-learn, imported inside the functions and generated once per process):

* :func:`synth10` -- ``make_classification(n_samples=8000, n_features=40, n_informative=30,
  n_redundant=0, n_classes=10, n_clusters_per_class=3, class_sep=1.0, random_state=seed)``, split by
  ``train_test_split(test_size=0.25, random_state=seed)``, standardised with the training mean and
  standard deviation. A 40-H-H-10 MLP reaches about 0.48 / 0.62 / 0.69 test accuracy at
  H = 32 / 128 / 512: hard enough that capacity matters.
* :func:`digits` -- ``load_digits()``, pixels / 16, stratified 75 / 25 split; flat (64,) or 1x8x8.

Models: :func:`mlp`, :func:`tiny_cnn`. Training: :func:`train` (SGD with momentum, cosine / linear /
constant learning rate per step, shuffling from a ``torch.Generator``) and :func:`evaluate`.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from sparsehub.errors import ShapeError, bad_value

__all__ = [
    "SCHEDULES",
    "digits",
    "evaluate",
    "minibatches",
    "mlp",
    "synth10",
    "tiny_cnn",
    "train",
]

#: Learning-rate schedules of :func:`train`, as a factor of ``lr`` at step t of T.
SCHEDULES: dict[str, Callable[[int, int], float]] = {
    "cosine": lambda t, total: 0.5 * (1.0 + math.cos(math.pi * t / total)),
    "linear": lambda t, total: 1.0 - t / total,  # "LLR": linear decay to zero (paper 12)
    "constant": lambda t, total: 1.0,
}


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise bad_value("seed", seed, "an int >= 0")
    return int(seed)


# --------------------------------------------------------------------------------------------------
# Data


@functools.cache
def _synth10_arrays(seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(
        n_samples=8000,
        n_features=40,
        n_informative=30,
        n_redundant=0,
        n_classes=10,
        n_clusters_per_class=3,
        class_sep=1.0,
        random_state=seed,
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    arrays = ((X_train - mean) / std, y_train, (X_test - mean) / std, y_test)
    for a in arrays:
        a.setflags(write=False)
    return arrays


@functools.cache
def _digits_arrays(seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.25, random_state=seed, stratify=y
    )
    arrays = (X_train, y_train, X_test, y_test)
    for a in arrays:
        a.setflags(write=False)
    return arrays


def _tensors(
    arrays: tuple[np.ndarray, ...], shape: tuple[int, ...] | None = None
) -> tuple[torch.Tensor, ...]:
    """Fresh float32 / int64 tensors (copies: the cached arrays stay untouched)."""
    X_train, y_train, X_test, y_test = arrays
    out = []
    for X, y in ((X_train, y_train), (X_test, y_test)):
        x = torch.tensor(X, dtype=torch.float32)
        out += [x if shape is None else x.reshape(-1, *shape), torch.tensor(y, dtype=torch.int64)]
    return tuple(out)


def synth10(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The synthetic 10-class task: ``(X_train, y_train, X_test, y_test)``.

    Shapes (6000, 40) float32, (6000,) int64, (2000, 40), (2000,); see the module docstring for the
    exact recipe (``seed`` is the ``random_state`` of both generation and split; 0 is the brief's).
    """
    return _tensors(_synth10_arrays(_check_seed(seed)))  # type: ignore[return-value]


def digits(
    image: bool = False, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """sklearn's 8x8 digits, pixels in [0, 1]: ``(X_train, y_train, X_test, y_test)``.

    Stratified split, 25 % test, ``random_state=seed``: 1347 / 450 examples. ``image=False`` gives
    rows of 64 features, ``image=True`` tensors of shape (N, 1, 8, 8).
    """
    if not isinstance(image, bool):
        raise bad_value("image", image, "True or False")
    return _tensors(_digits_arrays(_check_seed(seed)), (1, 8, 8) if image else None)  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------
# Models


def _seeded(seed: int | None, build: Callable[[], nn.Module]) -> nn.Module:
    """Build under a private RNG state when a seed is given, leaving the global one untouched."""
    if seed is None:
        return build()
    seed = _check_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _check_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise bad_value(name, value, "an int >= 1")
    return int(value)


def mlp(
    in_features: int, hidden: int, out_features: int, depth: int = 2, *, seed: int | None = None
) -> nn.Sequential:
    """A ReLU MLP with ``depth`` hidden layers of width ``hidden``: in-H-...-H-out (depth + 1 Linear).

    ``mlp(40, 128, 10)`` is the brief's 40-128-128-10 network. torch's default initialisation,
    drawn from ``seed`` when given (the global RNG is left as it was).
    """
    dims = [_check_positive("in_features", in_features)]
    dims += [_check_positive("hidden", hidden)] * _check_positive("depth", depth)
    dims += [_check_positive("out_features", out_features)]

    def build() -> nn.Sequential:
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(dims)):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    return _seeded(seed, build)  # type: ignore[return-value]


def tiny_cnn(
    in_channels: int = 1,
    n_classes: int = 10,
    channels: Sequence[int] = (16, 32),
    image_size: int = 8,
    *,
    seed: int | None = None,
) -> nn.Sequential:
    """A small CNN for 1x8x8 digits: per entry of ``channels`` a 3x3 conv (padding 1, no bias) -
    BatchNorm - ReLU - 2x2 max-pool block, then a Linear classifier on the flattened features.

    With the defaults: 8x8 -> 4x4 -> 2x2, classifier 32 * 2 * 2 -> 10. ``image_size`` must stay
    divisible by 2 ** len(channels).
    """
    in_channels = _check_positive("in_channels", in_channels)
    n_classes = _check_positive("n_classes", n_classes)
    widths = [_check_positive("channels", c) for c in channels]
    if not widths:
        raise bad_value("channels", channels, "at least one channel count")
    size = _check_positive("image_size", image_size)
    if size % 2 ** len(widths):
        raise bad_value(
            "image_size", image_size, f"a multiple of {2 ** len(widths)} (one 2x2 pool per block)", ShapeError
        )

    def build() -> nn.Sequential:
        layers: list[nn.Module] = []
        c = in_channels
        for width in widths:
            layers += [
                nn.Conv2d(c, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            c = width
        side = size // 2 ** len(widths)
        layers += [nn.Flatten(), nn.Linear(c * side * side, n_classes)]
        return nn.Sequential(*layers)

    return _seeded(seed, build)  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------
# Training


def minibatches(
    X: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled mini-batches (the last one may be smaller), order from ``generator``."""
    order = torch.randperm(X.shape[0], generator=generator)
    for start in range(0, X.shape[0], batch_size):
        idx = order[start : start + batch_size]
        yield X[idx], y[idx]


def _training_data(data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 4):
        raise bad_value(
            "data", type(data).__name__, "(X_train, y_train) or (X_train, y_train, X_test, y_test)"
        )
    X, y = data[0], data[1]
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise bad_value("data", type(data).__name__, "tensors (X_train, y_train, ...)")
    if X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise bad_value(
            "data",
            f"<X with {X.shape[0]} rows, y with {y.shape[0]}>",
            "as many labels as rows (> 0)",
            ShapeError,
        )
    return X, y


def train(
    model: nn.Module,
    data: Sequence[torch.Tensor],
    *,
    epochs: int,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    batch_size: int = 128,
    seed: int,
    schedule: str | Callable[[int, int], float] = "cosine",
    masking: Any = None,
    optimizer: torch.optim.Optimizer | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train a classifier in place with SGD and cross-entropy; deterministic for a given ``seed``.

    The brief's recipe: SGD(lr, momentum 0.9, weight decay 1e-4), batch 128, the learning rate
    set before every step to lr * schedule(t, T) (t = 0 .. T-1 over T = epochs * batches steps;
    ``"cosine"``, ``"linear"`` (LLR) or ``"constant"``, or a callable). Batches are reshuffled each
    epoch from ``torch.Generator().manual_seed(seed)``; the global RNG (dropout) is seeded from
    ``seed`` inside and restored afterwards, so two calls with the same model state and seed
    produce bit-identical weights.

    ``masking``: a callable, called as ``masking(t)`` right after each ``optimizer.step()`` with t
    the 0-based index of that step (prune on a schedule, re-apply masks, ...), and/or an object
    with ``register_optimizer(optimizer)`` (a :class:`sparsehub.nn.masking.MaskedTraining`), which
    is given the optimizer before the first step. ``optimizer``: use this one instead of a new
    SGD(lr, momentum, weight_decay); its ``lr`` is still scheduled.
    ``data``: ``(X_train, y_train)`` or the 4-tuple of :func:`synth10` / :func:`digits`.
    Returns ``{"loss": [mean training loss per epoch], "steps": T}``.
    """
    if not isinstance(model, nn.Module):
        raise bad_value("model", type(model).__name__, "a torch.nn.Module")
    X, y = _training_data(data)
    epochs = _check_positive("epochs", epochs)
    batch_size = _check_positive("batch_size", batch_size)
    seed = _check_seed(seed)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise bad_value("lr", lr, "a finite float > 0")
    for name, value in (("momentum", momentum), ("weight_decay", weight_decay)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise bad_value(name, value, "a finite float >= 0")
    factor = SCHEDULES.get(schedule) if isinstance(schedule, str) else schedule
    if not callable(factor):
        raise bad_value(
            "schedule", schedule, f"one of {sorted(SCHEDULES)} or a callable (step, total) -> factor"
        )
    register = getattr(masking, "register_optimizer", None)
    if masking is not None and not callable(masking) and not callable(register):
        raise bad_value(
            "masking",
            type(masking).__name__,
            "None, a callable masking(step) or an object with register_optimizer",
        )
    if optimizer is None:
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    elif not isinstance(optimizer, torch.optim.Optimizer):
        raise bad_value("optimizer", type(optimizer).__name__, "None or a torch.optim.Optimizer")
    if callable(register):
        register(optimizer)
    after_step = masking if callable(masking) else None
    device = next((p.device for p in model.parameters()), X.device)
    steps_per_epoch = math.ceil(X.shape[0] / batch_size)
    total = epochs * steps_per_epoch
    generator = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    history: list[float] = []
    step = 0
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in range(epochs):
            running, seen = 0.0, 0
            for xb, yb in minibatches(X, y, batch_size, generator):
                xb, yb = xb.to(device), yb.to(device)
                for group in optimizer.param_groups:
                    group["lr"] = lr * factor(step, total)
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                optimizer.step()
                if after_step is not None:
                    after_step(step)
                step += 1
                running += loss.item() * xb.shape[0]
                seen += xb.shape[0]
            history.append(running / seen)
            if progress:
                print(f"epoch {epoch + 1}/{epochs}  loss {history[-1]:.4f}")
    return {"loss": history, "steps": total}


def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 2048) -> float:
    """Top-1 accuracy of ``model`` on ``(X, y)``, in eval mode without gradients (flags restored)."""
    if (
        not isinstance(X, torch.Tensor)
        or not isinstance(y, torch.Tensor)
        or X.shape[0] != y.shape[0]
        or X.shape[0] == 0
    ):
        raise bad_value(
            "X, y", "<mismatched or empty>", "tensors with the same number of rows (> 0)", ShapeError
        )
    flags = {m: m.training for m in model.modules()}
    device = next((p.device for p in model.parameters()), X.device)
    correct = 0
    try:
        model.eval()
        with torch.no_grad():
            for start in range(0, X.shape[0], batch_size):
                logits = model(X[start : start + batch_size].to(device))
                correct += int((logits.argmax(dim=1).cpu() == y[start : start + batch_size]).sum())
    finally:
        for m, flag in flags.items():
            m.training = flag
    return correct / X.shape[0]
