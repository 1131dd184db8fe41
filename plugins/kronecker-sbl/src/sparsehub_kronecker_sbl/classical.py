"""Classical sparse Bayesian learning (Tipping 2001; Wipf & Rao 2004): the baseline KroSBL improves on.

One prior variance per coefficient, EM updates ``γ = diag(Σ) + |μ|²`` on a dense dictionary, with the
relative pruning of the official KroSBL code (``γ_j < r · max γ`` leaves the model). Each iteration
costs ``O(M² n)`` (or ``O(n² M)`` once fewer than M coefficients remain), against ``O(N Σ M_i)``
for KroSBL on a Kronecker dictionary.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from sparsehub.errors import ShapeError, bad_value
from sparsehub.solver import IterationLog, SolverResult, warn_if_not_converged

from .posterior import dense_posterior
from .validation import _finite_array, as_measurements, check_options

__all__ = ["classical_sbl"]

#: The estimated noise variance is kept above this fraction of the mean power of y, so that a
#: noiseless problem does not drive C = σ² I + Φ Γ Φᴴ to singularity.
NOISE_FLOOR = 1e-10


def initial_noise_var(y: np.ndarray) -> float:
    """The official code's starting guess for an unknown σ²: a tenth of the sample variance of y."""
    return max(0.1 * float(np.mean(np.abs(y - y.mean()) ** 2)), noise_floor(y))


def initial_variance(y: np.ndarray, frobenius_sq: float, n: int) -> float:
    """The starting prior variance of every coefficient: the mean power of y per unit column energy.

    ``γ_0 = (‖y‖² / M) / (‖Φ‖_F² / N)``: scale-invariant (the official code starts from 1, right only
    for unit-scale data), and between the two extremes that slow EM down — a prior so narrow that
    the posterior barely moves, or so wide that every coefficient starts out explaining y.
    """
    return float(np.sum(np.abs(y) ** 2)) / y.shape[0] / (frobenius_sq / n)


def noise_floor(y: np.ndarray) -> float:
    return max(NOISE_FLOOR * float(np.mean(np.abs(y) ** 2)), np.finfo(float).tiny)


def update_noise_var(residual_sq: float, dof: float, noise_var: float, y: np.ndarray) -> float:
    """The SBL noise update ``σ² = (‖y − Φμ‖² + σ² Σ_j (1 − Σ_jj/γ_j)) / M`` (paper, Sec. V-A)."""
    return max((residual_sq + noise_var * dof) / y.shape[0], noise_floor(y))


def all_pruned(log: IterationLog, n: int, dtype: Any, solver: str, **info: Any) -> SolverResult:
    """The result when no coefficient is left in the model: x = 0, not converged, with a warning."""
    result = log.result(np.zeros(n, dtype=dtype), converged=False,
                        message="every hyperparameter was pruned: y carries no signal the model explains",
                        **info)
    warnings.warn(f"{solver}: {result.message}; returning x = 0", UserWarning, stacklevel=3)
    return result


def classical_sbl(y: Any, A: Any, *, noise_var: float | None = None, max_iter: int = 150,
                  tol: float = 1e-4, prune_rel: float = 1e-3,
                  callback: Callable[[np.ndarray], None] | None = None) -> SolverResult:
    """Sparse Bayesian learning with one prior variance per coefficient (EM; the paper's baseline).

    Model ``y = A x + n``, ``x ~ N(0, diag(γ))``, ``n ~ N(0, σ² I)``; EM alternates the posterior
    (:func:`~sparsehub_kronecker_sbl.posterior.dense_posterior`) with ``γ = diag(Σ) + |μ|²`` and,
    when ``noise_var`` is None, the noise update ``σ² = (‖y − Aμ‖² + σ² Σ_j(1 − Σ_jj/γ_j)) / M``.
    Coefficients with ``γ_j < prune_rel · max γ`` leave the model. Stops when
    ``‖γ − γ_prev‖ / ‖γ_prev‖ < tol``, then returns the posterior mean.

    y: shape (M,), real or complex; A: dense (M, N). Returns a SolverResult with ``x`` (N,) and
    ``info``: ``gamma`` (N,), ``support``, ``noise_var``, ``variance`` (posterior variances, N),
    ``flops`` (model count, see :mod:`~sparsehub_kronecker_sbl.op_counts`). ``history``:
    ``objective`` (negative log evidence), ``gamma_change``, ``noise_var``, ``active``, ``flops``.
    """
    log = IterationLog()
    phi = _finite_array("A", A)
    if phi.ndim != 2 or 0 in phi.shape:
        raise bad_value("A.shape", phi.shape, "a non-empty 2-D matrix (M, N)", ShapeError)
    y = as_measurements(y, phi.shape[0], "A")
    opts = check_options(noise_var=noise_var, max_iter=max_iter, tol=tol, prune_rel=prune_rel)
    n = phi.shape[1]
    dtype = np.result_type(y, phi)
    keep = np.arange(n)
    gamma = np.full(n, initial_variance(y, float(np.sum(np.abs(phi) ** 2)), n))
    sigma2 = opts["noise_var"] if opts["noise_var"] is not None else initial_noise_var(y)
    total_flops = 0.0
    converged = False
    for _ in range(opts["max_iter"]):
        old = np.zeros(n)
        old[keep] = gamma
        mask = gamma >= opts["prune_rel"] * gamma.max() if gamma.size else gamma.astype(bool)
        keep, gamma = keep[mask], gamma[mask]
        if gamma.size == 0 or not gamma.max() > 0:
            return all_pruned(log, n, dtype, "classical_sbl", flops=total_flops)
        sub = phi[:, keep]
        post = dense_posterior(y, sub, gamma, sigma2)
        gamma = post.var + np.abs(post.mean) ** 2
        if opts["noise_var"] is None:
            sigma2 = update_noise_var(post.residual_sq, post.dof, sigma2, y)
        new = np.zeros(n)
        new[keep] = gamma
        change = float(np.linalg.norm(new - old) / np.linalg.norm(old))
        total_flops += post.flops + 4.0 * n
        log.record(objective=post.neg_log_evidence, gamma_change=change, noise_var=sigma2,
                   active=keep.size, flops=post.flops)
        if callback is not None:
            x = np.zeros(n, dtype=dtype)
            x[keep] = post.mean
            callback(x)
        if change < opts["tol"]:
            converged = True
            break
    if gamma.size == 0 or not gamma.max() > 0:
        return all_pruned(log, n, dtype, "classical_sbl", flops=total_flops)
    post = dense_posterior(y, phi[:, keep], gamma, sigma2)
    total_flops += post.flops
    x = np.zeros(n, dtype=dtype)
    x[keep] = post.mean
    variance = np.zeros(n)
    variance[keep] = post.var
    gamma_full = np.zeros(n)
    gamma_full[keep] = gamma
    message = "relative change of gamma below tol" if converged else f"max_iter={opts['max_iter']} reached"
    result = log.result(x, converged=converged, message=message, gamma=gamma_full, support=keep,
                        noise_var=sigma2, variance=variance, flops=total_flops)
    return warn_if_not_converged(result, "classical_sbl")
