"""Bad input is rejected at the boundary with the argument, the value and what is allowed."""

import numpy as np
import pytest

from sparsehub.errors import ShapeError
from sparsehub_kronecker_sbl import classical_sbl, kron_sbl, kronecker_sparse_problem


@pytest.fixture
def problem():
    return kronecker_sparse_problem([(5, 6), (4, 5)], 2, seed=0)


def _with(array, index, value):
    out = np.array(array, dtype=float)
    out[index] = value
    return out


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_measurements_are_rejected(problem, bad):
    with pytest.raises(ValueError, match=r"y has 1 NaN/Inf"):
        kron_sbl(_with(problem.y, 3, bad), *problem.factors)
    with pytest.raises(ValueError, match=r"y has 1 NaN/Inf"):
        classical_sbl(_with(problem.y, 3, bad), problem.dense())


def test_non_finite_factor_entries_are_rejected_naming_the_factor(problem):
    a1, a2 = problem.factors
    with pytest.raises(ValueError, match=r"factors\[1\] has 1 NaN/Inf"):
        kron_sbl(problem.y, a1, _with(a2, (0, 0), np.nan))
    with pytest.raises(ValueError, match=r"A has 1 NaN/Inf"):
        classical_sbl(problem.y, _with(problem.dense(), (0, 0), np.inf))


def test_measurements_that_do_not_match_the_kronecker_rows_are_rejected(problem):
    with pytest.raises(ShapeError, match=r"y.shape=\(19,\) is not allowed: expected \(20,\)"):
        kron_sbl(problem.y[:-1], *problem.factors)
    with pytest.raises(ShapeError, match=r"y.shape=\(20, 1\)"):
        kron_sbl(problem.y[:, None], *problem.factors)
    with pytest.raises(ShapeError, match=r"y.shape"):
        classical_sbl(problem.y[:-1], problem.dense())


def test_factors_must_be_non_empty_matrices(problem):
    with pytest.raises(ShapeError, match=r"factors\[0\].shape=\(5,\)"):
        kron_sbl(problem.y, np.ones(5), problem.factors[1])
    with pytest.raises(ShapeError, match=r"factors=.*at least one"):
        kron_sbl(problem.y)
    with pytest.raises(ShapeError, match=r"A.shape"):
        classical_sbl(problem.y, np.ones(20))
    with pytest.raises(ValueError, match=r"dtype"):
        kron_sbl(problem.y, np.array([["a"]]), problem.factors[1])


def test_a_zero_column_is_rejected_and_a_repeated_column_warns(problem):
    a1, a2 = problem.factors
    with pytest.raises(ValueError, match=r"factors\[0\] has zero column\(s\) \[2\]"):
        kron_sbl(problem.y, _with(a1, (slice(None), 2), 0.0), a2)
    repeated = a2.copy()
    repeated[:, 1] = repeated[:, 0]
    with pytest.warns(UserWarning, match=r"factors\[1\] has repeated columns"):
        kron_sbl(problem.y, a1, repeated)


@pytest.mark.parametrize("noise_var", [0.0, -1.0, np.nan, "loud"])
def test_non_positive_noise_variance_is_rejected(problem, noise_var):
    with pytest.raises(ValueError, match=r"noise_var=.* is not allowed"):
        kron_sbl(problem.y, *problem.factors, noise_var=noise_var)
    with pytest.raises(ValueError, match=r"noise_var=.* is not allowed"):
        classical_sbl(problem.y, problem.dense(), noise_var=noise_var)


@pytest.mark.parametrize("max_iter", [0, -3, 2.5, True])
def test_max_iter_below_one_or_not_an_int_is_rejected(problem, max_iter):
    with pytest.raises(ValueError, match=r"max_iter=.* expected an int >= 1"):
        kron_sbl(problem.y, *problem.factors, max_iter=max_iter)
    with pytest.raises(ValueError, match=r"max_iter=.* expected an int >= 1"):
        classical_sbl(problem.y, problem.dense(), max_iter=max_iter)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("method", "em", r"method='em' is not allowed: expected 'svd'"),
    ("tol", -1e-3, r"tol=-0.001 is not allowed"),
    ("prune_rel", 1.0, r"prune_rel=1.0 is not allowed: expected a float in \[0, 1\)"),
    ("inner_tol", 0.0, r"inner_tol=0.0 is not allowed"),
    ("max_inner", 0, r"max_inner=0 is not allowed"),
    ("block", [0.5], r"block=\[0.5\] is not allowed: expected .* 2 of them"),
    ("block", 1.5, r"block=1.5 is not allowed: expected coupling strengths in \[0, 1\]"),
])
def test_bad_options_name_the_option_and_the_allowed_values(problem, option, value, message):
    with pytest.raises(ValueError, match=message):
        kron_sbl(problem.y, *problem.factors, **{option: value})


def test_a_failed_call_leaves_the_inputs_untouched(problem):
    y, a1 = problem.y.copy(), problem.factors[0].copy()
    with pytest.raises(ValueError):
        kron_sbl(problem.y, *problem.factors, noise_var=-1.0)
    np.testing.assert_array_equal(problem.y, y)
    np.testing.assert_array_equal(problem.factors[0], a1)
