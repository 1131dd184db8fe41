"""The public ``spgemm`` and ``traffic_model``: operands, bad input, and the counts of the model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sparsehub import SparseTensor
from sparsehub.errors import ShapeError
from sparsehub_smash_spgemm import spgemm, traffic_model

from .conftest import random_csr, scipy_product


def _assert_equals_scipy(C, ref):
    assert C.format == "csr" and C.has_canonical_format
    np.testing.assert_array_equal(C.arrays["indptr"], ref.indptr)
    np.testing.assert_array_equal(C.arrays["indices"], ref.indices)
    np.testing.assert_array_equal(C.arrays["values"], ref.data)


@pytest.mark.parametrize("method, passes", [("hash", 1), ("hash", 2), ("spa", 1), ("outer", 1), ("inner", 1)])
def test_every_method_returns_scipys_product_as_canonical_csr(pair, method, passes):
    A, B = pair
    _assert_equals_scipy(spgemm(A, B, method=method, passes=passes), scipy_product(A, B))


def test_operands_may_be_sparse_tensors_dense_arrays_or_torch_sparse(pair):
    A, B = pair
    ref = scipy_product(A, B)
    _assert_equals_scipy(spgemm(SparseTensor.from_scipy(A), B.toarray()), ref)
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        At = torch.from_numpy(A.toarray()).to_sparse_csr()
    _assert_equals_scipy(spgemm(At, SparseTensor.from_scipy(B).to("coo")), ref)


def test_non_canonical_csr_is_canonicalised_not_misread():
    sp = pytest.importorskip("scipy.sparse")
    # row 0 stores columns 2, 0, 2 (unsorted, duplicate): canonical value at column 2 is 1 + 4
    A = sp.csr_array((np.array([1.0, 2.0, 4.0]), np.array([2, 0, 2]), np.array([0, 3, 3])), shape=(2, 3))
    B = sp.csr_array(np.arange(12, dtype=np.float64).reshape(3, 4))
    C = spgemm(A, B)
    np.testing.assert_array_equal(C.to_dense(), A.toarray() @ B.toarray())
    assert C.has_canonical_format
    assert A.indices.tolist() == [2, 0, 2]  # the operand is not mutated


def test_mixed_dtypes_compute_in_float64_and_float32_stays_float32():
    A32, B32 = random_csr(20, 15, 0.2, 31, np.float32), random_csr(15, 10, 0.2, 32, np.float32)
    assert spgemm(A32, B32).dtype == np.float32
    C = spgemm(A32, B32.astype(np.float64))
    assert C.dtype == np.float64
    np.testing.assert_allclose(C.to_dense(), A32.toarray().astype(np.float64) @ B32.toarray(), rtol=1e-6)


def test_shape_mismatch_is_a_shape_error_naming_both_shapes(pair):
    A, _ = pair
    with pytest.raises(ShapeError, match=r"B.shape=\(80, 4\).*\(90, n\).*A.shape=\(120, 90\)"):
        spgemm(A, np.ones((80, 4)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "gustavson"}, "method='gustavson'.*'hash', 'spa', 'outer', 'inner'"),
        ({"passes": 3}, "passes=3"),
        ({"passes": True}, "passes=True"),
        ({"method": "outer", "passes": 2}, "passes=2.*method='outer'"),
        ({"window": 100}, "window=100.*power of two"),
        ({"method": "inner", "window": 64}, "window=64.*method='inner'"),
        ({"sort_indices": "yes"}, "sort_indices='yes'"),
        ({"backend": "triton"}, "backend='triton'.*'numba', 'cuda'"),
        ({"backend": "cuda", "method": "outer"}, "backend='cuda'.*one-pass 'hash'"),
    ],
)
def test_bad_options_are_rejected_with_the_argument_and_the_choices(pair, kwargs, match):
    A, B = pair
    with pytest.raises(ValueError, match=match):
        spgemm(A, B, **kwargs)


def test_unsupported_operands_and_dtypes_are_rejected():
    with pytest.raises(TypeError, match="A=<list>"):
        spgemm([[1.0]], np.eye(1))
    with pytest.raises(TypeError, match="complex"):
        spgemm(np.eye(2, dtype=np.complex128), np.eye(2))
    with pytest.raises(ShapeError, match=r"B.shape=\(2,\)"):
        spgemm(np.eye(2), np.ones(2))


def test_unsorted_rows_on_request_hold_the_same_matrix(pair):
    A, B = pair
    C = spgemm(A, B, sort_indices=False)
    np.testing.assert_array_equal(C.to_dense(), scipy_product(A, B).toarray())


def _brute_force_counts(A, B):
    """flops, nnz(C) and the B entries the outer product reads, by explicit loops."""
    flops, outputs, b_read = 0, set(), set()
    Ad, Bd = A.toarray(), B.toarray()
    for i, k in zip(*np.nonzero(Ad)):
        for j in np.nonzero(Bd[k])[0]:
            flops += 1
            outputs.add((i, j))
            b_read.add((k, j))
    return flops, len(outputs), len(b_read)


def test_traffic_model_counts_match_a_brute_force_count():
    A, B = random_csr(25, 20, 0.15, 33), random_csr(20, 30, 0.15, 34)
    flops, nnz_c, b_read = _brute_force_counts(A, B)
    entry, ptr = 4 + 8, 4
    hashed, outer, inner, spa = (traffic_model(A, B, m) for m in ("hash", "outer", "inner", "spa"))
    for t in (hashed, outer, inner, spa):
        assert t["flops"] == flops and t["nnz_C"] == nnz_c
        assert t["bytes_total"] == t["bytes_A"] + t["bytes_B"] + t["bytes_partial"] + t["bytes_C"]
    assert hashed["partial_products_written"] == 0 and outer["partial_products_written"] == flops
    assert outer["bytes_partial"] == 2 * flops * entry
    assert hashed["bytes_B"] == flops * entry + 2 * A.nnz * ptr
    assert outer["bytes_B"] >= b_read * entry
    assert hashed["probes"] >= flops and hashed["collisions"] == hashed["probes"] - flops
    assert spa["probes"] == flops and spa["collisions"] == 0
    assert inner["dot_products"] == 25 * 30 and hashed["dot_products"] == nnz_c
    assert hashed["bytes_total"] < outer["bytes_total"] < inner["bytes_total"]


def test_traffic_model_rejects_an_unknown_method(pair):
    A, B = pair
    with pytest.raises(ValueError, match="method='esc'"):
        traffic_model(A, B, "esc")


def test_the_cuda_backend_without_a_gpu_is_a_backend_error_before_any_work(pair):
    from numba import cuda

    from sparsehub.errors import BackendError

    if cuda.is_available():
        pytest.skip("this machine has a CUDA GPU (or the simulator is on)")
    A, B = pair
    with pytest.raises(BackendError, match=r"backend='cuda'.*without a CUDA GPU"):
        spgemm(A, B, backend="cuda")
