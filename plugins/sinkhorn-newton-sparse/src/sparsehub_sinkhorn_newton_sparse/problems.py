"""The paper's kinds of test problems (Section 6), generated without any download.

* random assignment: cost C ~ U[0, 1]^{n x n}, uniform marginals (the paper's first example);
* point clouds: two 2-D Gaussian mixtures, squared Euclidean cost normalised to max 1 (W2);
* discretised densities on a k x k grid (the paper uses MNIST images, 28 x 28): two smooth
  random images as marginals, with the L1 grid distance (W1, where the OT plan is not unique)
  or the squared Euclidean distance (W2) as cost, normalised to max 1.

Each returns (a, b, M) ready for :func:`sinkhorn_newton_sparse`.
"""

from __future__ import annotations

import numpy as np

from sparsehub.errors import bad_value

__all__ = ["gaussian_mixture_clouds", "grid_densities", "random_assignment"]


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def random_assignment(n: int, seed: int | np.random.Generator = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform marginals 1/n and a uniform random cost in [0, 1]^{n x n}."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise bad_value("n", n, "a positive int")
    w = np.full(n, 1.0 / n)
    return w, w.copy(), _rng(seed).random((n, n))


def gaussian_mixture_clouds(
    n: int, seed: int | np.random.Generator = 0, components: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two clouds of n points, each from its own 2-D Gaussian mixture; squared distances / max."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise bad_value("n", n, "a positive int")
    rng = _rng(seed)

    def cloud() -> np.ndarray:
        centres = rng.uniform(-2, 2, size=(components, 2))
        labels = rng.integers(components, size=n)
        return centres[labels] + 0.4 * rng.standard_normal((n, 2))

    X, Y = cloud(), cloud()
    M = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    w = np.full(n, 1.0 / n)
    return w, w.copy(), M / M.max()


def grid_densities(
    k: int = 28, metric: str = "l1", seed: int | np.random.Generator = 0, blobs: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two random smooth densities on a k x k grid (n = k^2) and the grid cost (``metric`` l1 or l2).

    Each density is a sum of ``blobs`` Gaussian bumps plus a floor of 1e-3 of its mean (so every
    pixel carries mass, as after the usual smoothing of MNIST images), normalised to 1.
    """
    if metric not in ("l1", "l2"):
        raise bad_value("metric", metric, "'l1' (W1) or 'l2' (squared Euclidean, W2)")
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise bad_value("k", k, "an int >= 2")
    rng = _rng(seed)
    yy, xx = np.mgrid[0:k, 0:k] / (k - 1)
    pts = np.column_stack((yy.ravel(), xx.ravel()))

    def density() -> np.ndarray:
        img = np.zeros(k * k)
        for _ in range(blobs):
            centre = rng.uniform(0.15, 0.85, size=2)
            width = rng.uniform(0.05, 0.15)
            img += rng.uniform(0.5, 1.0) * np.exp(-((pts - centre) ** 2).sum(1) / (2 * width**2))
        img += 1e-3 * img.mean()
        return img / img.sum()

    diff = pts[:, None, :] - pts[None, :, :]
    M = np.abs(diff).sum(-1) if metric == "l1" else (diff**2).sum(-1)
    return density(), density(), M / M.max()
