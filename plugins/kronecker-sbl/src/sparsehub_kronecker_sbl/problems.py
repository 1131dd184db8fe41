"""Synthetic Kronecker-structured sparse recovery problems (the paper's Sec. VII set-up) and NMSE."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sparsehub.errors import ShapeError, bad_value

from .kronecker import kron_matvec, kron_outer

__all__ = ["KroneckerProblem", "kronecker_sparse_problem", "nmse"]


@dataclass
class KroneckerProblem:
    """One instance: ``y = (⊗ factors) x + n`` with ``x = ⊗ x_i`` and noise variance ``noise_var``."""

    y: np.ndarray
    factors: list[np.ndarray]
    x: np.ndarray
    noise_var: float
    supports: list[np.ndarray]

    def dense(self) -> np.ndarray:
        """The Kronecker dictionary as one dense matrix (only for small instances and baselines)."""
        out = self.factors[0]
        for f in self.factors[1:]:
            out = np.kron(out, f)
        return out


def nmse(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Normalised mean squared error ``‖x̂ − x‖² / ‖x‖²`` (the paper's metric)."""
    return float(np.sum(np.abs(np.asarray(estimate) - truth) ** 2) / np.sum(np.abs(truth) ** 2))


def _steering(m: int, n: int) -> np.ndarray:
    """Steering vectors of an m-element half-wavelength array on n directions uniform in [-1, 1)."""
    return np.exp(1j * np.pi * np.outer(np.arange(m), 2 * np.arange(n) / n - 1)) / np.sqrt(m)


def kronecker_sparse_problem(shapes: Sequence[tuple[int, int]], sparsity: int | Sequence[int], *,
                             snr_db: float = 15.0, complex_valued: bool = False,
                             contiguous: bool | Sequence[bool] = False,
                             steering: bool | Sequence[bool] = False, seed: int = 0) -> KroneckerProblem:
    """Draw ``H_i`` Gaussian ``/√M_i``, K_i-sparse Gaussian ``x_i``, ``x = ⊗x_i`` and noise at ``snr_db``.

    shapes: ``(M_i, N_i)`` per factor; sparsity: K per factor (one int for all); contiguous: draw a
    factor's support as one run of K_i adjacent indices (block-sparse signals, the IRS channel's
    clustered angles) instead of uniformly; steering: make that factor the array-steering dictionary
    of the paper's IRS simulation, ``H[m, n] = exp(jπ(2n/N − 1) m) / √M`` (an angular grid whose
    neighbouring atoms are correlated; forces complex values). SNR is ``‖Φx‖² / (M σ²)`` in dB.
    """
    shapes = [tuple(int(v) for v in s) for s in shapes]
    if not shapes or any(len(s) != 2 or min(s) < 1 for s in shapes):
        raise bad_value("shapes", shapes, "a non-empty sequence of (M_i, N_i) with positive sizes", ShapeError)
    ks = [int(sparsity)] * len(shapes) if np.ndim(sparsity) == 0 else [int(k) for k in sparsity]
    runs = [bool(contiguous)] * len(shapes) if np.ndim(contiguous) == 0 else [bool(c) for c in contiguous]
    if len(ks) != len(shapes) or any(not 1 <= k <= n for k, (_, n) in zip(ks, shapes)):
        raise bad_value("sparsity", sparsity, "K_i in [1, N_i] for every factor")
    grids = [bool(steering)] * len(shapes) if np.ndim(steering) == 0 else [bool(c) for c in steering]
    if len(runs) != len(shapes):
        raise bad_value("contiguous", contiguous, "a bool or one bool per factor")
    if len(grids) != len(shapes):
        raise bad_value("steering", steering, "a bool or one bool per factor")
    complex_valued = complex_valued or any(grids)
    rng = np.random.default_rng(seed)

    def gaussian(*size: int) -> np.ndarray:
        if complex_valued:
            return (rng.standard_normal(size) + 1j * rng.standard_normal(size)) / np.sqrt(2)
        return rng.standard_normal(size)

    factors = [_steering(m, n) if grid else gaussian(m, n) / np.sqrt(m) for (m, n), grid in zip(shapes, grids)]
    supports, parts = [], []
    for (_, n), k, run in zip(shapes, ks, runs):
        support = (np.arange(k) + rng.integers(0, n - k + 1)) if run else np.sort(rng.choice(n, k, replace=False))
        part = np.zeros(n, dtype=complex if complex_valued else float)
        part[support] = gaussian(k)
        supports.append(support)
        parts.append(part)
    x = kron_outer(parts).reshape(-1)
    clean = kron_matvec(factors, x)
    noise_var = float(np.mean(np.abs(clean) ** 2)) / 10 ** (snr_db / 10)
    y = clean + np.sqrt(noise_var) * gaussian(clean.size)
    return KroneckerProblem(y, factors, x, noise_var, supports)
