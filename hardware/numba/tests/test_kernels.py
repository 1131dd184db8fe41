"""The numba kernels agree with the reference backend on every input shape and dtype."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from sparsehub import ops
from sparsehub.tensor import SparseTensor
from sparsehub_numba import kernels

NUMBA = {"backend": "numba"}
REF = {"backend": "reference"}
TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-5}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}


@pytest.fixture(params=["serial", "parallel"])
def path(request, monkeypatch):
    """Run each test through the single-thread loop and through the prange loop."""
    monkeypatch.setattr(kernels, "PARALLEL_MIN_WORK", 1 << 60 if request.param == "serial" else 0)
    return request.param


def random_sparse(rng, shape, density, dtype, empty_rows=()):
    x = rng.standard_normal(shape) * (rng.random(shape) < density)
    x[list(empty_rows)] = 0.0
    return x.astype(dtype)


SHAPES = [(13, 9), (6, 17), (1, 1), (32, 32)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_spmm_agrees_with_reference(path, dtype, shape):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    A = SparseTensor.from_dense(random_sparse(rng, shape, 0.3, dtype, empty_rows=[0]))
    B = rng.standard_normal((shape[1], 7)).astype(dtype)
    out = ops.spmm(A, B, **NUMBA)
    assert out.dtype == dtype and out.shape == (shape[0], 7)
    np.testing.assert_allclose(out, ops.spmm(A, B, **REF), **TOL[dtype])


def storage_order_spmm(A, B):
    """``A @ B`` adding each row's terms one at a time in storage order, rounding after every op."""
    indptr, indices, values = (A.arrays[k] for k in ("indptr", "indices", "values"))
    lengths = np.diff(indptr)
    out = np.zeros((A.shape[0], B.shape[1]), dtype=values.dtype)
    for t in range(int(lengths.max(initial=0))):
        rows = np.flatnonzero(lengths > t)
        p = indptr[rows] + t
        out[rows] += values[p, None] * B[indices[p]]
    return out


def test_spmm_adds_in_storage_order_so_float32_results_are_exact(path):
    rng = np.random.default_rng(0)
    A = SparseTensor.from_dense(random_sparse(rng, (40, 50), 0.5, np.float32, empty_rows=[3]))
    B = rng.standard_normal((50, 33)).astype(np.float32)
    np.testing.assert_array_equal(ops.spmm(A, B, **NUMBA), storage_order_spmm(A, B))


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_spmm_accepts_both_index_dtypes(path, index_dtype):
    rng = np.random.default_rng(1)
    a = random_sparse(rng, (9, 8), 0.4, np.float64)
    A = SparseTensor.from_dense(a, index_dtype=index_dtype)
    assert A.index_dtype == index_dtype
    np.testing.assert_allclose(ops.spmm(A, np.eye(8), **NUMBA), a)


def test_spmm_of_empty_inputs_has_the_right_shape_and_zeros(path):
    assert ops.spmm(np.zeros((4, 3)), np.ones((3, 2)), **NUMBA).tolist() == [[0.0, 0.0]] * 4
    assert ops.spmm(np.zeros((0, 3)), np.ones((3, 2)), **NUMBA).shape == (0, 2)
    assert ops.spmm(np.eye(3), np.ones((3, 0)), **NUMBA).shape == (3, 0)
    assert ops.spmm(np.zeros((2, 0)), np.ones((0, 5)), **NUMBA).tolist() == [[0.0] * 5] * 2


def test_spmm_propagates_nan_and_inf_like_the_reference(path):
    A = SparseTensor.csr([0, 2, 3], [0, 1, 1], [1.0, np.inf, 2.0], (2, 2))
    B = np.array([[np.nan, 1.0], [1.0, 0.0]])
    np.testing.assert_array_equal(ops.spmm(A, B, **NUMBA), ops.spmm(A, B, **REF))


def random_nm(rng, rows, cols, n, m, dtype):
    keep = np.argsort(rng.random((rows, cols // m, m)), axis=-1)[..., :n]
    mask = np.zeros((rows, cols // m, m), dtype=bool)
    np.put_along_axis(mask, keep, True, axis=-1)
    return np.where(mask.reshape(rows, cols), rng.standard_normal((rows, cols)), 0.0).astype(dtype)


@pytest.mark.parametrize(("n", "m"), [(2, 4), (1, 4), (4, 8), (3, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nm_matmul_agrees_with_reference(path, n, m, dtype):
    rng = np.random.default_rng(n * 10 + m)
    A = SparseTensor.from_dense(random_nm(rng, 11, 5 * m, n, m, dtype), "nm", n=n, m=m)
    B = rng.standard_normal((5 * m, 6)).astype(dtype)
    out = ops.nm_matmul(A, B, **NUMBA)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ops.nm_matmul(A, B, **REF), **TOL[dtype])
    np.testing.assert_allclose(out, A.to_dense() @ B, **TOL[dtype])


def test_nm_matmul_of_zero_rows_is_empty(path):
    A = SparseTensor.from_dense(np.zeros((0, 8)), "nm", n=2, m=4)
    assert ops.nm_matmul(A, np.ones((8, 3)), **NUMBA).shape == (0, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_sddmm_agrees_with_reference(path, dtype, shape):
    rng = np.random.default_rng(shape[0] * 7 + shape[1])
    S = SparseTensor.from_dense(random_sparse(rng, shape, 0.3, dtype, empty_rows=[0]))
    X = rng.standard_normal((shape[0], 5)).astype(dtype)
    Y = rng.standard_normal((5, shape[1])).astype(dtype)
    out, expected = ops.sddmm(S, X, Y, **NUMBA), ops.sddmm(S, X, Y, **REF)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.arrays["indices"], expected.arrays["indices"])
    np.testing.assert_allclose(out.arrays["values"], expected.arrays["values"], **TOL[dtype])


def test_sddmm_with_zero_inner_dimension_gives_zeros(path):
    S = SparseTensor.from_dense(np.eye(3))
    assert ops.sddmm(S, np.ones((3, 0)), np.ones((0, 3)), **NUMBA).arrays["values"].tolist() == [0.0] * 3
