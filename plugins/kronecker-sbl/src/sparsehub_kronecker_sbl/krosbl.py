"""KroSBL: sparse Bayesian learning with a Kronecker-structured dictionary and prior (He & Joseph, TSP 2024).

Model (paper, eq. (1)–(3))::

    y = (H_1 ⊗ … ⊗ H_I) x + n,    x ~ N(0, diag(γ_1 ⊗ … ⊗ γ_I)),    n ~ N(0, σ² I).

EM alternates the structured posterior (:func:`~sparsehub_kronecker_sbl.posterior.kron_posterior`,
``O(Σ M_i³ + N Σ M_i)`` per iteration, no N × N or M × N matrix) with a Kronecker-constrained
hyperparameter update: KroSBL-AM (Algorithm 1) or KroSBL-SVD (Algorithm 2), see
:mod:`~sparsehub_kronecker_sbl.hyperparameters`. Pruning and stopping follow the official code:
before each E-step the entries ``γ_i[j] < r · max γ_i`` of every factor leave the model (with the
matching columns of ``H_i``); the loop stops when ``‖γ − γ_prev‖ / ‖γ_prev‖ < tol`` and one last
E-step gives ``x̂ = μ``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from sparsehub.solver import IterationLog, SolverResult, warn_if_not_converged

from .classical import all_pruned, classical_sbl, initial_noise_var, initial_variance, update_noise_var
from .hyperparameters import alternating_minimisation, coupling_matrix, rank_one_fit
from .kronecker import kron_outer
from .posterior import kron_posterior
from .validation import as_factors, as_measurements, check_block, check_options

__all__ = ["DEFAULT_PRUNE_REL", "kron_sbl"]

#: Relative pruning thresholds of the official code (``svd_kroSBL.m``, ``am_kroSBL.m``).
DEFAULT_PRUNE_REL = {"svd": 1e-3, "am": 1e-2}


def _full(values: list[np.ndarray], keep: list[np.ndarray], shape: tuple[int, ...], dtype: Any = float,
          ) -> np.ndarray:
    """Scatter a tensor over the active indices of every mode into the full ``shape`` (zeros elsewhere)."""
    out = np.zeros(shape, dtype=dtype)
    out[np.ix_(*keep)] = values
    return out


def _scatter(vector: np.ndarray, keep: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    out[keep] = vector
    return out


def kron_sbl(y: Any, *factors: Any, method: str = "svd", noise_var: float | None = None,
             max_iter: int = 150, tol: float = 1e-4, prune_rel: float | None = None, block: Any = None,
             inner_tol: float = 1e-6, max_inner: int = 200,
             callback: Callable[[np.ndarray], None] | None = None) -> SolverResult:
    """Recover a Kronecker-supported sparse x from ``y = (A_1 ⊗ … ⊗ A_I) x + n`` by KroSBL (EM).

    ``kron_sbl(y, A1, A2)`` or ``kron_sbl(y, H1, H2, H3)`` (also ``kron_sbl(y, [H1, H2, H3])``).
    The Kronecker matrix is never formed: the posterior uses per-factor eigendecompositions and
    mode products (paper, Sec. IV-A), ordered like ``np.kron(A1, A2)`` and C-order ``reshape``
    (``x.reshape(N1, N2)[i, j]`` multiplies ``A1[:, i] ⊗ A2[:, j]``).

    Parameters
    ----------
    y : (M,) array, M = Π M_i, real or complex.
    factors : the ``A_i``, each (M_i, N_i), real or complex. A single factor falls back to
        :func:`classical_sbl` with a warning (KroSBL with one factor is classical SBL).
    method : "svd" (KroSBL-SVD, Algorithm 2: sequential rank-1 fit, no inner loop) or "am"
        (KroSBL-AM, Algorithm 1: alternating closed-form factor updates, proven convergent).
    noise_var : σ² if known; None estimates it with the SBL rule
        ``σ² = (‖y − Φμ‖² + σ² Σ_j (1 − Σ_jj/γ_j)) / M`` starting from a tenth of var(y).
    max_iter, tol : stop when ``‖γ − γ_prev‖ / ‖γ_prev‖ < tol`` (official: 150 and 1e-4).
    prune_rel : per-factor relative pruning threshold r; None takes the official code's value for the
        method (1e-3 for SVD, 1e-2 for AM, whose EM sparsifies more slowly); 0 disables pruning.
    block : the block-sparse (pattern-coupled, PC-KroSBL) extension: coupling strength β in [0, 1]
        between neighbouring entries of a factor, effective variance ``γ_j + β(γ_{j−1} + γ_{j+1})``;
        one float for every factor or one per factor (0/None: that factor uncoupled).
    inner_tol, max_inner : stopping rule of the AM inner loop.
    callback : called after every iteration with the current posterior mean (N,).

    Returns
    -------
    SolverResult with ``x`` (N,) the posterior mean, ``n_iter``, ``converged``, ``history``
    (``objective`` = negative log evidence at each E-step, ``gamma_change``, ``noise_var``,
    ``active`` coefficients, ``inner_iterations``, ``flops``) and ``info``: ``gammas`` (the
    factors γ_i, full length, zeros where pruned), ``support`` (kept indices per factor),
    ``noise_var``, ``variance`` (posterior variances, N), ``flops`` (model count), ``method``.
    """
    log = IterationLog()
    mats = as_factors(factors)
    default_prune = DEFAULT_PRUNE_REL["am"] if method == "am" else DEFAULT_PRUNE_REL["svd"]
    opts = check_options(noise_var=noise_var, max_iter=max_iter, tol=tol,
                         prune_rel=default_prune if prune_rel is None else prune_rel,
                         inner_tol=inner_tol, max_inner=max_inner, method=method)
    m_shape = tuple(h.shape[0] for h in mats)
    n_shape = tuple(h.shape[1] for h in mats)
    what = " ⊗ ".join(f"{h.shape[0]}x{h.shape[1]}" for h in mats)
    y = as_measurements(y, int(np.prod(m_shape)), f"the Kronecker matrix ({what})")
    betas = check_block(block, len(mats))
    if len(mats) == 1:
        if any(betas):
            raise ValueError("block is not supported with a single factor: expected at least two factors")
        warnings.warn("kron_sbl got one factor: KroSBL reduces to classical SBL, running classical_sbl",
                      UserWarning, stacklevel=2)
        return classical_sbl(y, mats[0], noise_var=noise_var, max_iter=max_iter, tol=tol,
                             prune_rel=1e-3 if prune_rel is None else prune_rel, callback=callback)

    n_total = int(np.prod(n_shape))
    dtype = np.result_type(y, *mats)
    keep = [np.arange(n) for n in n_shape]
    scale = initial_variance(y, float(np.prod([np.sum(np.abs(h) ** 2) for h in mats])), n_total)
    gammas = [np.ones(n) for n in n_shape]
    gammas[-1] = gammas[-1] * scale
    sigma2 = opts["noise_var"] if opts["noise_var"] is not None else initial_noise_var(y)
    update = opts["method"]
    total_flops = 0.0
    converged = False
    info: dict[str, Any] = {"method": update}

    for _ in range(opts["max_iter"]):
        old = kron_outer([_scatter(g, k, n) for g, k, n in zip(gammas, keep, n_shape)])
        if opts["prune_rel"] > 0:
            masks = [g >= opts["prune_rel"] * g.max() for g in gammas]
            keep = [k[mask] for k, mask in zip(keep, masks)]
            gammas = [g[mask] for g, mask in zip(gammas, masks)]
        if any(g.size == 0 or not g.max() > 0 for g in gammas):
            return all_pruned(log, n_total, dtype, "kron_sbl", flops=total_flops, **info)
        active = [h[:, k] for h, k in zip(mats, keep)]
        post = kron_posterior(y, active, gammas, sigma2)
        d = post.var + np.abs(post.mean) ** 2
        couplings = [coupling_matrix(k, b) if b > 0 else None for k, b in zip(keep, betas)]
        if update == "svd":
            gammas, mstep_flops = rank_one_fit(d, couplings)
            inner = 1
        else:
            gammas, inner, mstep_flops = alternating_minimisation(
                d, gammas, inner_tol=opts["inner_tol"], max_inner=opts["max_inner"], couplings=couplings)
        if opts["noise_var"] is None:
            sigma2 = update_noise_var(post.residual_sq, post.dof, sigma2, y)
        new = kron_outer([_scatter(g, k, n) for g, k, n in zip(gammas, keep, n_shape)])
        change = float(np.linalg.norm(new - old) / np.linalg.norm(old))
        flops = post.flops + mstep_flops + 4.0 * n_total
        total_flops += flops
        log.record(objective=post.neg_log_evidence, gamma_change=change, noise_var=sigma2,
                   active=d.size, inner_iterations=inner, flops=flops)
        if callback is not None:
            callback(_full(post.mean, keep, n_shape, dtype).reshape(-1))
        if change < opts["tol"]:
            converged = True
            break

    if any(g.size == 0 or not g.max() > 0 for g in gammas):
        return all_pruned(log, n_total, dtype, "kron_sbl", flops=total_flops, **info)
    post = kron_posterior(y, [h[:, k] for h, k in zip(mats, keep)], gammas, sigma2)
    total_flops += post.flops
    message = "relative change of gamma below tol" if converged else f"max_iter={opts['max_iter']} reached"
    result = log.result(_full(post.mean, keep, n_shape, dtype).reshape(-1), converged=converged,
                        message=message, gammas=[_scatter(g, k, n) for g, k, n in zip(gammas, keep, n_shape)],
                        support=tuple(keep), noise_var=sigma2,
                        variance=_full(post.var, keep, n_shape).reshape(-1), flops=total_flops, **info)
    return warn_if_not_converged(result, f"kron_sbl(method={update!r})")
