"""Block coordinate descent with the paper's partition, selection and update rules: ``bcd_minimize``.

min_x F(x) = f(x) + sum_i g_i(x_i) (Nutini, Laradji & Schmidt, JMLR 2022, Algorithm of Section 2):
each iteration picks a block b (fixed partition or a variable block chosen afresh), computes a
step on x_b from a quadratic model of f (Lipschitz scalar, Hessian bound H_b, true Hessian, or an
exact forest solve), and leaves every other coordinate untouched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from sparsehub.errors import bad_value
from sparsehub.solver import IterationLog, SolverResult, check_finite, check_positive, warn_if_not_converged

from .curvature import BlockCurvature
from .partitions import FIXED_KINDS, fixed_partition, validate_partition
from .problems import Problem
from .regularizers import parse_reg
from .selection import Selector
from .updates import BlockUpdater

__all__ = ["bcd_minimize"]


def _block_size(block_size: Any, selection: str, p: int) -> int | None:
    if block_size is None:
        return None if selection == "tree" else min(5, p)
    if (
        isinstance(block_size, bool)
        or not isinstance(block_size, (int, np.integer))
        or not 1 <= block_size <= p
    ):
        raise bad_value("block_size", block_size, f"an int in [1, {p}] (the number of coordinates)")
    return int(block_size)


def _partition(partition: Any, lipschitz: np.ndarray, active: np.ndarray, tau: int | None) -> list | None:
    p = lipschitz.size
    if isinstance(partition, str):
        if partition == "variable":
            return None
        if partition not in FIXED_KINDS:
            raise bad_value(
                "partition", partition, f"'variable', one of {FIXED_KINDS} or a list of index arrays"
            )
        blocks = fixed_partition(partition, np.where(active, lipschitz, -np.inf), tau or min(5, p))
    else:
        blocks = validate_partition(partition, p)
    # all-zero features (L_i = 0) never move: drop them from their blocks
    blocks = [b[active[b]] for b in blocks]
    return [b for b in blocks if b.size]


def bcd_minimize(
    problem: Problem,
    x0: Any = None,
    *,
    block_size: int | None = None,
    partition: Any = "variable",
    selection: str = "gsd",
    update: str = "matrix",
    reg: Any = None,
    max_iter: int = 500,
    tol: float = 1e-8,
    check_every: int | None = None,
    callback: Callable[[int, np.ndarray], Any] | None = None,
    random_state: Any = None,
) -> SolverResult:
    """Minimise f(x) + g(x) by block coordinate descent with a greedy or random block rule.

    Paper: Nutini, Laradji & Schmidt (2022), sections 3-4 (selection), 5 (message passing) and
    6 (proximal updates, active-set identification, superlinear convergence).

    Parameters
    ----------
    problem : a :class:`~.problems.Problem` (LeastSquares, Logistic, Softmax, Quadratic).
    x0 : start, shape ``problem.shape`` (zeros by default). Not modified.
    block_size : τ, the coordinates per block (default 5; unbounded for ``selection='tree'``).
    partition : ``'variable'`` (a new block each iteration), ``'order'``, ``'sort'``, ``'avg'``
        (fixed blocks of τ), or a list of disjoint index arrays covering every coordinate.
    selection : see :mod:`.selection` (``cyclic``, ``random``, ``lipschitz``, ``gs``, ``gsl``,
        ``gsd``, ``gsd_hb``, ``gsq``, ``iht``, ``tree``, ``gsr``).
    update : ``'gradient'``, ``'matrix'``, ``'newton'``, ``'la'`` or ``'message_passing'``.
    reg : None, ``('l1', lam)``, ``('nonneg',)`` or ``('l1+nonneg', lam)``; lam a float > 0 or a
        (p,) array >= 0 (0 leaves a coordinate unpenalised).
    max_iter : iteration limit; not converging by then gives converged=False and a
        ConvergenceWarning.
    tol : stop when ||x - prox(x - grad f(x))||_inf <= tol (||grad f||_inf when smooth).
    check_every : iterations between convergence checks (default: every iteration for greedy
        rules, which compute the gradient anyway; once per epoch for cyclic/random ones).
    callback : ``callback(k, x)`` after iteration k; returning True stops the run.
    random_state : seed or numpy Generator for the random rules.

    Returns
    -------
    SolverResult with ``x`` (shape ``problem.shape``), ``history['objective']`` (F at x0 and after
    every iteration), ``history['optimality']`` (NaN where not computed) and ``info``:
    ``active_set_iter`` (the iteration after which the zero pattern never changed; None when
    smooth), ``support_size``, ``zero_lipschitz`` (all-zero features, never updated),
    ``jittered_blocks``, ``line_search_steps``, ``n_blocks``, ``block_size``.
    """
    if not isinstance(problem, Problem):
        raise bad_value(
            "problem", type(problem).__name__, "a Problem (LeastSquares, Logistic, Softmax, Quadratic)"
        )
    p = problem.n_params
    x = np.zeros(p) if x0 is None else problem._flat(check_finite("x0", x0)).copy()
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
        raise bad_value("max_iter", max_iter, "an int >= 0")
    tol = check_positive("tol", tol, allow_zero=True)
    if not isinstance(selection, str):
        raise bad_value("selection", selection, "a rule name such as 'gsd'")
    tau = _block_size(block_size, selection, p)
    regularizer = parse_reg(reg, p)
    lipschitz = problem.coord_lipschitz()
    active = lipschitz > 0
    blocks = _partition(partition, lipschitz, active, tau)
    if blocks is not None and tau is None:
        tau = max(b.size for b in blocks)
    if check_every is not None and (not isinstance(check_every, (int, np.integer)) or check_every < 1):
        raise bad_value("check_every", check_every, "an int >= 1 or None")
    rng = np.random.default_rng(random_state)
    curvature = BlockCurvature(problem, blocks)
    selector = Selector(selection, problem, lipschitz, active, tau, blocks, curvature, regularizer, rng)
    updater = BlockUpdater(update, problem, curvature, regularizer)
    if update == "message_passing" and blocks is not None:
        for k, b in enumerate(blocks):  # a cyclic block fails here, before any iteration
            curvature.forest(b, k, updater._forest)
    if not active.any():
        raise bad_value(
            "problem",
            "every coordinate with L_i = 0 (all-zero features)",
            "at least one coordinate that f depends on",
        )

    if regularizer is not None:
        x = np.maximum(x, regularizer.lower)
        x[~active & (regularizer.lam > 0)] = 0.0  # F depends on those only through g: its minimiser
    if check_every is None:
        n_blocks = len(blocks) if blocks is not None else math.ceil(int(active.sum()) / (tau or p))
        check_every = 1 if selector.needs_gradient else max(1, n_blocks)

    def objective(s: np.ndarray) -> float:
        value = problem._value(s, x)
        return value + (regularizer.value(x) if regularizer is not None else 0.0)

    def optimality(g: np.ndarray) -> float:
        if regularizer is None:
            return float(np.max(np.abs(g[active]), initial=0.0))
        return (
            regularizer.optimality(x[active], g[active])
            if active.all()
            else _masked_optimality(regularizer, x, g, active)
        )

    log = IterationLog()
    s = problem._state(x)
    log.record(objective=objective(s), optimality=math.nan)
    support = x != 0
    last_change = 0
    converged, message, k, opt = False, "", 0, math.nan
    for k in range(max_iter):
        g = None
        opt = math.nan
        if selector.needs_gradient or k % check_every == 0:
            g = problem._grad(s, x)
            opt = optimality(g)
            log.history["optimality"][-1] = opt
            if opt <= tol:
                converged, message = True, f"optimality {opt:.3g} <= tol={tol:g}"
                break
        if blocks is None:
            key, idx = None, selector.variable(k, g, x)
        else:
            key = selector.fixed(k, g, x)
            idx = blocks[key]
        g_b = g[idx] if g is not None else problem._grad_block(s, x, idx)
        d = updater.step(s, x, idx, g_b, key)
        x[idx] += d
        if regularizer is not None:
            x[idx] = np.maximum(x[idx], regularizer.lower[idx])
        problem._shift(s, idx, d)
        F = objective(s)
        log.record(objective=F, optimality=math.nan)
        if not math.isfinite(F):
            message = f"the objective became {F} at iteration {k + 1}"
            k += 1
            break
        if regularizer is not None:
            now = x != 0
            if not np.array_equal(now, support):
                support, last_change = now, k + 1
        if callback is not None and callback(k, x.reshape(problem.shape)):
            message = f"stopped by callback at iteration {k + 1}"
            k += 1
            break
    else:
        k = max_iter
    if not converged:
        opt = optimality(problem._grad(s, x))
        log.history["optimality"][-1] = opt
        converged = opt <= tol
        message = message or (
            f"optimality {opt:.3g} <= tol={tol:g}"
            if converged
            else f"optimality {opt:.3g} > tol={tol:g} after max_iter={max_iter} iterations"
        )
    result = log.result(
        x.reshape(problem.shape).copy(),
        converged=converged,
        message=message,
        n_iter=k,
        active_set_iter=last_change if regularizer is not None else None,
        support_size=int(np.count_nonzero(x)),
        optimality=opt,
        zero_lipschitz=np.flatnonzero(~active),
        jittered_blocks=curvature.jittered,
        line_search_steps=updater.line_search_steps,
        n_blocks=None if blocks is None else len(blocks),
        block_size=tau,
        selection=selection,
        update=update,
        partition=partition if isinstance(partition, str) else "custom",
    )
    return warn_if_not_converged(result, "bcd_minimize")


def _masked_optimality(reg: Any, x: np.ndarray, g: np.ndarray, active: np.ndarray) -> float:
    z = reg.prox(x[active] - g[active], 1.0, np.flatnonzero(active))
    return float(np.max(np.abs(z - x[active]), initial=0.0))
