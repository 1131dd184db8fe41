"""Test right-hand sides for the reproduction and the benchmark (brief 37 §5).

Per grid: two smooth fields (products of sines and a Gaussian bump, one each) with 10 % white
noise added, and one point source — the smooth-plus-rough mix a pressure solve sees. Unit norm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["sample_right_hand_sides"]


def sample_right_hand_sides(shape: Sequence[int], *, seed: int = 0) -> list[np.ndarray]:
    """Three unit-norm right-hand sides (flat, C order) on a 2-D or 3-D grid of ``shape``."""
    dims = tuple(int(s) for s in shape)
    rng = np.random.default_rng(seed)
    axes = np.meshgrid(*[np.linspace(0.0, 1.0, s) for s in dims], indexing="ij")
    out = []
    for k in range(2):
        wave = np.ones(dims)
        for d, x in enumerate(axes):
            wave = wave * (np.sin if d % 2 == 0 else np.cos)((k + 1 + d) * np.pi * x)
        bump = np.exp(-20.0 * sum((x - c) ** 2 for x, c in zip(axes, (0.3, 0.6, 0.4))))
        field = (wave + bump).ravel()
        field /= np.linalg.norm(field)
        noise = rng.standard_normal(field.size)
        out.append(field + 0.1 * noise / np.linalg.norm(noise))
    point = np.zeros(dims)
    point[(*(s // 3 for s in dims[:-1]), dims[-1] // 2)] = 1.0
    out.append(point.ravel())
    return [v / np.linalg.norm(v) for v in out]
