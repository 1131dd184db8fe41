"""SNS against POT (converged Sinkhorn, exact EMD), its invariants, and its bad inputs."""

import warnings

import numpy as np
import ot
import pytest

from sparsehub.errors import ConvergenceWarning, ShapeError
from sparsehub_sinkhorn_newton_sparse import (
    entries_kept,
    grid_densities,
    marginal_error,
    random_assignment,
    sinkhorn_log_domain,
    sinkhorn_newton_sparse,
    sns_solve,
)


def _problem(n=60, m=None, seed=0):
    rng = np.random.default_rng(seed)
    m = n if m is None else m
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return a / a.sum(), b / b.sum(), rng.random((n, m))


@pytest.mark.parametrize("shape", [(60, 60), (50, 80)])
def test_plan_matches_pot_converged_sinkhorn(shape):
    a, b, M = _problem(*shape)
    reg = 0.02
    P, log = sinkhorn_newton_sparse(a, b, M, reg, log=True)
    P_pot = ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-14, numItermax=100_000)
    assert log["converged"] and log["err"][-1] <= 1e-9
    assert marginal_error(P, a, b) <= 1e-9
    np.testing.assert_allclose(P, P_pot, atol=1e-9)
    assert abs((P * M).sum() - (P_pot * M).sum()) <= 1e-6 * (P_pot * M).sum()


def test_cost_within_entropic_bound_of_exact_emd_at_small_reg():
    a, b, M = random_assignment(120, seed=1)
    reg = 1 / 1200
    P = sinkhorn_newton_sparse(a, b, M, reg)
    exact = ot.emd2(a, b, M)
    cost = float((P * M).sum())
    # 0 <= <P_reg, M> - OT <= reg * (H(a) + H(b)) for the entropic optimum
    entropy_bound = reg * 2 * np.log(a.size)
    assert exact - 1e-12 <= cost <= exact + entropy_bound


def test_random_assignment_converges_in_few_newton_steps_at_paper_eta():
    a, b, M = random_assignment(300, seed=0)
    res = sns_solve(a, b, M, 1 / 1200)
    assert res.converged and res.info["marginal_error"] <= 1e-9
    assert res.info["n_sinkhorn"] == 20 and res.info["n_newton"] <= 20
    with pytest.warns(ConvergenceWarning):  # plain Sinkhorn with 5x the iterations has not converged yet
        plain = sinkhorn_log_domain(a, b, M, 1 / 1200, numItermax=5 * res.n_iter)
    assert plain.info["marginal_error"] > 1e-9
    assert abs(res.info["cost"] - plain.info["cost"]) <= 1e-3 * plain.info["cost"]


def test_log_domain_takes_over_where_exp_of_minus_cost_over_reg_underflows():
    a, b, M = random_assignment(40, seed=2)
    M = M + 1.0  # exp(-M / reg) == 0 everywhere at reg = 1e-3
    reg = 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P_plain = ot.sinkhorn(a, b, M, reg, method="sinkhorn", numItermax=50)
    assert not np.isfinite(P_plain).all() or P_plain.sum() == 0 or marginal_error(P_plain, a, b) > 1e-3
    P, log = sinkhorn_newton_sparse(a, b, M, reg, log=True)
    assert np.isfinite(P).all() and marginal_error(P, a, b) <= 1e-9
    assert np.isfinite(log["alpha"]).all() and np.isfinite(log["beta"]).all()


def test_plan_is_the_exponential_of_the_returned_potentials():
    a, b, M = _problem(30, 40, seed=3)
    reg = 0.05
    P, log = sinkhorn_newton_sparse(a, b, M, reg, log=True)
    np.testing.assert_allclose(P, np.exp((log["alpha"][:, None] + log["beta"][None, :] - M) / reg - 1), rtol=1e-12)
    K = np.exp(-M / reg)
    np.testing.assert_allclose(P, np.exp(log["log_u"])[:, None] * K * np.exp(log["log_v"])[None, :], rtol=1e-10)


def test_compiled_cg_matches_numpy_reference():
    a, b, M = random_assignment(150, seed=4)
    fast = sns_solve(a, b, M, 1 / 500, compiled=True)
    ref = sns_solve(a, b, M, 1 / 500, compiled=False)
    assert fast.n_iter == ref.n_iter
    np.testing.assert_allclose(fast.info["plan"], ref.info["plan"], atol=1e-12)


def test_zero_mass_entries_are_dropped_and_reinserted_as_zeros():
    a, b, M = _problem(20, 25, seed=5)
    a2, b2 = a.copy(), b.copy()
    a2[[3, 7]] = 0.0
    b2[4] = 0.0
    a2, b2 = a2 / a2.sum(), b2 / b2.sum()
    P, log = sinkhorn_newton_sparse(a2, b2, M, 0.05, log=True)
    assert np.all(P[[3, 7], :] == 0) and np.all(P[:, 4] == 0)
    keep_r, keep_c = np.flatnonzero(a2), np.flatnonzero(b2)
    P_sub = sinkhorn_newton_sparse(a2[keep_r], b2[keep_c], M[np.ix_(keep_r, keep_c)], 0.05)
    np.testing.assert_allclose(P[np.ix_(keep_r, keep_c)], P_sub, atol=1e-14)
    assert np.all(np.isneginf(log["alpha"][[3, 7]]))


def test_results_are_deterministic_and_inputs_untouched():
    a, b, M = grid_densities(8, "l1", seed=0)
    copies = a.copy(), b.copy(), M.copy()
    P1 = sinkhorn_newton_sparse(a, b, M, 1 / 200, n_sinkhorn=50)
    P2 = sinkhorn_newton_sparse(a, b, M, 1 / 200, n_sinkhorn=50)
    np.testing.assert_array_equal(P1, P2)
    for x, y in zip((a, b, M), copies, strict=True):
        np.testing.assert_array_equal(x, y)


def test_iteration_limit_warns_and_flags_non_convergence():
    a, b, M = random_assignment(50, seed=0)
    with pytest.warns(ConvergenceWarning, match="sinkhorn_newton_sparse"):
        res = sns_solve(a, b, M, 1 / 1000, n_sinkhorn=2, max_newton=0)
    assert not res.converged and res.info["marginal_error"] > 1e-9


def test_normalize_rescales_unequal_masses():
    a, b, M = _problem(10, 12)
    P = sinkhorn_newton_sparse(2 * a, b, M, 0.1, normalize=True)
    np.testing.assert_allclose(P.sum(axis=1), a, atol=1e-9)


def test_entries_kept_follows_the_target_sparsity_of_the_hessian():
    assert entries_kept(500, 500, 2 / 500) == 1500  # (lambda (2n)^2 - 2n) / 2 = 3n
    assert entries_kept(10, 10, 1.0) == 100
    assert entries_kept(100, 100, 1e-9) == 100  # at least one per row


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda a, b, M: (a * 2, b, M), "sum\\(a\\) - sum\\(b\\)"),
        (lambda a, b, M: (np.where(np.arange(a.size) == 0, -0.1, a), b, M), "a\\[0\\]"),
        (lambda a, b, M: (a, b, M[:, :-1]), "len\\(b\\)"),
        (lambda a, b, M: (a, b, np.where(M > 0.5, np.nan, M)), "M has"),
        (lambda a, b, M: (a, np.full_like(b, np.inf), M), "b has"),
        (lambda a, b, M: (a, b, M[0]), "M.ndim"),
    ],
)
def test_bad_problems_are_rejected_with_the_argument_named(change, match):
    a, b, M = change(*_problem(10))
    with pytest.raises(ValueError, match=match):
        sinkhorn_newton_sparse(a, b, M, 0.1)


def test_wrong_cost_shape_is_a_shape_error():
    a, b, M = _problem(10)
    with pytest.raises(ShapeError):
        sinkhorn_newton_sparse(a, b, M.T[:, :5], 0.1)


@pytest.mark.parametrize("reg", [0.0, -1.0, np.nan, np.inf, "x"])
def test_non_positive_or_non_finite_reg_is_rejected(reg):
    a, b, M = _problem(10)
    with pytest.raises(ValueError, match="reg"):
        sinkhorn_newton_sparse(a, b, M, reg)


@pytest.mark.parametrize(
    ("opts", "name"),
    [({"sparsity": 0.0}, "sparsity"), ({"sparsity": 1.5}, "sparsity"), ({"n_sinkhorn": -1}, "n_sinkhorn"),
     ({"max_newton": 2.5}, "max_newton"), ({"cg_maxiter": 0}, "cg_maxiter"), ({"stopThr": -1.0}, "stopThr")],
)
def test_bad_options_are_rejected(opts, name):
    a, b, M = _problem(10)
    with pytest.raises(ValueError, match=name):
        sinkhorn_newton_sparse(a, b, M, 0.1, **opts)


def test_verbose_draws_a_progress_bar_of_the_newton_stage(capsys):
    a, b, M = random_assignment(60, seed=0)
    res = sns_solve(a, b, M, 1 / 300, verbose=True)
    assert res.converged and "sns: newton" in capsys.readouterr().err
