"""The comparison dataflows (outer product, inner product) are exact, sorted and scipy-equal."""

from __future__ import annotations

import numpy as np
import pytest

from sparsehub_smash_spgemm import dataflows

from .conftest import assert_same_csr, random_csr, scipy_product


def _args(A, B):
    return (A.indptr, A.indices, A.data, A.shape, B.indptr, B.indices, B.data, B.shape)


@pytest.mark.parametrize("kernel", [dataflows.outer_spgemm, dataflows.inner_spgemm])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dataflow_equals_scipy_bit_for_bit(kernel, dtype):
    A, B = random_csr(70, 50, 0.08, 21, dtype), random_csr(50, 90, 0.08, 22, dtype)
    assert_same_csr(kernel(*_args(A, B)), scipy_product(A, B))


@pytest.mark.parametrize("kernel", [dataflows.outer_spgemm, dataflows.inner_spgemm])
def test_dataflow_handles_cancellation_empty_rows_and_dense_rows(kernel):
    A, B = random_csr(30, 20, 0.5, 23, integer=True), random_csr(20, 40, 0.4, 24, integer=True)
    A.data[A.indptr[3]:A.indptr[4]] = 0  # an explicitly stored zero row
    assert_same_csr(kernel(*_args(A, B)), scipy_product(A, B))


def test_transpose_csr_equals_scipy_csc():
    A = random_csr(40, 33, 0.1, 25)
    t_indptr, t_indices, t_values = dataflows.transpose_csr(A.indptr, A.indices, A.data, A.shape)
    C = A.tocsc()
    C.sort_indices()
    np.testing.assert_array_equal(t_indptr, C.indptr)
    np.testing.assert_array_equal(t_indices, C.indices)
    np.testing.assert_array_equal(t_values, C.data)
