"""Shared fixtures: small random CSR matrices (scipy) with int32 indices and sorted rows."""

from __future__ import annotations

import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse")


def random_csr(m: int, n: int, density: float, seed: int, dtype=np.float64, integer: bool = False):
    """A random (m, n) scipy CSR array, canonical, int32 indices; small integer values if ``integer``."""
    rng = np.random.default_rng(seed)
    A = sp.random_array((m, n), density=density, rng=rng, format="csr", dtype=np.float64)
    if integer:
        A.data[:] = rng.integers(-3, 4, A.nnz)
    A = sp.csr_array(A.astype(dtype))
    A.sum_duplicates()
    A.indptr, A.indices = A.indptr.astype(np.int32), A.indices.astype(np.int32)
    return A


def scipy_product(A, B):
    """scipy's A @ B with sorted rows: the oracle (scipy drops entries that sum to exactly 0)."""
    C = sp.csr_array(A @ B)
    C.sort_indices()
    return C


def assert_same_csr(got, ref) -> None:
    """Exact equality of CSR arrays ``(indptr, indices, values)`` with a sorted scipy CSR array."""
    indptr, indices, values = got
    np.testing.assert_array_equal(indptr, ref.indptr)
    np.testing.assert_array_equal(indices, ref.indices)
    np.testing.assert_array_equal(values, ref.data)
    assert values.dtype == ref.data.dtype


@pytest.fixture
def pair():
    return random_csr(120, 90, 0.05, 1), random_csr(90, 150, 0.06, 2)
