"""The structured E-step against the dense posterior N(μ, Σ) computed by matrix inversion."""

import numpy as np
import pytest

from sparsehub_kronecker_sbl.kronecker import kron_outer
from sparsehub_kronecker_sbl.posterior import dense_posterior, kron_posterior


def _dense_oracle(y, phi, gamma, noise_var):
    sigma = np.linalg.inv(phi.conj().T @ phi / noise_var + np.diag(1.0 / gamma))
    mu = sigma @ phi.conj().T @ y / noise_var
    cov = noise_var * np.eye(len(y)) + (phi * gamma) @ phi.conj().T
    nle = np.linalg.slogdet(cov)[1] + np.real(y.conj() @ np.linalg.solve(cov, y))
    return mu, sigma, nle


def _instance(complex_valued, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (2, 5), (4, 3)]
    factors = [rng.standard_normal(s) + (1j * rng.standard_normal(s) if complex_valued else 0) for s in shapes]
    gammas = [rng.uniform(0.1, 2.0, s[1]) for s in shapes]
    y = rng.standard_normal(24) + (1j * rng.standard_normal(24) if complex_valued else 0)
    phi = np.kron(np.kron(factors[0], factors[1]), factors[2])
    return y, factors, gammas, phi, kron_outer(gammas).reshape(-1)


@pytest.mark.parametrize("complex_valued", [False, True])
def test_kron_posterior_mean_and_variances_match_the_dense_inverse(complex_valued):
    y, factors, gammas, phi, gamma = _instance(complex_valued)
    post = kron_posterior(y, factors, gammas, 0.3)
    mu, sigma, nle = _dense_oracle(y, phi, gamma, 0.3)
    np.testing.assert_allclose(post.mean.reshape(-1), mu, atol=1e-10)
    np.testing.assert_allclose(post.var.reshape(-1), np.real(np.diag(sigma)), atol=1e-10)
    assert post.neg_log_evidence == pytest.approx(nle, rel=1e-10)
    assert post.residual_sq == pytest.approx(np.sum(np.abs(y - phi @ mu) ** 2), rel=1e-9)
    assert post.dof == pytest.approx(np.sum(1 - np.real(np.diag(sigma)) / gamma), rel=1e-9)


def test_kron_posterior_handles_more_rows_than_columns_in_a_factor():
    # Pruning leaves factors with M_i > n_i: H_i Γ_i H_iᴴ is then singular (zero eigenvalues).
    rng = np.random.default_rng(5)
    factors = [rng.standard_normal((4, 2)), rng.standard_normal((3, 1))]
    gammas = [np.array([1.0, 0.5]), np.array([2.0])]
    y = rng.standard_normal(12)
    post = kron_posterior(y, factors, gammas, 0.1)
    mu, sigma, _ = _dense_oracle(y, np.kron(*factors), kron_outer(gammas).reshape(-1), 0.1)
    np.testing.assert_allclose(post.mean.reshape(-1), mu, atol=1e-10)
    np.testing.assert_allclose(post.var.reshape(-1), np.diag(sigma), atol=1e-10)


@pytest.mark.parametrize("columns", [slice(None), slice(0, 10)], ids=["n>=M (M x M system)", "n<M (n x n system)"])
@pytest.mark.parametrize("complex_valued", [False, True])
def test_dense_posterior_matches_the_inverse_in_both_branches(columns, complex_valued):
    y, _, _, phi, gamma = _instance(complex_valued, seed=1)
    sub, g = phi[:, columns], gamma[columns]
    post = dense_posterior(y, sub, g, 0.2)
    mu, sigma, nle = _dense_oracle(y, sub, g, 0.2)
    np.testing.assert_allclose(post.mean, mu, atol=1e-10)
    np.testing.assert_allclose(post.var, np.real(np.diag(sigma)), atol=1e-10)
    assert post.neg_log_evidence == pytest.approx(nle, rel=1e-10)
    assert post.residual_sq == pytest.approx(np.sum(np.abs(y - sub @ mu) ** 2), rel=1e-9)
    assert post.dof == pytest.approx(np.sum(1 - np.real(np.diag(sigma)) / g), rel=1e-9)


def test_structured_e_step_counts_far_fewer_flops_than_the_dense_one():
    y, factors, gammas, phi, gamma = _instance(False)
    assert kron_posterior(y, factors, gammas, 0.3).flops < dense_posterior(y, phi, gamma, 0.3).flops
