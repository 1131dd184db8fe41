"""The reproduction's downstream model: a small MLP classifier of sklearn's 8×8 digits, trained once.

64 → 256 → ReLU → 64 → ReLU (the hook site ``"site"``, 64-d) → 128 → ReLU → 10, trained with Adam
on 75 % of the 1797 digits (pixels scaled to [0, 1]) and then frozen; the held-out 25 % is the
evaluation set. The dataset ships with scikit-learn, so nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["DigitsTask", "digits_task"]


@dataclass
class DigitsTask:
    """A frozen classifier, its hook name and the train / test splits (inputs float32, labels int64)."""

    model: nn.Module
    hook: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    test_accuracy: float
    test_ce: float


def digits_task(seed: int = 0, epochs: int = 300) -> DigitsTask:
    """Train (full batch, Adam lr 3e-3, weight decay 1e-4) and freeze the digits MLP."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y), generator=gen)
    n_train = int(0.75 * len(y))
    tr, te = perm[:n_train], perm[n_train:]
    torch.manual_seed(seed)
    model = nn.Sequential()
    model.add_module("fc1", nn.Linear(64, 256))
    model.add_module("act1", nn.ReLU())
    model.add_module("fc2", nn.Linear(256, 64))
    model.add_module("site", nn.ReLU())
    model.add_module("fc3", nn.Linear(64, 128))
    model.add_module("act3", nn.ReLU())
    model.add_module("out", nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[tr]), y[tr]).backward()
        opt.step()
    model.eval().requires_grad_(False)
    with torch.no_grad():
        logits = model(x[te])
        acc = float((logits.argmax(-1) == y[te]).float().mean())
        ce = float(nn.functional.cross_entropy(logits, y[te]))
    return DigitsTask(model, "site", x[tr], y[tr], x[te], y[te], acc, ce)
