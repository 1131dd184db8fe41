"""Random +-1 pixel shifts of small images, and a masked retraining loop that draws them every epoch.

The headline experiment of the brief for paper 12 retrains on digits 8x8 with random shifts of at
most one pixel: without augmentation (and BatchNorm) the ingredients of a phase barely diverge and
averaging them has nothing to gain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sparsehub.errors import bad_value
from sparsehub.nn.fixtures import SCHEDULES, train

from .ingredients import LR_SCHEDULES, RetrainSetting

__all__ = ["random_shifts", "train_with_shifts"]


def random_shifts(images: torch.Tensor, generator: torch.Generator, max_shift: int = 1) -> torch.Tensor:
    """Each image moved by (dy, dx), both uniform in {-max_shift, ..., max_shift}, zeros filling in.

    ``images``: (N, C, H, W). Returns a new tensor of the same shape; ``generator`` draws the shifts.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise bad_value("images", getattr(images, "shape", type(images).__name__), "a tensor of shape (N, C, H, W)")
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise bad_value("max_shift", max_shift, "an int >= 0")
    n, _, h, w = images.shape
    s = max_shift
    padded = F.pad(images, (s, s, s, s))
    offsets = torch.randint(0, 2 * s + 1, (n, 2), generator=generator)
    out = torch.empty_like(images)
    for dy in range(2 * s + 1):
        for dx in range(2 * s + 1):
            rows = ((offsets[:, 0] == dy) & (offsets[:, 1] == dx)).nonzero().flatten()
            if rows.numel():
                out[rows] = padded[rows, :, dy : dy + h, dx : dx + w]
    return out


def train_with_shifts(model: nn.Module, masking: Any, setting: RetrainSetting, data: Sequence[torch.Tensor]) -> None:
    """Masked SGD as ``sparsehub.nn.fixtures.train``, on freshly shifted images every epoch.

    A ``train_fn`` for :class:`~sparsehub_sparse_model_soups.SparseModelSoup` (module level, so
    worker processes can import it): one optimizer for the whole run, the learning rate following
    ``setting.schedule`` over all epochs, shifts and batch order drawn from ``setting.seed``.
    ``data``: (X, y, ...) with X of shape (N, C, H, W).
    """
    X, y = data[0], data[1]
    optimizer = torch.optim.SGD(
        model.parameters(), lr=setting.lr, momentum=setting.momentum, weight_decay=setting.weight_decay
    )
    factor = SCHEDULES[LR_SCHEDULES[setting.schedule]]
    generator = torch.Generator().manual_seed(setting.seed)
    steps = -(-X.shape[0] // setting.batch_size)
    total = setting.epochs * steps
    for epoch in range(setting.epochs):
        offset = epoch * steps
        train(
            model,
            (random_shifts(X, generator), y),
            epochs=1,
            lr=setting.lr,
            batch_size=setting.batch_size,
            seed=int(torch.randint(0, 2**31 - 1, (1,), generator=generator)),
            schedule=lambda t, _, offset=offset: factor(offset + t, total),
            masking=masking,
            optimizer=optimizer,
        )

