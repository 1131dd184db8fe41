"""The Kronecker-constrained M-step: AM maximises the EM objective, SVD fits rank one, coupling projects."""

import numpy as np
import pytest
from scipy.optimize import minimize, nnls

from sparsehub_kronecker_sbl.hyperparameters import (
    alternating_minimisation,
    couple,
    coupling_matrix,
    normalise,
    rank_one_fit,
)
from sparsehub_kronecker_sbl.kronecker import kron_outer


def _q(gammas, d):
    """The EM objective Q(γ) = −Σ_j (log γ_j + D_j / γ_j) for γ = ⊗γ_i."""
    g = kron_outer(gammas)
    return -np.sum(np.log(g) + d / g)


def test_am_reaches_the_maximum_of_q_found_by_a_generic_optimiser():
    rng = np.random.default_rng(0)
    d = rng.uniform(0.1, 2.0, (3, 4, 5)) ** 2
    start = [np.ones(3), np.ones(4), np.ones(5)]
    gammas, _, _ = alternating_minimisation(d, start, inner_tol=1e-12, max_inner=5000)

    def negative_q(z):
        return -_q([np.exp(z[:3]), np.exp(z[3:7]), np.exp(z[7:])], d)

    best = minimize(negative_q, np.zeros(12), method="BFGS", options={"gtol": 1e-10})
    assert _q(gammas, d) == pytest.approx(-best.fun, rel=1e-9)
    assert _q(gammas, d) > _q(start, d)


@pytest.mark.parametrize("update", ["am", "svd"])
def test_both_updates_recover_an_exactly_rank_one_d(update):
    rng = np.random.default_rng(1)
    d = kron_outer([rng.uniform(0.5, 2.0, n) for n in (3, 4, 5)])
    if update == "am":
        gammas, _, _ = alternating_minimisation(d, [np.ones(3), np.ones(4), np.ones(5)], inner_tol=1e-12,
                                                max_inner=100)
    else:
        gammas, _ = rank_one_fit(d)
    np.testing.assert_allclose(kron_outer(gammas), d, rtol=1e-10)
    # Scale fixed: every factor but the last has unit norm (no under/overflow drift).
    assert [np.linalg.norm(g) for g in gammas[:-1]] == pytest.approx([1.0, 1.0])


def test_rank_one_fit_is_the_leading_singular_triplet_of_the_unfolding():
    rng = np.random.default_rng(2)
    d = rng.uniform(0.0, 1.0, (4, 6))
    gammas, _ = rank_one_fit(d)
    u, s, vh = np.linalg.svd(d)
    np.testing.assert_allclose(np.outer(*gammas), s[0] * np.outer(np.abs(u[:, 0]), np.abs(vh[0])), rtol=1e-10)
    assert all((g >= 0).all() for g in gammas)


def test_normalise_keeps_the_kronecker_product():
    rng = np.random.default_rng(3)
    gammas = [rng.uniform(0.1, 5.0, n) for n in (2, 3, 4)]
    out = normalise(gammas)
    np.testing.assert_allclose(kron_outer(out), kron_outer(gammas), rtol=1e-12)


def test_coupling_matrix_links_only_original_neighbours():
    c = coupling_matrix(np.array([0, 1, 3, 4, 7]), 0.5)
    expected = np.eye(5)
    expected[0, 1] = expected[1, 0] = expected[2, 3] = expected[3, 2] = 0.5
    np.testing.assert_array_equal(c, expected)


def test_couple_is_the_nnls_projection_onto_the_coupled_cone():
    rng = np.random.default_rng(4)
    target = rng.uniform(0.0, 1.0, 8)
    c = coupling_matrix(np.arange(8), 0.7)
    projected, _ = couple(target, c)
    base, _ = nnls(c, target)
    np.testing.assert_allclose(projected, c @ base, atol=1e-12)
    assert (base >= 0).all() and np.linalg.norm(projected - target) <= np.linalg.norm(target) + 1e-12


def test_zero_coupling_leaves_a_nonnegative_vector_unchanged():
    target = np.array([0.0, 3.0, 1.0, 0.5])
    projected, _ = couple(target, coupling_matrix(np.arange(4), 0.0))
    np.testing.assert_allclose(projected, target, atol=1e-12)
