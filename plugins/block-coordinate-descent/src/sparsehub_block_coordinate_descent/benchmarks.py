"""``sparsehub bench block-coordinate-descent``: greedy BCD against scikit-learn, as time ratios.

Cases: the Lasso on Gaussian data (issue target: 5,000 x 2,000 to duality gap 1e-6, no slower
than scikit-learn's Cython coordinate descent), both fitted through their estimators
(``BCDLasso`` vs ``sklearn.linear_model.Lasso``) with the same stopping rule; in the full run
also L1-logistic regression (``BCDLogisticRegression`` vs ``LogisticRegression(penalty='l1')``
with liblinear), with the objectives each reached reported next to the times.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from sparsehub.bench import BenchResult, compare

__all__ = ["bench"]


def _lasso_data(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.asfortranarray(rng.standard_normal((n, p)))
    w = np.zeros(p)
    w[: p // 20] = rng.standard_normal(p // 20)
    return X, X @ w + rng.standard_normal(n)


def _lasso_case(n: int, p: int, fraction: float, threads: int, repeats: int) -> BenchResult:
    from sklearn.linear_model import Lasso

    from .estimators import BCDLasso
    from .lasso import lasso_duality_gap

    X, y = _lasso_data(n, p)
    alpha = fraction * float(np.abs(X.T @ y).max()) / n
    ours = BCDLasso(alpha=alpha, fit_intercept=False, tol=1e-6)
    anchor = Lasso(alpha=alpha, fit_intercept=False, tol=1e-6, max_iter=10_000)
    ours.fit(X, y)  # compiles the numba kernels outside the timings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        anchor.fit(X, y)
    lam, yy = alpha * n, float(y @ y)
    extra = {
        "stopping rule": "duality gap <= 1e-6 * ||y||^2 (both)",
        "ours: relative gap": lasso_duality_gap(X, y, ours.coef_, lam) / yy,
        "sklearn: relative gap": lasso_duality_gap(X, y, anchor.coef_, lam) / yy,
        "ours: outer iterations / coordinate updates per feature": (
            f"{ours.n_iter_} / {ours.result_.info['coordinate_updates'] / p:.2f}"
        ),
        "sklearn: epochs": int(anchor.n_iter_),
        "non-zeros": int(np.count_nonzero(ours.coef_)),
    }
    return compare(
        f"Lasso {n}x{p}, alpha = {fraction:g} alpha_max, to duality gap 1e-6",
        {"BCDLasso (greedy BCD)": lambda: ours.fit(X, y), "sklearn Lasso": lambda: anchor.fit(X, y)},
        ours="BCDLasso (greedy BCD)",
        threads=threads,
        repeats=repeats,
        warmup=1,
        min_time=0.0,
        extra=extra,
    )


def _logistic_case(n: int, p: int, threads: int, repeats: int) -> BenchResult:
    from sklearn.linear_model import LogisticRegression

    from .estimators import BCDLogisticRegression

    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[: p // 20] = 2.0 * rng.standard_normal(p // 20)
    y = (X @ w + rng.standard_normal(n) > 0).astype(int)
    C = 0.1
    ours = BCDLogisticRegression(C=C, tol=1e-6, block_size=50)
    anchor = (
        LogisticRegression(l1_ratio=1.0, C=C, solver="liblinear", tol=1e-6, max_iter=10_000)
        if _sklearn_has_l1_ratio()
        else LogisticRegression(penalty="l1", C=C, solver="liblinear", tol=1e-6)
    )

    def objective(model: object) -> float:
        z = X @ model.coef_.ravel() + float(np.ravel(model.intercept_)[0])
        s = 2.0 * y - 1.0
        return float(np.logaddexp(0.0, -s * z).sum() + np.abs(model.coef_).sum() / C)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours.fit(X, y)
        anchor.fit(X, y)
    extra = {
        "ours: objective": objective(ours),
        "sklearn: objective": objective(anchor),
        "note": "liblinear also penalises its intercept, so its objective can differ slightly",
    }

    def fit_anchor() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            anchor.fit(X, y)

    return compare(
        f"L1-logistic {n}x{p}, C = {C:g}",
        {"BCDLogisticRegression": lambda: ours.fit(X, y), "sklearn liblinear": fit_anchor},
        ours="BCDLogisticRegression",
        threads=threads,
        repeats=repeats,
        warmup=1,
        min_time=0.0,
        extra=extra,
    )


def _sklearn_has_l1_ratio() -> bool:
    import inspect

    from sklearn.linear_model import LogisticRegression

    params = inspect.signature(LogisticRegression).parameters
    return "l1_ratio" in params and params["penalty"].default == "deprecated"


def bench(quick: bool = True, threads: Sequence[int] = (1,)) -> list[BenchResult]:
    """Time greedy BCD against scikit-learn (1 thread vs 1 thread by default); ratios > 1: ours is faster."""
    results = []
    fractions = (0.1,) if quick else (0.5, 0.1, 0.01)
    for t in threads:
        for fraction in fractions:
            results.append(_lasso_case(5000, 2000, fraction, t, repeats=3 if quick else 7))
        if not quick:
            results.append(_logistic_case(2000, 500, t, repeats=5))
    return results
