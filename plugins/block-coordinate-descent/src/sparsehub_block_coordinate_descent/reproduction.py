"""Reproduction of the paper's claims at small scale: ``reproduce(quick=True, seed=0) -> Report``.

Every claim is decided by iteration or operation counts measured in this run against a real
baseline (cyclic / random selection, gradient updates, red-black blocks, scikit-learn's cyclic
coordinate descent), never by wall time:

1. Least squares (dataset A): greedy variable-block rules (GS, GSD) against cyclic and random
   fixed blocks; GSD against GS (the 1/sqrt(L_i) scaling); matrix against gradient updates.
2. Logistic (dataset B) and softmax (dataset C): greedy against cyclic and random selection.
3. Lattice label propagation (dataset D): tree-partition blocks solved by message passing against
   red-black blocks.
4. L1 least squares: proximal greedy BCD identifies the active set after finitely many
   iterations; with Newton (exact) block updates it then terminates, while prox-gradient updates
   keep converging linearly.
5. Lasso: greedy BCD needs fewer coordinate updates than scikit-learn's cyclic CD to the same
   duality gap, at the same objective.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from sparsehub.progress import progress
from sparsehub.repro import Claim, Figure, Report

__all__ = ["reproduce"]

SLUG = "block-coordinate-descent"


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Small dense factorisations run far slower with BLAS threads on a loaded 2-core machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1):
        yield


def _run(problem: Any, tol: float = 0.0, **kwargs: Any) -> Any:
    from .bcd import bcd_minimize

    with warnings.catch_warnings():  # fixed budgets: not reaching tol is expected here
        warnings.simplefilter("ignore")
        return bcd_minimize(problem, tol=tol, **kwargs)


def _relative(res: Any, f_star: float, f_zero: float) -> np.ndarray:
    return np.maximum((np.asarray(res.history["objective"]) - f_star) / (f_zero - f_star), 1e-17)


def _iters_to(curve: np.ndarray, level: float) -> int:
    """First iteration with suboptimality <= level (len(curve) when never)."""
    hit = np.flatnonzero(curve <= level)
    return int(hit[0]) if hit.size else len(curve)


def _reference_min(problem: Any) -> float:
    """f* of a smooth strongly convex problem by L-BFGS to a tight gradient tolerance."""
    from scipy.optimize import minimize

    res = minimize(
        lambda x: (problem.value(x), problem.grad(x).ravel()),
        np.zeros(problem.n_params),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 20000, "gtol": 1e-8, "ftol": 1e-16},
    )
    return float(res.fun)


def _greedy_vs_classic(
    report: Report,
    name: str,
    problem: Any,
    f_star: float,
    iters: int,
    greedy: dict[str, dict[str, Any]],
    seed: int,
) -> dict[str, np.ndarray]:
    """Run cyclic/random fixed blocks and the greedy rules; claim the greedy iteration savings."""
    f_zero = problem.value(np.zeros(problem.shape))
    runs = {
        "cyclic": {"partition": "order", "selection": "cyclic", "update": "gradient"},
        "random": {"partition": "order", "selection": "random", "update": "gradient"},
        **greedy,
    }
    curves = {}
    for label, opts in progress(runs.items(), desc=f"{SLUG}: {name}", label=lambda kv: kv[0]):
        res = _run(problem, block_size=5, max_iter=iters, random_state=seed, **opts)
        curves[label] = _relative(res, f_star, f_zero)
    level = min(curves["cyclic"][-1], curves["random"][-1])
    first = next(iter(greedy))
    report.add(
        Claim.compare(
            f"{name}: greedy {first} reaches the suboptimality of the better of cyclic/random "
            "in fewer iterations",
            "iterations to reach it",
            _iters_to(curves[first], level),
            iters,
            baseline_name="budget of cyclic/random",
            op="<",
            details={"level": float(level), **{k: float(v[-1]) for k, v in curves.items()}},
        )
    )
    return curves


def _least_squares(report: Report, quick: bool, seed: int) -> dict[str, np.ndarray]:
    from .datasets import least_squares_problem

    problem = least_squares_problem(1000, 2000, seed=seed + 1)
    A = problem.A.toarray()
    x_star = np.linalg.lstsq(A, problem.b, rcond=None)[0]
    f_star = problem.value(x_star)
    iters = 500
    greedy = {
        "gsd-vb-lb": {"selection": "gsd", "update": "gradient"},
        "gs-vb-lb": {"selection": "gs", "update": "gradient"},
        "gs-vb-hb": {"selection": "gs", "update": "matrix"},
        "gsd-vb-hb": {"selection": "gsd", "update": "matrix"},
    }
    c = _greedy_vs_classic(report, "least squares", problem, f_star, iters, greedy, seed)
    report.add(
        Claim.check(
            "least squares: GSD variable blocks + matrix updates reach 1e-2 relative "
            "suboptimality within 60 iterations",
            "iterations to 1e-2",
            _iters_to(c["gsd-vb-hb"], 1e-2),
            op="<=",
            bound=60,
        )
    )
    for upd in ("lb", "hb"):
        report.add(
            Claim.compare(
                f"least squares: GSD beats GS (1/sqrt(L_i) scaling) with variable blocks, "
                f"{'Lb' if upd == 'lb' else 'Hb'} updates",
                f"suboptimality after {iters} it",
                c[f"gsd-vb-{upd}"][-1],
                c[f"gs-vb-{upd}"][-1],
                baseline_name=f"GS-VB {upd}",
                op="<=",
                scale=0.2,
            )
        )
    report.add(
        Claim.compare(
            "least squares: matrix updates (H_b = A_b^T A_b) beat Lipschitz gradient updates under GSD",
            f"suboptimality after {iters} it",
            c["gsd-vb-hb"][-1],
            c["gsd-vb-lb"][-1],
            baseline_name="GSD-VB Lb",
            op="<=",
            scale=0.5,
        )
    )
    return c


def _logistic_and_softmax(report: Report, quick: bool, seed: int) -> dict[str, dict[str, np.ndarray]]:
    from .datasets import logistic_problem, softmax_problem

    out = {}
    lg = logistic_problem(500, 1000, seed=seed + 1)
    out["logistic"] = _greedy_vs_classic(
        report,
        "logistic",
        lg,
        _reference_min(lg),
        500,
        {
            "gsd-vb-lb": {"selection": "gsd", "update": "gradient"},
            "gsd-vb-newton": {"selection": "gsd", "update": "newton"},
        },
        seed,
    )
    sm = (
        softmax_problem(300, 100, 10, seed=seed + 1)
        if quick
        else softmax_problem(1000, 200, 20, seed=seed + 1)
    )
    out["softmax"] = _greedy_vs_classic(
        report,
        "softmax",
        sm,
        _reference_min(sm),
        500 if quick else 1000,
        {
            "gsd-vb-lb": {"selection": "gsd", "update": "gradient"},
            "gsd-vb-newton": {"selection": "gsd", "update": "newton"},
        },
        seed,
    )
    for name in ("logistic", "softmax"):
        c = out[name]
        report.add(
            Claim.compare(
                f"{name}: block Newton updates beat Lipschitz gradient updates under GSD",
                "final suboptimality",
                c["gsd-vb-newton"][-1],
                c["gsd-vb-lb"][-1],
                baseline_name="GSD-VB Lb",
                op="<=",
                scale=0.5,
            )
        )
    return out


def _lattice(report: Report, quick: bool, seed: int) -> dict[str, np.ndarray]:
    from scipy.sparse.linalg import spsolve

    from .datasets import lattice_label_propagation

    size = (30, 30, 36) if quick else (50, 50, 100)
    lp = lattice_label_propagation(*size, seed=seed + 1)
    problem = lp.problem
    f_star = problem.value(spsolve(problem.Q.tocsc(), problem.c))
    f_zero = problem.value(np.zeros(problem.n_params))
    curves = {}
    for label, part in (("red-black", lp.red_black), ("tree partition", lp.trees)):
        res = _run(
            problem, partition=part, selection="cyclic", update="message_passing", max_iter=800, tol=1e-13
        )
        curves[label] = _relative(res, f_star, f_zero)
    level = 1e-6
    report.add(
        Claim.compare(
            f"label propagation on a {size[0]}x{size[1]} lattice: tree-partition blocks (message passing) "
            "reach 1e-6 "
            "in fewer than half the iterations of red-black blocks",
            "iterations to 1e-6",
            _iters_to(curves["tree partition"], level),
            _iters_to(curves["red-black"], level),
            baseline_name="red-black",
            op="<",
            scale=0.5,
        )
    )
    return curves


def _active_set(report: Report, quick: bool, seed: int) -> dict[str, np.ndarray]:
    from .datasets import scaled_sparse_design
    from .problems import LeastSquares

    rng = np.random.default_rng(seed + 2)
    n, p = (200, 500) if quick else (1000, 2000)
    A = scaled_sparse_design(n, p, rng)
    w = rng.standard_normal(p) * (rng.random(p) < 0.05)
    b = A @ w + rng.standard_normal(n)
    lam = 0.05 * float(np.abs(A.T @ b).max())
    problem = LeastSquares(A, b)
    budget = 400
    runs = {}
    for upd in ("newton", "gradient"):
        res = _run(
            problem, reg=("l1", lam), selection="gsd", update=upd, block_size=50, max_iter=budget, tol=1e-13
        )
        F = np.asarray(res.history["objective"])
        runs[upd] = res, F
    F_star = min(runs["newton"][1].min(), runs["gradient"][1].min())
    F0 = runs["newton"][1][0]
    curves = {}
    after = {}
    for upd, (res, F) in runs.items():
        curve = np.maximum((F - F_star) / (F0 - F_star), 1e-17)
        curves[upd] = curve
        ident = res.info["active_set_iter"]
        after[upd] = _iters_to(curve, 1e-12) - ident
    nnz = runs["newton"][0].info["support_size"]
    res_n = runs["newton"][0]
    report.add(
        Claim.check(
            f"L1 least squares (n={n}, p={p}, {nnz} non-zeros, tau=50): proximal GSD identifies the "
            "active set "
            "after finitely many iterations and is then optimal (prox-gradient residual <= 1e-9)",
            "active_set_iter",
            res_n.info["active_set_iter"] if res_n.info["optimality"] <= 1e-9 else np.nan,
            op="<",
            bound=budget,
            details={"optimality": res_n.info["optimality"]},
        )
    )
    report.add(
        Claim.compare(
            "L1 least squares: after identification, Newton (exact) block updates reach 1e-12 "
            "relative suboptimality "
            "in far fewer iterations than prox-gradient updates (superlinear / finite termination vs linear)",
            "iterations after active_set_iter to 1e-12",
            after["newton"],
            after["gradient"],
            baseline_name="prox-gradient (Lb) updates",
            op="<=",
            scale=0.2,
            details={"active_set_iter": {k: v[0].info["active_set_iter"] for k, v in runs.items()}},
        )
    )
    return curves


def _lasso_vs_sklearn(report: Report, quick: bool, seed: int) -> None:
    from sklearn.linear_model import Lasso

    from .lasso import bcd_lasso, lasso_duality_gap

    rng = np.random.default_rng(seed + 3)
    n, p = (2000, 1000) if quick else (5000, 2000)
    X = np.asfortranarray(rng.standard_normal((n, p)))
    w = np.zeros(p)
    w[: p // 20] = rng.standard_normal(p // 20)
    y = X @ w + rng.standard_normal(n)
    lam = 0.1 * float(np.abs(X.T @ y).max())
    ours = bcd_lasso(X, y, lam, tol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = Lasso(alpha=lam / n, tol=1e-6, fit_intercept=False, max_iter=10000).fit(X, y)
    # one full gradient A^T r costs as much as p coordinate updates: count it as such
    our_ops = ours.info["coordinate_updates"] + ours.info["gradient_evaluations"] * p
    report.add(
        Claim.compare(
            f"Lasso {n}x{p}, alpha = 0.1 alpha_max: greedy BCD reaches duality gap 1e-6 y.y with "
            "fewer coordinate "
            "operations than cyclic coordinate descent (scikit-learn)",
            "coordinate operations / p",
            our_ops / p,
            float(sk.n_iter_),
            baseline_name="sklearn Lasso epochs",
            op="<=",
            details={"ours_gap": lasso_duality_gap(X, y, ours.x, lam) / float(y @ y)},
        )
    )

    def objective(x: np.ndarray) -> float:
        r = y - X @ x
        return 0.5 * float(r @ r) + lam * float(np.abs(x).sum())

    rel = abs(objective(ours.x) - objective(sk.coef_)) / objective(sk.coef_)
    report.add(
        Claim.check(
            "Lasso: the greedy BCD objective matches scikit-learn's to 1e-6 relative",
            "relative objective difference",
            rel,
            op="<=",
            bound=1e-6,
        )
    )


def reproduce(quick: bool = True, seed: int = 0) -> Report:
    """Measure the paper's claims; ``quick=True`` finishes in about 20 s on 2 CPU cores."""
    report = Report(SLUG, [], quick=quick, seed=seed)
    with report.timed(), _one_blas_thread():
        ls = _least_squares(report, quick, seed)
        other = _logistic_and_softmax(report, quick, seed)
        lattice = _lattice(report, quick, seed)
        l1 = _active_set(report, quick, seed)
        _lasso_vs_sklearn(report, quick, seed)
    report.figures += [
        Figure("least-squares", lambda ax: _draw(ax, ls, "least squares (dataset A), tau = 5")),
        Figure("logistic", lambda ax: _draw(ax, other["logistic"], "logistic (dataset B), tau = 5")),
        Figure("softmax", lambda ax: _draw(ax, other["softmax"], "softmax (dataset C), tau = 5")),
        Figure("lattice", lambda ax: _draw(ax, lattice, "lattice label propagation, exact block solves")),
        Figure("l1-active-set", lambda ax: _draw(ax, l1, "L1 least squares, GSD variable blocks, tau = 50")),
    ]
    report.notes = (
        "Suboptimality is (F - F*) / (F(0) - F*); F* from lstsq, L-BFGS, a sparse solve or the best "
        "of the L1 runs. Iteration counts, not time, decide every claim."
    )
    return report


def _draw(ax: Any, curves: dict[str, np.ndarray], title: str) -> None:
    for label, curve in curves.items():
        ax.semilogy(np.arange(curve.size), curve, label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel("relative suboptimality")
    ax.set_title(title)
    ax.legend(fontsize=7)
