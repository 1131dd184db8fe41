"""Sinkhorn-Newton-Sparse (SNS), the paper's Algorithm 1, and plain log-domain Sinkhorn beside it.

Stage 1: ``n_sinkhorn`` Sinkhorn iterations (early-stopped matrix scaling). Stage 2: Newton steps
on the Lyapunov potential with the Hessian sparsified to a fraction ``sparsity`` (the paper's
target sparsity lambda) of its (n + m)^2 entries, solved by conjugate gradient, with a
backtracking line search, until the marginal error ||P 1 - r||_1 + ||P^T 1 - c||_1 <= stopThr.
``reg`` is POT's regularisation, 1 / eta in the paper.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sparsehub.errors import bad_value
from sparsehub.progress import progress
from sparsehub.solver import IterationLog, SolverResult, warn_if_not_converged

from .newton import conjugate_gradient, line_search, sparsified_hessian
from .potentials import lyapunov, marginal_error, plan
from .sinkhorn import sinkhorn_iterations
from .validation import OTProblem, check_problem

__all__ = ["entries_kept", "sinkhorn_log_domain", "sinkhorn_newton_sparse", "sns_solve"]


def entries_kept(n: int, m: int, sparsity: float) -> int:
    """Entries of P kept so that the sparsified Hessian holds ``sparsity * (n + m)^2`` non-zeros.

    The diagonal takes n + m of them and every kept P_ij appears twice (blocks P and P^T), so
    keep = (lambda (n + m)^2 - (n + m)) / 2, at least one per row and column (max(n, m)).
    """
    size = n + m
    return int(min(n * m, max(max(n, m), math.ceil((sparsity * size * size - size) / 2))))


def _check_options(sparsity: float | None, n: int, m: int, **counts: Any) -> float:
    for name, value in counts.items():
        if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool)
                                  or value < (1 if name == "cg_maxiter" else 0)):
            raise bad_value(name, value, "a non-negative int" if name != "cg_maxiter" else "a positive int or None")
    if sparsity is None:
        return 2.0 / min(n, m)
    if not (isinstance(sparsity, (int, float, np.floating)) and 0 < sparsity <= 1):
        raise bad_value("sparsity", sparsity, "a fraction lambda in (0, 1] of the Hessian entries, or None (2/n)")
    return float(sparsity)


def _initial_potentials(problem: OTProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L = -eta M - 1 and the zero potentials (u, v) = (eta x, eta y) of Algorithm 1."""
    L = problem.M * (-problem.eta)
    L -= 1.0
    return L, np.zeros(problem.r.size), np.zeros(problem.c.size)


def _newton_direction(H: Any, g: np.ndarray, x0: np.ndarray, rtol: float, maxiter: int,
                      precondition: bool, compiled: bool) -> tuple[np.ndarray, int, bool]:
    """CG on H_s d = g: the compiled loop, or the numpy reference (``compiled=False``)."""
    if not compiled:
        return conjugate_gradient(H.matvec, g, x0, rtol=rtol, maxiter=maxiter,
                                  diagonal=H.diagonal if precondition else None)
    from .kernels import hessian_cg

    diag = H.diagonal
    inv = 1.0 / np.maximum(diag, np.finfo(float).tiny) if precondition else np.ones_like(diag)
    x, it, ok = hessian_cg(H.a, H.b, H.Ps.indptr.astype(np.int64), H.Ps.indices.astype(np.int64), H.Ps.data,
                           g, x0, inv, float(rtol), int(maxiter))
    return x, int(it), bool(ok)


def sns_solve(
    a: Any,
    b: Any,
    M: Any,
    reg: float,
    *,
    n_sinkhorn: int = 20,
    max_newton: int = 100,
    sparsity: float | None = None,
    stopThr: float = 1e-9,
    cg_tol: float = 1e-10,
    cg_maxiter: int | None = None,
    precondition: bool = True,
    fallback: bool = True,
    normalize: bool = False,
    compiled: bool = True,
    verbose: bool = False,
) -> SolverResult:
    """Solve entropic OT min <P, M> + reg sum P log P, P 1 = a, P^T 1 = b by SNS (Algorithm 1).

    Parameters follow POT (``reg`` = 1/eta, ``stopThr``); ``n_sinkhorn`` is N1 (the paper uses 20,
    and 700 for the W1 case), ``max_newton`` N2, ``sparsity`` the target sparsity lambda of the
    Hessian (default 2/n as in the paper's experiments), ``cg_tol``/``cg_maxiter`` the inner CG
    (Jacobi-preconditioned unless ``precondition=False``; a numba loop unless ``compiled=False``). With ``fallback`` a Newton step that
    makes poor progress (step < 1e-3 or marginal error down by less than 10 %) doubles the kept
    entries for the next step, up to the dense Hessian: at moderate eta the plan is not yet
    sparse and the sparsified direction can stall the line search.

    Returns a :class:`~sparsehub.solver.SolverResult` whose ``x`` is the pair of dual potentials
    (alpha, beta) in the units of M (the paper's (x, y) with P_ij = exp((alpha_i + beta_j -
    M_ij) / reg - 1)); ``info`` holds ``plan`` (n, m), ``log_u``/``log_v`` (POT's convention,
    P = diag(e^log_u) K diag(e^log_v), K = exp(-M / reg)), ``n_sinkhorn``, ``n_newton``,
    ``cg_iterations``, ``kept`` (entries of P per Newton step) and ``cost`` = <P, M>. History:
    ``marginal_error`` and ``stage`` (0 Sinkhorn, 1 Newton) per iteration.
    """
    problem = check_problem(a, b, M, reg, normalize=normalize)
    n, m = problem.M.shape
    lam = _check_options(sparsity, n, m, n_sinkhorn=n_sinkhorn, max_newton=max_newton, cg_maxiter=cg_maxiter)
    stop = float(stopThr)
    if not stop >= 0:
        raise bad_value("stopThr", stopThr, "a number >= 0")
    r, c = problem.r, problem.c
    log = IterationLog()
    L, u, v = _initial_potentials(problem)

    errors: list[float] = []
    done, err = sinkhorn_iterations(L, u, v, r, c, n_sinkhorn, tol=stop, errors=errors)
    for e in errors:
        log.record(marginal_error=e, stage=0)
    P = plan(L, u, v)
    err = marginal_error(P, r, c)
    phi = lyapunov(P, u, v, r, c)
    keep = entries_kept(n, m, lam)
    maxiter = cg_maxiter if cg_maxiter is not None else 10 * (n + m)
    d = np.zeros(n + m)
    n_newton, cg_total, kept, message = 0, 0, [], ""
    steps = progress(range(max_newton), desc="sns: newton", total=max_newton) if verbose else range(max_newton)
    for _ in steps:
        if err <= stop:
            break
        H = sparsified_hessian(P, keep)
        g = np.concatenate((r - H.a, c - H.b))
        d, cg_it, _ = _newton_direction(H, g, d, cg_tol, maxiter, precondition, compiled)
        cg_total += cg_it
        kept.append(H.Ps.nnz)
        slope = float(g @ d)
        if not slope > 0:  # the warm start was no ascent direction: restart CG from zero
            d, cg_it, _ = _newton_direction(H, g, np.zeros(n + m), cg_tol, maxiter, precondition, compiled)
            cg_total += cg_it
            slope = float(g @ d)
        t, P_new, phi_new = line_search(L, u, v, d[:n], d[n:], r, c, phi, slope)
        n_newton += 1
        if P_new is None:
            log.record(marginal_error=err, stage=1)
            if not fallback:
                message = "line search found no ascent step"
                break
            # 10 Sinkhorn steps always increase phi; then retry Newton from there, denser
            extra, err = sinkhorn_iterations(L, u, v, r, c, 10, tol=stop)
            done += extra
            keep = min(n * m, 2 * keep)
            P = plan(L, u, v)
            err, phi = marginal_error(P, r, c), lyapunov(P, u, v, r, c)
            d = np.zeros(n + m)
            log.record(marginal_error=err, stage=0)
            continue
        u += t * d[:n]
        v += t * d[n:]
        P, phi = P_new, phi_new
        new_err = marginal_error(P, r, c)
        if fallback and (t < 1e-3 or new_err > 0.9 * err) and new_err > stop:
            keep = min(n * m, 2 * keep)
        err = new_err
        d *= t  # warm start of the next CG from the accepted step
        log.record(marginal_error=err, stage=1)
    converged = err <= stop
    if not converged and not message:
        message = f"marginal error {err:.3g} > stopThr={stop:g} after {n_newton} Newton steps"
    eta = problem.eta
    alpha = np.full(problem.shape[0], -np.inf)
    beta = np.full(problem.shape[1], -np.inf)
    alpha[problem.rows], beta[problem.cols] = u / eta, v / eta
    full = problem.embed(P)
    info = {
        "plan": full,
        "log_u": alpha * eta - 0.5,
        "log_v": beta * eta - 0.5,
        "n_sinkhorn": done,
        "n_newton": n_newton,
        "cg_iterations": cg_total,
        "kept": kept,
        "marginal_error": err,
        "cost": float(np.sum(full * np.asarray(M, dtype=float))),
    }
    result = log.result((alpha, beta), converged=converged, message=message, n_iter=done + n_newton, **info)
    return warn_if_not_converged(result, "sinkhorn_newton_sparse")


def sinkhorn_newton_sparse(a: Any, b: Any, M: Any, reg: float, *, log: bool = False, **kwargs: Any) -> Any:
    """POT-style SNS: the entropic OT plan (n, m), and with ``log=True`` also a dict of the run.

    Same arguments as :func:`sns_solve` (``reg`` = 1/eta, ``stopThr`` on the L1 marginal error).
    The log holds ``alpha``/``beta`` (dual potentials), ``log_u``/``log_v``, ``err`` (marginal error
    per iteration), ``niter``, ``n_sinkhorn``, ``n_newton``, ``n_cg``, ``converged`` and ``cost``.
    """
    res = sns_solve(a, b, M, reg, **kwargs)
    P = res.info["plan"]
    if not log:
        return P
    return P, {
        "alpha": res.x[0],
        "beta": res.x[1],
        "log_u": res.info["log_u"],
        "log_v": res.info["log_v"],
        "err": res.history.get("marginal_error", []),
        "niter": res.n_iter,
        "n_sinkhorn": res.info["n_sinkhorn"],
        "n_newton": res.info["n_newton"],
        "n_cg": res.info["cg_iterations"],
        "converged": res.converged,
        "cost": res.info["cost"],
        "time": res.time,
    }


def sinkhorn_log_domain(
    a: Any, b: Any, M: Any, reg: float, *, numItermax: int = 1000, stopThr: float = 1e-9,
    check_every: int = 1, normalize: bool = False,
) -> SolverResult:
    """Plain Sinkhorn (stage 1 alone, run to ``stopThr``): the baseline SNS is measured against.

    Same stabilised log-domain iteration as SNS's warm-up, so iteration counts compare one to
    one. Returns a SolverResult like :func:`sns_solve` (history ``marginal_error`` every
    ``check_every`` iterations).
    """
    problem = check_problem(a, b, M, reg, normalize=normalize)
    _check_options(None, *problem.M.shape, numItermax=numItermax, check_every=check_every)
    log = IterationLog()
    L, u, v = _initial_potentials(problem)
    errors: list[float] = []
    done, err = sinkhorn_iterations(L, u, v, problem.r, problem.c, numItermax, tol=float(stopThr),
                                    check_every=max(1, check_every), errors=errors)
    for e in errors:
        log.record(marginal_error=e)
    P = problem.embed(plan(L, u, v))
    err = marginal_error(P[np.ix_(problem.rows, problem.cols)], problem.r, problem.c)
    alpha = np.full(problem.shape[0], -np.inf)
    beta = np.full(problem.shape[1], -np.inf)
    alpha[problem.rows], beta[problem.cols] = u / problem.eta, v / problem.eta
    result = log.result((alpha, beta), converged=err <= stopThr, n_iter=done, plan=P, marginal_error=err,
                        message="" if err <= stopThr else f"marginal error {err:.3g} > stopThr={stopThr:g}",
                        cost=float(np.sum(P * np.asarray(M, dtype=float))))
    return warn_if_not_converged(result, "sinkhorn_log_domain")
