"""The convolutional network f_θ that approximates the action of A⁻¹ up to a scale (paper §3.2, Fig. 2).

The official model (``src/train.py`` of ayano721/2023_DCDM), here for 2-D or 3-D grids:

* a linear 3^d convolution from the residual field to ``channels`` feature maps;
* at full resolution: one (conv, ReLU) layer, ``fine_blocks`` residual pairs
  ``h ← ReLU(conv(ReLU(conv(h)))) + h``, one more (conv, ReLU) layer whose output ``s`` is kept
  for the skip connection;
* 2× average pooling of ``s``, ``coarse_blocks`` residual pairs at the coarse level;
* nearest upsampling back to the fine grid plus ``s``, ``post_blocks`` residual pairs;
* a final linear 1×1 convolution (keras ``Dense(1)``) to one channel.

It is fully convolutional, so one trained model applies to every grid size (odd sizes too: the
pooling keeps the partial border cells and the upsampling crops back to the fine size).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sparsehub.errors import ShapeError, bad_value

__all__ = ["DCDMNet", "fast_convolutions"]


@contextmanager
def fast_convolutions() -> Iterator[None]:
    """Run the body with oneDNN convolutions off (restored after).

    On the CPU build of torch, oneDNN is 1.5-4x slower than the native kernels for these small
    16-channel 3x3 convolutions (measured 12.7 ms vs 9.0 ms on 8x16x32x32); a context manager
    rather than a global switch so that a caller's own setting survives.
    """
    old = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = old


class _Pair(nn.Module):
    """One residual pair: h + ReLU(conv(ReLU(conv(h))))."""

    def __init__(self, conv: type[nn.Module], channels: int) -> None:
        super().__init__()
        self.a = conv(channels, channels, 3, padding=1)
        self.b = conv(channels, channels, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.relu(self.b(F.relu(self.a(h)))) + h


class DCDMNet(nn.Module):
    """f_θ: residual field (B, 1, *grid) -> search direction field (B, 1, *grid), float32.

    ``dim`` is 2 or 3; the defaults are the official model's (16 channels, 1 fine residual pair
    before pooling, 3 coarse pairs, 2 pairs after upsampling). :meth:`direction` applies it to a
    flat float64 vector as the solver does.
    """

    def __init__(self, dim: int = 2, channels: int = 16, fine_blocks: int = 1, coarse_blocks: int = 3,
                 post_blocks: int = 2, seed: int | None = 0) -> None:
        super().__init__()
        if dim not in (2, 3):
            raise bad_value("dim", dim, "2 or 3")
        for name, value, low in (("channels", channels, 1), ("fine_blocks", fine_blocks, 0),
                                 ("coarse_blocks", coarse_blocks, 0), ("post_blocks", post_blocks, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise bad_value(name, value, f"an int >= {low}")
        self.dim = dim
        self.config = {"dim": dim, "channels": channels, "fine_blocks": fine_blocks,
                       "coarse_blocks": coarse_blocks, "post_blocks": post_blocks}
        conv = nn.Conv2d if dim == 2 else nn.Conv3d
        self._pool = F.avg_pool2d if dim == 2 else F.avg_pool3d
        generator_state = torch.random.get_rng_state()
        if seed is not None:
            torch.manual_seed(seed)  # deterministic initialisation; the global stream is restored below
        try:
            self.lift = conv(1, channels, 3, padding=1)
            self.enter = conv(channels, channels, 3, padding=1)
            self.fine = nn.Sequential(*[_Pair(conv, channels) for _ in range(fine_blocks)])
            self.skip = conv(channels, channels, 3, padding=1)
            self.coarse = nn.Sequential(*[_Pair(conv, channels) for _ in range(coarse_blocks)])
            self.post = nn.Sequential(*[_Pair(conv, channels) for _ in range(post_blocks)])
            self.out = conv(channels, 1, 1)
        finally:
            if seed is not None:
                torch.random.set_rng_state(generator_state)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """q = f_θ(r) for a batch of residual fields of shape (B, 1, *grid)."""
        if r.ndim != self.dim + 2 or r.shape[1] != 1:
            raise bad_value("r.shape", tuple(r.shape), f"(batch, 1, *grid) with a {self.dim}-D grid",
                            ShapeError)
        h = F.relu(self.enter(self.lift(r)))
        s = F.relu(self.skip(self.fine(h)))
        c = self.coarse(self._pool(s, 2, ceil_mode=True))
        u = F.interpolate(c, scale_factor=2.0, mode="nearest")
        u = u[(..., *(slice(0, n) for n in s.shape[2:]))] + s
        return self.out(self.post(u))

    def direction(self, r: np.ndarray, grid_shape: Sequence[int]) -> np.ndarray:
        """The search direction f_θ(r / ‖r‖) for a flat residual, as float64 (inference, no autograd)."""
        norm = float(np.linalg.norm(r))
        field = torch.from_numpy((r / (norm if norm > 0 else 1.0)).astype(np.float32))
        with torch.inference_mode(), fast_convolutions():
            q = self(field.reshape(1, 1, *grid_shape))
        return q.reshape(-1).double().numpy()

    @classmethod
    def load(cls, path: str) -> DCDMNet:
        """A model saved by :meth:`save` (its configuration and weights)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        config = {k: int(v) for k, v in state.pop("_config").items()}
        model = cls(**config, seed=None)
        model.load_state_dict(state)
        return model.eval()

    def save(self, path: str) -> None:
        """Save configuration and weights (a torch state dict, loadable with ``weights_only``)."""
        state = dict(self.state_dict())
        state["_config"] = {k: torch.tensor(v) for k, v in self.config.items()}
        torch.save(state, path)
