"""Working with U Vᵀ through its factors: entries, the dense matrix and exact Frobenius distances."""

import numpy as np
import pytest

from sparsehub.errors import ShapeError
from sparsehub_robust_altmin_completion.factors import factor_distance, predict_entries, to_dense


def test_factor_distance_equals_the_dense_frobenius_distance():
    rng = np.random.default_rng(0)
    U, V, A, B = (rng.standard_normal(s) for s in [(30, 3), (20, 3), (30, 4), (20, 4)])
    dense = np.linalg.norm(U @ V.T - A @ B.T)
    assert factor_distance(U, V, A, B, relative=False) == pytest.approx(dense, rel=1e-12)
    assert factor_distance(U, V, A, B) == pytest.approx(dense / np.linalg.norm(A @ B.T), rel=1e-12)


def test_factor_distance_resolves_errors_far_below_sqrt_eps():
    # the Gram-matrix formula ‖X‖² + ‖Y‖² − 2⟨X, Y⟩ would cancel to noise of ~1e-8 here
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((50, 3)), rng.standard_normal((40, 3))
    E = 1e-12 * rng.standard_normal((40, 3))
    exact = np.linalg.norm(A @ E.T) / np.linalg.norm(A @ B.T)
    assert factor_distance(A, B + E, A, B) == pytest.approx(exact, rel=1e-6)


def test_predicted_entries_are_the_entries_of_the_dense_product():
    rng = np.random.default_rng(2)
    U, V = rng.standard_normal((6, 2)), rng.standard_normal((5, 2))
    rows, cols = np.array([0, 5, 3]), np.array([4, 0, 2])
    np.testing.assert_allclose(predict_entries(U, V, rows, cols), to_dense(U, V)[rows, cols])


def test_bad_factor_arguments_are_rejected():
    U, V = np.ones((6, 2)), np.ones((5, 2))
    with pytest.raises(ShapeError):
        predict_entries(U, np.ones((5, 3)), [0], [0])
    with pytest.raises(ShapeError, match="out of range"):
        predict_entries(U, V, np.array([6]), np.array([0]))
    with pytest.raises(ShapeError, match="equal shapes"):
        predict_entries(U, V, np.array([0, 1]), np.array([0]))
    with pytest.raises(ValueError, match="integer"):
        predict_entries(U, V, np.array([0.5]), np.array([0]))
    with pytest.raises(ValueError, match="max_entries"):
        to_dense(U, V, max_entries=10)
