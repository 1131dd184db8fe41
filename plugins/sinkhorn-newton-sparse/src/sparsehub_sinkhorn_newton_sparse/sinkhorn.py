"""Sinkhorn matrix scaling in the log domain: stage 1 of SNS and the plain-Sinkhorn baseline.

One Sinkhorn iteration is the exact block maximisation of the Lyapunov potential over u, then
over v (paper, Algorithm 1, lines 2-4): u <- u + log r - log(P 1), v <- v + log c - log(P^T 1).
Stabilisation (Schmitzer's absorption, as POT's ``sinkhorn_stabilized``): the first update is a
max-shifted log-sum-exp, so even exp(-eta C) underflowing everywhere is harmless; after it the
current plan K = exp(L + u + v) has entries <= 1, and the iterations run as scaling vectors
alpha, beta on K (two matrix-vector products each) that are absorbed into u, v whenever they
leave [1e-50, 1e50] or a product underflows, and at the end of every call.
"""

from __future__ import annotations

import numpy as np

from .potentials import marginal_error, plan

__all__ = ["log_sum_exp_update", "sinkhorn_iterations"]

_ABSORB = 50.0 * np.log(10.0)  # |log alpha| past this moves the scaling into the potentials


def log_sum_exp_update(L: np.ndarray, u: np.ndarray, v: np.ndarray, r_log: np.ndarray, axis: int) -> None:
    """One exact log-domain half step in place: rows (axis=1, updates u) or columns (axis=0, v)."""
    logP = np.add(L, u[:, None])
    logP += v[None, :]
    top = logP.max(axis=axis)
    top = np.where(np.isfinite(top), top, 0.0)
    logP -= top[:, None] if axis == 1 else top[None, :]
    np.exp(logP, out=logP)
    lse = np.log(logP.sum(axis=axis)) + top
    if axis == 1:
        u += r_log - lse
    else:
        v += r_log - lse


def sinkhorn_iterations(
    L: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    r: np.ndarray,
    c: np.ndarray,
    n_iter: int,
    *,
    tol: float = 0.0,
    check_every: int = 1,
    errors: list[float] | None = None,
) -> tuple[int, float]:
    """Run up to ``n_iter`` Sinkhorn iterations on (u, v) in place; stop early at marginal error <= tol.

    Returns (iterations done, marginal error of the final plan). ``errors`` collects the error
    every ``check_every`` iterations (after the column update the column marginal is exact, so
    the error is ||P 1 - r||_1 and costs one matrix-vector product).
    """
    log_r, log_c = np.log(r), np.log(c)
    if n_iter <= 0:
        return 0, marginal_error(plan(L, u, v), r, c)
    log_sum_exp_update(L, u, v, log_r, axis=1)
    log_sum_exp_update(L, u, v, log_c, axis=0)
    K = plan(L, u, v)
    alpha, beta = np.ones_like(r), np.ones_like(c)
    done, err = 1, float(np.abs(K.sum(axis=1) - r).sum())
    if errors is not None:
        errors.append(err)
    while done < n_iter and err > tol:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            alpha = r / (K @ beta)
            beta = c / (K.T @ alpha)
        if not (np.all(np.isfinite(alpha)) and np.all(np.isfinite(beta)) and alpha.min() > 0 and beta.min() > 0):
            # a product underflowed: fall back to the exact log-domain step from the last good state
            alpha, beta = np.ones_like(r), np.ones_like(c)
            log_sum_exp_update(L, u, v, log_r, axis=1)
            log_sum_exp_update(L, u, v, log_c, axis=0)
            K = plan(L, u, v)
        elif max(np.abs(np.log(alpha)).max(), np.abs(np.log(beta)).max()) > _ABSORB:
            u += np.log(alpha)
            v += np.log(beta)
            alpha, beta = np.ones_like(r), np.ones_like(c)
            K = plan(L, u, v)
        done += 1
        if done % check_every == 0 or done == n_iter:
            err = float(np.abs(alpha * (K @ beta) - r).sum())
            if errors is not None:
                errors.append(err)
    u += np.log(alpha)
    v += np.log(beta)
    return done, err
