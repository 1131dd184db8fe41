"""KroSBL and classical SBL end to end: oracles (dense posterior, sklearn ARD), invariants, warnings."""

import tracemalloc
import warnings

import numpy as np
import pytest

from sparsehub.errors import ConvergenceWarning
from sparsehub_kronecker_sbl import classical_sbl, kron_sbl, kronecker_sparse_problem, nmse
from sparsehub_kronecker_sbl.kronecker import kron_outer
from sparsehub_kronecker_sbl.posterior import dense_posterior

PAPER = [(8, 10), (8, 10), (10, 10)]  # the paper's Sec. VII set-up at N = 1000, M = 640


@pytest.mark.parametrize("method", ["svd", "am"])
def test_kron_sbl_x_is_the_dense_posterior_mean_under_its_own_hyperparameters(method):
    pb = kronecker_sparse_problem([(6, 8), (5, 7)], 2, seed=1)
    res = kron_sbl(pb.y, *pb.factors, method=method, noise_var=pb.noise_var)
    gamma = kron_outer(res.info["gammas"]).reshape(-1)
    keep = np.flatnonzero(gamma)
    post = dense_posterior(pb.y, pb.dense()[:, keep], gamma[keep], res.info["noise_var"])
    expected = np.zeros_like(res.x)
    expected[keep] = post.mean
    np.testing.assert_allclose(res.x, expected, atol=1e-10)
    np.testing.assert_allclose(res.info["variance"][keep], post.var, atol=1e-10)


@pytest.mark.parametrize("method", ["svd", "am"])
def test_kron_sbl_recovers_a_kronecker_sparse_x_and_its_support(method):
    pb = kronecker_sparse_problem(PAPER, 3, snr_db=25.0, seed=0)
    res = kron_sbl(pb.y, *pb.factors, method=method, noise_var=pb.noise_var)
    assert res.converged
    assert nmse(res.x, pb.x) < 1e-2
    # No false positive: what survives pruning lies in the true support of every factor (entries of
    # x_i too small to matter may be pruned, the NMSE bound above covers them).
    for kept, true in zip(res.info["support"], pb.supports):
        assert set(kept) <= set(true) and len(kept) >= 1


def test_kron_sbl_recovers_complex_signals_with_complex_factors():
    pb = kronecker_sparse_problem([(12, 16), (12, 16)], 3, snr_db=20.0, complex_valued=True, seed=2)
    res = kron_sbl(pb.y, pb.factors)  # a list of factors works as well as separate arguments
    assert np.iscomplexobj(res.x)
    assert nmse(res.x, pb.x) < 1e-2


def test_nmse_decreases_over_the_em_iterations():
    pb = kronecker_sparse_problem(PAPER, 3, seed=0)
    errors = []
    kron_sbl(pb.y, *pb.factors, noise_var=pb.noise_var, callback=lambda x: errors.append(nmse(x, pb.x)))
    assert len(errors) > 3
    assert errors[-1] < 0.05 * errors[0]
    assert errors[-1] <= min(errors[:3])


def test_nmse_decreases_with_more_measurements():
    few, many = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # M = 320 is near the recovery limit
        for seed in range(5):
            for m1, out in ((4, few), (8, many)):
                pb = kronecker_sparse_problem([(m1, 10), (8, 10), (10, 10)], 3, seed=seed)
                out.append(nmse(kron_sbl(pb.y, *pb.factors, noise_var=pb.noise_var).x, pb.x))
    assert np.median(many) < 0.2 * np.median(few)


@pytest.mark.parametrize("solver", ["kron_sbl am", "classical_sbl"])
def test_em_never_increases_the_negative_log_evidence(solver):
    # Exact M-steps (AM, unconstrained EM) make EM monotone; pruning is off so nothing else moves γ.
    pb = kronecker_sparse_problem([(6, 8), (6, 8)], 2, seed=3)
    with pytest.warns(ConvergenceWarning):
        if solver == "classical_sbl":
            res = classical_sbl(pb.y, pb.dense(), noise_var=pb.noise_var, prune_rel=0, tol=0, max_iter=40)
        else:
            res = kron_sbl(pb.y, *pb.factors, method="am", noise_var=pb.noise_var, prune_rel=0, tol=0,
                           max_iter=40, inner_tol=1e-10)
    objective = np.array(res.history["objective"])
    assert np.all(np.diff(objective) <= 1e-9 * np.abs(objective[:-1]))
    assert objective[-1] < objective[0]


@pytest.mark.parametrize("solver", ["kron_sbl", "classical_sbl"])
def test_unknown_noise_variance_is_estimated_within_a_factor_two(solver):
    ratios = []
    for seed in range(3):
        pb = kronecker_sparse_problem(PAPER, 3, snr_db=15.0, seed=seed)
        if solver == "kron_sbl":
            res = kron_sbl(pb.y, *pb.factors)
        else:
            res = classical_sbl(pb.y, pb.dense())
        ratios.append(res.info["noise_var"] / pb.noise_var)
        assert res.history["noise_var"][-1] == res.info["noise_var"]
    assert 0.5 <= np.median(ratios) <= 2.0


def test_classical_sbl_agrees_with_sklearn_ard_on_an_overdetermined_problem():
    from sklearn.linear_model import ARDRegression

    rng = np.random.default_rng(0)
    a = rng.standard_normal((120, 40))
    x = np.zeros(40)
    x[[3, 11, 27]] = [1.5, -2.0, 1.0]
    y = a @ x + 0.05 * rng.standard_normal(120)
    ours = classical_sbl(y, a, tol=1e-8, max_iter=500)
    ard = ARDRegression(fit_intercept=False, max_iter=1000, tol=1e-8).fit(a, y)
    np.testing.assert_allclose(ours.x, ard.coef_, atol=5e-3)
    np.testing.assert_array_equal(np.flatnonzero(np.abs(ours.x) > 1e-3), [3, 11, 27])


def test_one_factor_falls_back_to_classical_sbl_with_a_warning():
    pb = kronecker_sparse_problem([(30, 50)], 4, seed=4)
    with pytest.warns(UserWarning, match="classical SBL"):
        res = kron_sbl(pb.y, pb.factors[0], noise_var=pb.noise_var)
    np.testing.assert_allclose(res.x, classical_sbl(pb.y, pb.factors[0], noise_var=pb.noise_var).x)


def test_the_large_case_never_forms_the_kronecker_matrix():
    pb = kronecker_sparse_problem([(64, 128), (64, 128)], 5, seed=0)
    tracemalloc.start()
    try:
        res = kron_sbl(pb.y, *pb.factors, noise_var=pb.noise_var)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    dense_bytes = pb.y.size * pb.x.size * 8  # 4096 x 16384 float64: 512 MiB
    assert peak < dense_bytes / 16
    assert nmse(res.x, pb.x) < 1e-2


def test_non_convergence_warns_and_says_so_in_the_result():
    pb = kronecker_sparse_problem(PAPER, 3, seed=0)
    with pytest.warns(ConvergenceWarning, match="kron_sbl"):
        res = kron_sbl(pb.y, *pb.factors, noise_var=pb.noise_var, max_iter=1)
    assert not res.converged and res.n_iter == 1 and np.isfinite(res.x).all()
    with pytest.warns(ConvergenceWarning, match="classical_sbl"):
        res = classical_sbl(pb.y, pb.dense(), max_iter=2)
    assert not res.converged and res.n_iter == 2


def test_all_hyperparameters_pruned_returns_zeros_with_a_warning():
    pb = kronecker_sparse_problem([(6, 8), (6, 8)], 2, seed=0)
    with pytest.warns(UserWarning, match="pruned"):
        res = kron_sbl(np.zeros_like(pb.y), *pb.factors, noise_var=1.0)
    assert not res.converged
    np.testing.assert_array_equal(res.x, 0.0)


def test_zero_coupling_is_the_uncoupled_algorithm():
    pb = kronecker_sparse_problem([(8, 12), (6, 10)], [3, 2], contiguous=[True, False], seed=5)
    plain = kron_sbl(pb.y, *pb.factors, noise_var=pb.noise_var)
    zero = kron_sbl(pb.y, *pb.factors, noise_var=pb.noise_var, block=[0.0, None])
    np.testing.assert_array_equal(plain.x, zero.x)


@pytest.mark.parametrize("method", ["svd", "am"])
def test_block_sparse_extension_recovers_a_clustered_complex_signal(method):
    pb = kronecker_sparse_problem([(10, 24), (8, 10)], [6, 2], snr_db=25.0, complex_valued=True,
                                  contiguous=[True, False], seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # AM may need more than 150 iterations here
        res = kron_sbl(pb.y, *pb.factors, method=method, noise_var=pb.noise_var, block=[1.0, 0.0])
    assert nmse(res.x, pb.x) < 5e-2
    first = res.info["gammas"][0]
    assert set(pb.supports[0]) <= set(np.flatnonzero(first > 1e-2 * first.max()))


def test_solvers_do_not_modify_their_inputs():
    pb = kronecker_sparse_problem([(6, 8), (5, 7)], 2, seed=7)
    y, factors = pb.y.copy(), [f.copy() for f in pb.factors]
    kron_sbl(pb.y, *pb.factors, method="am", block=0.5)
    classical_sbl(pb.y, pb.dense())
    np.testing.assert_array_equal(pb.y, y)
    for f, g in zip(pb.factors, factors):
        np.testing.assert_array_equal(f, g)
