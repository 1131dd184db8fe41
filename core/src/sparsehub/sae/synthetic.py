"""Synthetic activations with known ground-truth features, and a measure of how many an SAE recovers.

x = Σ_i a_i · d_i with unit directions d_i ∈ R^d (random Gaussian, normalised), feature i firing
independently with probability p_i (Zipf-shaped in the rank i, scaled to a target mean L0, the
shape paper 23 motivates) and magnitude a_i = |1 + σ·ε| when it fires. The SAE should find the
d_i: :func:`feature_recovery` counts true directions matched by some decoder row with cosine
similarity ≥ a threshold (and the mean max cosine, MMCS).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ..errors import bad_value
from .validate import check_positive_int

__all__ = ["SyntheticFeatures", "feature_recovery", "zipf_probabilities"]


def zipf_probabilities(n: int, exponent: float, mean_l0: float) -> torch.Tensor:
    """Firing probabilities p_i ∝ (i + 1)^−s with Σ p_i = ``mean_l0`` (each p_i ≤ 1), float64 [n]."""
    check_positive_int("n", n)
    if not exponent >= 0:
        raise bad_value("exponent", exponent, "a float >= 0")
    if not 0 < mean_l0 <= n:
        raise bad_value("mean_l0", mean_l0, f"a float in (0, {n}]")
    shape = torch.arange(1, n + 1, dtype=torch.float64).pow(-float(exponent))
    p = shape * (mean_l0 / shape.sum())
    for _ in range(n):  # clip at 1 and hand the excess to the unclipped ones, keeping the sum
        over = p > 1
        if not bool(over.any()):
            break
        excess = float((p[over] - 1).sum())
        p[over] = 1.0
        free = p < 1
        p[free] += excess * p[free] / p[free].sum()
    return p


class SyntheticFeatures:
    """A generator of activations built from ``n_features`` known directions in R^``d``.

    ``sample(n, generator)`` -> (x [n, d], a [n, n_features]); ``batches(batch_size, steps,
    seed)`` streams x. ``directions`` [n_features, d] are unit rows.
    """

    def __init__(self, n_features: int, d: int, *, mean_l0: float = 4.0, zipf_exponent: float = 0.5,
                 magnitude_std: float = 0.25, seed: int = 0):
        check_positive_int("n_features", n_features)
        check_positive_int("d", d)
        if not magnitude_std >= 0:
            raise bad_value("magnitude_std", magnitude_std, "a float >= 0")
        gen = torch.Generator().manual_seed(seed)
        dirs = torch.randn(n_features, d, generator=gen, dtype=torch.float64)
        self.directions = (dirs / dirs.norm(dim=-1, keepdim=True)).float()
        self.probabilities = zipf_probabilities(n_features, zipf_exponent, mean_l0).float()
        self.n_features, self.d, self.magnitude_std = n_features, d, float(magnitude_std)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n activations and their true feature coefficients."""
        fires = torch.rand(n, self.n_features, generator=generator) < self.probabilities
        mags = (1 + self.magnitude_std * torch.randn(n, self.n_features, generator=generator)).abs()
        a = torch.where(fires, mags, torch.zeros_like(mags))
        return a @ self.directions, a

    def batches(self, batch_size: int, steps: int | None = None, seed: int = 0) -> Iterator[torch.Tensor]:
        """Stream ``steps`` batches (forever when None) of x [batch_size, d], seeded."""
        check_positive_int("batch_size", batch_size)
        gen = torch.Generator().manual_seed(seed)
        i = 0
        while steps is None or i < steps:
            yield self.sample(batch_size, gen)[0]
            i += 1


@torch.no_grad()
def feature_recovery(W_dec: torch.Tensor, directions: torch.Tensor, threshold: float = 0.9) -> dict[str, float]:
    """How well decoder rows ``W_dec`` [d_sae, d] match the true ``directions`` [n, d].

    Returns ``recovered`` (fraction of true directions whose best decoder row has cosine ≥
    ``threshold``) and ``mmcs`` (mean over true directions of the best cosine).
    """
    if W_dec.shape[-1] != directions.shape[-1]:
        raise bad_value("W_dec.shape", tuple(W_dec.shape), f"[d_sae, {directions.shape[-1]}]")
    w = W_dec.detach().double()
    w = w / w.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    t = directions.double() / directions.double().norm(dim=-1, keepdim=True)
    best = (t @ w.T).max(dim=1).values
    return {"recovered": float((best >= threshold).double().mean()), "mmcs": float(best.mean())}
