"""The conjugate-direction iteration: exact limits (CG, A⁻¹), safeguards and bad input."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import cg

from sparsehub.errors import ConvergenceWarning, ShapeError
from sparsehub_deep_conjugate_direction import (
    DCDMNet,
    conjugate_directions,
    dcdm,
    poisson_matrix,
    poisson_null_space,
)


def _b(n, seed=0):
    return np.random.default_rng(seed).standard_normal(n)


def test_residual_directions_reproduce_scipy_cg():
    """With q = r the A-orthogonalised steps are CG's: the same iterates, the same count."""
    A, b = poisson_matrix((12, 12)), _b(144)
    ours = conjugate_directions(A, b, lambda r: r, rtol=1e-8)
    iterates = []
    _, info = cg(A, b, rtol=1e-8, atol=0.0, callback=iterates.append)
    assert info == 0 and ours.converged
    assert abs(ours.n_iter - len(iterates)) <= 1
    np.testing.assert_allclose(ours.x, np.linalg.solve(A.toarray(), b), rtol=1e-6, atol=1e-8)


def test_exact_inverse_direction_converges_in_one_step_at_any_scale():
    A, b = poisson_matrix((6, 6)), _b(36)
    dense = A.toarray()
    result = conjugate_directions(A, b, lambda r: -7.0 * np.linalg.solve(dense, r), rtol=1e-10)
    assert result.n_iter == 1
    np.testing.assert_allclose(result.x, np.linalg.solve(dense, b), atol=1e-10)


def test_each_step_minimises_the_a_norm_error_along_its_direction():
    A, b = poisson_matrix((8, 8)), _b(64)
    xs = []
    rng = np.random.default_rng(1)
    with pytest.warns(ConvergenceWarning):
        conjugate_directions(A, b, lambda r: r + 0.3 * rng.standard_normal(r.size), rtol=1e-12, maxiter=30,
                             callback=xs.append)
    x_star = np.linalg.solve(A.toarray(), b)
    errors = [float((x - x_star) @ (A @ (x - x_star))) for x in xs]
    assert all(e1 <= e0 * (1 + 1e-12) for e0, e1 in itertools.pairwise(errors))


def test_orthogonalisation_against_previous_directions_matters():
    """Steepest-descent-like steps (no orthogonalisation) need many more iterations than n_orth = 2."""
    A, b = poisson_matrix((10, 10)), _b(100)
    with_orth = conjugate_directions(A, b, lambda r: r, rtol=1e-6)
    with pytest.warns(ConvergenceWarning):
        without = conjugate_directions(A, b, lambda r: r, rtol=1e-6, n_orth=0, maxiter=3 * with_orth.n_iter)
    assert not without.converged


def test_collapsed_or_nan_directions_fall_back_to_cg_steps():
    A, b = poisson_matrix((6, 6)), _b(36)
    for bad in (lambda r: np.zeros_like(r), lambda r: np.full_like(r, np.nan)):
        result = conjugate_directions(A, b, bad, rtol=1e-8)
        assert result.converged and result.info["fallback_steps"] == result.n_iter


def test_neumann_problem_is_solved_on_range_of_a():
    shape = (9, 9)
    A, N = poisson_matrix(shape, boundary="neumann"), poisson_null_space(shape, boundary="neumann")
    b = _b(81)
    result = conjugate_directions(A, b, lambda r: r, rtol=1e-8, null_space=N)
    assert result.converged
    assert result.info["b_projected_out"] == pytest.approx(abs(b.sum()) / 9)
    np.testing.assert_allclose(A @ result.x, b - N @ (N.T @ b), atol=1e-6)


def test_untrained_network_stalls_without_the_safeguard_and_converges_with_it():
    shape = (8, 8)
    A, b = poisson_matrix(shape), _b(64)
    with pytest.warns(ConvergenceWarning):
        plain = dcdm(A, b, DCDMNet(seed=0), rtol=1e-6, maxiter=200, safeguard=0)
    assert plain.history["residual"][-1] > 1e-3
    result = dcdm(A, b, DCDMNet(seed=0), rtol=1e-6)
    assert result.converged and result.info["fallback_steps"] > 0
    assert np.linalg.norm(b - A @ result.x) <= 1e-6 * np.linalg.norm(b)
    assert 0 < result.info["network_seconds"] <= result.time


@pytest.mark.parametrize(("A", "match"), [
    (sp.csr_array(np.array([[2.0, 1.0], [0.0, 2.0]])), "non-symmetric"),
    (sp.csr_array(np.array([[1.0, 0.0], [0.0, -1.0]])), "indefinite|positive"),
    (np.ones((2, 3)), "square"),
    (sp.csr_array(np.array([[np.nan, 0.0], [0.0, 1.0]])), "NaN"),
])
def test_bad_matrices_are_rejected(A, match):
    with pytest.raises(ValueError, match=match):
        conjugate_directions(A, np.array([0.0, 1.0]), lambda r: r)


def test_bad_vectors_and_options_are_named():
    A = poisson_matrix((4, 4))
    with pytest.raises(ShapeError, match=r"b\.shape"):
        conjugate_directions(A, np.ones(15), lambda r: r)
    with pytest.raises(ValueError, match="NaN"):
        conjugate_directions(A, np.full(16, np.nan), lambda r: r)
    with pytest.raises(ValueError, match="rtol"):
        conjugate_directions(A, np.ones(16), lambda r: r, rtol=-1)
    with pytest.raises(ValueError, match="maxiter"):
        conjugate_directions(A, np.ones(16), lambda r: r, maxiter=0)
    with pytest.raises(ShapeError, match="direction"):
        conjugate_directions(A, np.ones(16), lambda r: r[:3])
    with pytest.raises(ValueError, match="model"):
        dcdm(A, np.ones(16), model=lambda r: r)
    with pytest.raises(ShapeError, match="grid_shape"):
        dcdm(A, np.ones(16), DCDMNet(), grid_shape=(4, 5))
    with pytest.raises(ShapeError, match="grid_shape"):
        dcdm(poisson_matrix((3, 5)), np.ones(15), DCDMNet())


def test_zero_rhs_returns_zero_without_iterating():
    result = conjugate_directions(poisson_matrix((4, 4)), np.zeros(16), lambda r: r)
    assert result.converged and result.n_iter == 0 and not result.x.any()


def test_obstacle_with_a_closed_cavity_is_solved_with_its_null_space():
    shape = (10, 10)
    solid = np.zeros(shape, bool)
    solid[2:8, 2] = solid[2:8, 7] = solid[2, 2:8] = solid[7, 2:8] = True  # a box wall enclosing a cavity
    A, N = poisson_matrix(shape, solid=solid), poisson_null_space(shape, solid=solid)
    b = np.where(solid.ravel(), 0.0, _b(100))
    result = dcdm(A, b, DCDMNet(seed=0), null_space=N, rtol=1e-8, maxiter=400)
    assert result.converged
    np.testing.assert_allclose(A @ result.x, b - N @ (N.T @ b), atol=1e-6)
