"""The shared solver result type and input checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sparsehub.errors import ConvergenceWarning, ShapeError
from sparsehub.solver import IterationLog, SolverResult, check_finite, check_positive, warn_if_not_converged


def test_log_records_every_metric_per_iteration_with_time():
    log = IterationLog()
    for k in range(3):
        log.record(objective=1.0 / (k + 1), gap=0.1 * k)
    res = log.result(np.zeros(2), converged=True, message="tol reached", active=[0])
    assert res.n_iter == res.nit == 3
    assert res.history["objective"] == [1.0, 0.5, 1.0 / 3]
    assert len(res.history["seconds"]) == 3 and res.history["seconds"] == sorted(res.history["seconds"])
    assert res.fun == pytest.approx(1.0 / 3) and res.success and res.info == {"active": [0]}


def test_unconverged_result_warns_with_the_solver_name():
    res = SolverResult(x=None, n_iter=10, converged=False, message="max_iter reached")
    with pytest.warns(ConvergenceWarning, match=r"bcd did not converge after 10 iterations: max_iter"):
        warn_if_not_converged(res, "bcd")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_not_converged(SolverResult(x=None, n_iter=1, converged=True), "bcd")


def test_check_finite_names_the_argument_and_counts_bad_entries():
    with pytest.raises(ValueError, match=r"y has 2 NaN/Inf entries"):
        check_finite("y", [1.0, np.nan, np.inf])
    with pytest.raises(ShapeError, match=r"A.ndim=1"):
        check_finite("A", np.ones(3), ndim=2)
    with pytest.raises(ValueError, match=r"dtype complex"):
        check_finite("A", np.ones(3, complex))
    assert check_finite("A", np.ones((2, 2)), ndim=2).shape == (2, 2)


def test_check_finite_reads_scipy_sparse_values():
    sp = pytest.importorskip("scipy.sparse")
    good = sp.random(5, 5, density=0.3, format="csr", random_state=0)
    assert check_finite("Omega", good) is good
    bad = good.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match=r"Omega has 1 NaN/Inf stored values"):
        check_finite("Omega", bad)


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), "x", None])
def test_check_positive_rejects_non_positive(value):
    with pytest.raises(ValueError, match=r"lam="):
        check_positive("lam", value)


def test_check_positive_allows_zero_on_request():
    assert check_positive("tol", 0, allow_zero=True) == 0.0
    assert check_positive("lam", 2) == 2.0
