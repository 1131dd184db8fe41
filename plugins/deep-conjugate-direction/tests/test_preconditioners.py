"""The anchors' preconditioners: IC(0) against exact Cholesky and its defining property."""

import numpy as np
import pytest
import scipy.sparse as sp

from sparsehub_deep_conjugate_direction import ichol0_preconditioner, jacobi_preconditioner, poisson_matrix
from sparsehub_deep_conjugate_direction.preconditioners import ichol0


def test_ic0_is_exact_cholesky_without_fill():
    T = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(9, 9))
    np.testing.assert_allclose(ichol0(T).toarray(), np.linalg.cholesky(T.toarray()), atol=1e-12)


def test_ic0_matches_a_on_its_pattern():
    A = poisson_matrix((6, 5))
    L = ichol0(A).toarray()
    dense = A.toarray()
    on_pattern = dense != 0
    np.testing.assert_allclose((L @ L.T)[on_pattern], dense[on_pattern], atol=1e-12)
    assert np.all(L[np.tril(~on_pattern)] == 0)


def test_preconditioners_apply_their_inverses():
    A = poisson_matrix((5, 5))
    r = np.random.default_rng(0).standard_normal(25)
    np.testing.assert_allclose(jacobi_preconditioner(A) @ r, r / 4)
    L = ichol0(A).toarray()
    np.testing.assert_allclose(ichol0_preconditioner(A) @ r, np.linalg.solve(L @ L.T, r))


def test_non_spd_diagonals_are_rejected():
    bad = sp.csr_array(np.array([[1.0, 0.0], [0.0, -1.0]]))
    with pytest.raises(ValueError, match="diagonal"):
        jacobi_preconditioner(bad)
    with pytest.raises(ValueError, match="pivot"):
        ichol0(bad)
