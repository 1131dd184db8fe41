"""The E-step of sparse Bayesian learning: the Gaussian posterior of x given y and the prior variances.

Model ``y = Φ x + n``, ``n ~ N(0, σ² I)``, prior ``x ~ N(0, Γ)``, ``Γ = diag(γ)``. The posterior is
``N(μ, Σ)`` with (paper, eq. (5))::

    Σ = Γ − Γ Φᴴ C⁻¹ Φ Γ,   μ = Γ Φᴴ C⁻¹ y,   C = σ² I + Φ Γ Φᴴ.

:func:`kron_posterior` exploits ``Φ = ⊗_i H_i`` and ``γ = ⊗_i γ_i`` (paper, Sec. IV-A): then
``Φ Γ Φᴴ = ⊗_i H_i Γ_i H_iᴴ``; with the small eigendecompositions ``H_i Γ_i H_iᴴ = U_i diag(p_i) U_iᴴ``
and ``W_i = Γ_i H_iᴴ U_i``, ``C = U diag(σ² + p) Uᴴ`` and, with ``U = ⊗U_i``, ``p = ⊗p_i``,
``W = ⊗W_i``::

    μ = W ((Uᴴ y) / (σ² + p)),     diag(Σ) = γ − (W ∘ W̄) (1 / (σ² + p)),

both applied mode by mode, never forming an N × N or M × N matrix. :func:`dense_posterior` is the
classical computation (Cholesky of the M × M or the N × N system, whichever is smaller).

Both also return what the hyperparameter updates need: the residual ``‖y − Φμ‖²``, the effective
number of parameters ``Σ_j (1 − Σ_jj/γ_j) = tr(Φ Γ Φᴴ C⁻¹)`` and the negative log evidence
``log|C| + yᴴ C⁻¹ y`` (up to the factor 1/2 and a constant for real data), which EM decreases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import op_counts
from .kronecker import kron_outer, mode_products

__all__ = ["Posterior", "dense_posterior", "kron_posterior"]


@dataclass
class Posterior:
    """Posterior mean and marginal variances of x, plus the quantities the M-step needs.

    ``mean`` and ``var`` have the shape of the coefficients handed in (a tensor
    ``n_1 × … × n_I`` for :func:`kron_posterior`, a vector for :func:`dense_posterior`).
    """

    mean: np.ndarray
    var: np.ndarray
    residual_sq: float  # ‖y − Φ μ‖²
    dof: float  # Σ_j (1 − Σ_jj / γ_j)
    neg_log_evidence: float  # log|C| + yᴴ C⁻¹ y
    flops: float


def _mode_product_flops(shape: Sequence[int], matrices: Sequence[np.ndarray]) -> float:
    """Flops of :func:`mode_products` applied to a tensor of ``shape`` (real arithmetic)."""
    shape = list(shape)
    total = 0.0
    for axis, mat in enumerate(matrices):
        rest = int(np.prod(shape)) // shape[axis]
        total += op_counts.matmul(mat.shape[0], mat.shape[1], rest)
        shape[axis] = mat.shape[0]
    return total


def kron_posterior(y: np.ndarray, factors: Sequence[np.ndarray], gammas: Sequence[np.ndarray],
                   noise_var: float) -> Posterior:
    """Posterior of x for ``Φ = ⊗ factors`` and ``γ = ⊗ gammas`` through per-factor eigendecompositions.

    y: shape ``(Π M_i,)``; factors: ``H_i`` of shape ``M_i × n_i``; gammas: positive vectors of length
    ``n_i``; noise_var: σ² > 0. Costs ``O(Σ M_i³ + N Σ M_i)`` (``N = Π n_i``) instead of ``O(M² N)``.
    Returns mean/var as tensors of shape ``(n_1, …, n_I)``.
    """
    cx = op_counts.scale(np.iscomplexobj(y) or any(np.iscomplexobj(h) for h in factors))
    m_shape = tuple(h.shape[0] for h in factors)
    n_shape = tuple(h.shape[1] for h in factors)
    flops = 0.0
    rotations, weights, eigvals = [], [], []
    for h, g in zip(factors, gammas):
        hg = h * g  # H_i Γ_i
        p, u = np.linalg.eigh(hg @ h.conj().T)
        eigvals.append(np.clip(p, 0.0, None))  # PSD: clip rounding noise below zero
        rotations.append(u)
        weights.append(hg.conj().T @ u)  # W_i = Γ_i H_iᴴ U_i   (n_i × M_i)
        m_i, n_i = h.shape
        flops += cx * (op_counts.matmul(m_i, n_i, m_i) + op_counts.matmul(n_i, m_i, m_i)) + op_counts.eigh(m_i) * cx
    rot_h = [u.conj().T for u in rotations]
    z = mode_products(y.reshape(m_shape), rot_h)  # Uᴴ y
    denom = noise_var + kron_outer(eigvals)  # σ² + p
    inv = 1.0 / denom
    mean = mode_products(z * inv, weights)
    abs_weights = [np.abs(w) ** 2 for w in weights]
    var = kron_outer(gammas) - mode_products(inv, abs_weights)
    var = np.clip(var, 0.0, None)
    flops += cx * (_mode_product_flops(m_shape, rot_h) + _mode_product_flops(m_shape, weights))
    flops += _mode_product_flops(m_shape, abs_weights) + 6.0 * int(np.prod(m_shape)) + 2.0 * int(np.prod(n_shape))

    power = np.abs(z) ** 2
    # y − Φμ = σ² C⁻¹ y and U is unitary, so the residual needs no product with Φ.
    residual_sq = float(noise_var**2 * np.sum(power * inv**2))
    dof = float(np.sum((denom - noise_var) * inv))
    neg_log_evidence = float(np.sum(np.log(denom)) + np.sum(power * inv))
    return Posterior(mean, var, residual_sq, dof, neg_log_evidence, flops)


def dense_posterior(y: np.ndarray, phi: np.ndarray, gamma: np.ndarray, noise_var: float) -> Posterior:
    """Posterior of x for a dense ``Φ`` (M × n) by Cholesky of the smaller of the two systems.

    With ``n ≥ M``: ``C = σ² I + Φ Γ Φᴴ`` (M × M, ``O(M² n)``); otherwise the scaled n × n system
    ``B = I + Γ^½ Φᴴ Φ Γ^½ / σ²`` with ``Σ = Γ^½ B⁻¹ Γ^½`` (``O(n² M)``), which stays well conditioned
    for tiny γ. This is classical SBL's E-step (Tipping 2001; Wipf & Rao 2004).
    """
    from scipy.linalg import cholesky, solve_triangular

    cx = op_counts.scale(np.iscomplexobj(y) or np.iscomplexobj(phi))
    m, n = phi.shape
    if n >= m:
        cov = (phi * gamma) @ phi.conj().T
        cov[np.diag_indices(m)] += noise_var
        chol = cholesky(cov, lower=True)
        v = solve_triangular(chol, phi, lower=True)  # L⁻¹ Φ
        u = solve_triangular(chol, y, lower=True)  # L⁻¹ y
        mean = gamma * (v.conj().T @ u)
        col = np.sum(np.abs(v) ** 2, axis=0)
        var = np.clip(gamma - gamma**2 * col, 0.0, None)
        r = solve_triangular(chol, u, lower=True, trans="C")  # C⁻¹ y
        residual_sq = float(noise_var**2 * np.sum(np.abs(r) ** 2))
        dof = float(np.sum(gamma * col))
        logdet = 2.0 * float(np.sum(np.log(np.real(np.diag(chol)))))
        quad = float(np.sum(np.abs(u) ** 2))
        flops = cx * (op_counts.matmul(m, n, m) + op_counts.cholesky(m)
                      + op_counts.triangular_solve(m, n + 2) + 2 * op_counts.matmul(n, m, 1)) + 6.0 * m * n
    else:
        root = np.sqrt(gamma)
        psi = phi * root
        gram = psi.conj().T @ psi / noise_var
        gram[np.diag_indices(n)] += 1.0
        chol = cholesky(gram, lower=True)
        b = psi.conj().T @ y
        solved = solve_triangular(chol, solve_triangular(chol, b, lower=True), lower=True, trans="C")
        mean = root * solved / noise_var
        inv_chol = solve_triangular(chol, np.eye(n), lower=True)
        diag_binv = np.sum(np.abs(inv_chol) ** 2, axis=0)  # diag(B⁻¹) = colsums of |L⁻¹|²
        var = gamma * diag_binv
        residual_sq = float(np.sum(np.abs(y - phi @ mean) ** 2))
        dof = float(n - np.sum(diag_binv))
        logdet = m * np.log(noise_var) + 2.0 * float(np.sum(np.log(np.real(np.diag(chol)))))
        quad = float((np.sum(np.abs(y) ** 2) - np.real(np.vdot(b, solved)) / noise_var) / noise_var)
        flops = cx * (op_counts.matmul(n, m, n) + op_counts.cholesky(n) + op_counts.triangular_solve(n, n + 2)
                      + 3 * op_counts.matmul(m, n, 1)) + 2.0 * m * n
    return Posterior(mean, var, residual_sq, dof, logdet + quad, float(flops))
