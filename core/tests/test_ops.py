"""sparsehub.ops on the reference backend: results against dense numpy, input handling, errors."""

from __future__ import annotations

import numpy as np
import pytest

from sparsehub import ops, reference
from sparsehub.errors import FormatError, PatternError, ShapeError
from sparsehub.mask import Mask
from sparsehub.tensor import SparseTensor

sp = pytest.importorskip("scipy.sparse")

REF = {"backend": "reference"}


def random_dense(rng, shape, density, dtype=np.float64, empty_rows=()):
    x = rng.standard_normal(shape) * (rng.random(shape) < density)
    x[list(empty_rows)] = 0.0
    return x.astype(dtype)


def random_nm(rng, rows, cols, n, m, dtype=np.float64):
    """A dense matrix with exactly n non-zeros in every group of m columns."""
    keep = np.argsort(rng.random((rows, cols // m, m)), axis=-1)[..., :n]
    mask = np.zeros((rows, cols // m, m), dtype=bool)
    np.put_along_axis(mask, keep, True, axis=-1)
    return np.where(mask.reshape(rows, cols), rng.standard_normal((rows, cols)), 0.0).astype(dtype)


# -- spmm --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 5), (5, 9), (1, 1), (12, 12)])
def test_spmm_matches_dense_product(dtype, shape):
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    a = random_dense(rng, shape, 0.3, dtype, empty_rows=[0])
    b = rng.standard_normal((shape[1], 4)).astype(dtype)
    out = ops.spmm(SparseTensor.from_dense(a), b, **REF)
    assert out.dtype == dtype and out.shape == (shape[0], 4)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_spmm_of_empty_matrices_is_zero_with_the_right_shape():
    assert (
        ops.spmm(SparseTensor.from_dense(np.zeros((3, 4))), np.ones((4, 2)), **REF).tolist()
        == [[0.0] * 2] * 3
    )
    assert ops.spmm(SparseTensor.from_dense(np.zeros((0, 4))), np.ones((4, 2)), **REF).shape == (0, 2)
    assert (
        ops.spmm(SparseTensor.from_dense(np.zeros((3, 0))), np.ones((0, 2)), **REF).tolist()
        == [[0.0] * 2] * 3
    )
    assert ops.spmm(SparseTensor.from_dense(np.eye(3)), np.ones((3, 0)), **REF).shape == (3, 0)


def test_spmm_vector_right_operand_gives_a_vector():
    a = np.array([[1.0, 2.0], [0.0, 3.0]])
    out = ops.spmm(a, np.array([1.0, 1.0]), **REF)
    assert out.shape == (2,) and out.tolist() == [3.0, 3.0]


@pytest.mark.parametrize("fmt", ["coo", "csr", "bsr", "bitmap"])
def test_spmm_accepts_every_sparse_format(fmt):
    rng = np.random.default_rng(1)
    a = random_dense(rng, (6, 4), 0.5)
    st = SparseTensor.from_dense(a, format=fmt, blocksize=(2, 2) if fmt == "bsr" else None)
    b = rng.standard_normal((4, 3))
    np.testing.assert_allclose(ops.spmm(st, b, **REF), a @ b, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_spmm_accepts_scipy_torch_and_dense_operands():
    rng = np.random.default_rng(2)
    a = random_dense(rng, (5, 6), 0.4)
    b = rng.standard_normal((6, 2))
    expected = a @ b
    for A in (sp.csr_array(a), sp.coo_matrix(a), sp.csc_array(a), a):
        np.testing.assert_allclose(ops.spmm(A, b, **REF), expected, atol=1e-12)
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(
        ops.spmm(torch.from_numpy(a).to_sparse_csr(), torch.from_numpy(b), **REF), expected
    )
    np.testing.assert_allclose(ops.spmm(torch.from_numpy(a).to_sparse(), b.tolist(), **REF), expected)


def test_spmm_sums_duplicates_and_ignores_entry_order_of_a_non_canonical_csr():
    # row 0 stores column 2 twice and out of order; row 1 stores column 0 then column 1 reversed
    A = SparseTensor.csr([0, 3, 5], [2, 0, 2, 1, 0], [1.0, 2.0, 3.0, 4.0, 5.0], (2, 3))
    assert not A.has_canonical_format
    b = np.arange(6.0).reshape(3, 2)
    np.testing.assert_allclose(ops.spmm(A, b, **REF), A.to_dense() @ b)


def test_kernels_receive_canonical_contiguous_arrays_of_one_dtype(monkeypatch):
    seen = {}
    original = reference.spmm

    def spy(indptr, indices, values, shape, B):
        seen.update(indptr=indptr, indices=indices, values=values, B=B)
        return original(indptr, indices, values, shape, B)

    monkeypatch.setattr(reference, "spmm", spy)
    A = SparseTensor.csr([0, 2, 2], [1, 0], np.array([1, 2], dtype=np.int16), (2, 2))
    B = np.asfortranarray(np.ones((2, 3), dtype=np.float32))
    ops.spmm(A, B[:, ::1], **REF)
    assert seen["indices"].tolist() == [0, 1] and seen["values"].tolist() == [2.0, 1.0]
    assert seen["indptr"].dtype == seen["indices"].dtype and seen["indptr"].dtype in (np.int32, np.int64)
    assert seen["values"].dtype == seen["B"].dtype == np.float32
    assert all(seen[k].flags.c_contiguous for k in seen)


@pytest.mark.parametrize(
    ("a_dtype", "b_dtype", "expected"),
    [
        (np.float32, np.float32, np.float32),
        (np.float32, np.float64, np.float64),
        (np.float64, np.float32, np.float64),
        (np.int8, np.float32, np.float32),
        (np.bool_, np.float16, np.float32),
        (np.int64, np.float32, np.float64),
        (np.int32, np.int32, np.float64),
    ],
)
def test_dtypes_promote_like_numpy_with_a_float32_floor(a_dtype, b_dtype, expected):
    a = np.array([[1, 0], [0, 1]], dtype=a_dtype)
    b = np.array([[1, 2], [3, 4]], dtype=b_dtype)
    out = ops.spmm(a, b, **REF)
    assert out.dtype == expected
    np.testing.assert_array_equal(out, a.astype(np.float64) @ b.astype(np.float64))


def test_non_numeric_and_complex_dtypes_are_rejected_by_name():
    a = SparseTensor.from_dense(np.eye(2))
    with pytest.raises(TypeError, match=r"B\.dtype=complex128 is not allowed"):
        ops.spmm(a, np.ones((2, 2), dtype=complex), **REF)
    with pytest.raises(TypeError, match=r"B\.dtype=<U1"):
        ops.spmm(a, np.array([["a", "b"], ["c", "d"]]), **REF)
    with pytest.raises(TypeError, match=r"A\.dtype=complex128"):
        ops.spmm(SparseTensor.from_dense(np.eye(2, dtype=complex)), np.ones((2, 2)), **REF)


def test_spmm_shape_mismatch_names_both_shapes():
    with pytest.raises(ShapeError, match=r"B\.shape=\(4, 2\).*\(3, n\).*A\.shape=\(2, 3\)"):
        ops.spmm(SparseTensor.from_dense(np.ones((2, 3))), np.ones((4, 2)), **REF)
    with pytest.raises(ShapeError, match=r"B\.shape=\(3, 1, 1\)"):
        ops.spmm(SparseTensor.from_dense(np.ones((2, 3))), np.ones((3, 1, 1)), **REF)


def test_wrong_operand_kinds_are_rejected_by_name():
    with pytest.raises(TypeError, match=r"A=<str>"):
        ops.spmm("matrix", np.ones((2, 2)), **REF)
    with pytest.raises(ValueError, match=r"B=<csr_array shape=\(2, 2\)>.*spgemm"):
        ops.spmm(np.eye(2), sp.csr_array(np.eye(2)), **REF)
    with pytest.raises(ShapeError, match=r"A\.shape=\(2,\)"):
        ops.spmm(np.ones(2), np.ones((2, 2)), **REF)


def test_torch_operand_requiring_grad_is_refused_rather_than_detached():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=r"B=<Tensor shape=\(2, 2\)>.*requires_grad"):
        ops.spmm(np.eye(2), torch.ones(2, 2, requires_grad=True), **REF)


def test_ops_never_write_into_their_inputs():
    rng = np.random.default_rng(3)
    a = random_dense(rng, (5, 5), 0.5)
    st, b, x, y = (
        SparseTensor.from_dense(a),
        rng.standard_normal((5, 3)),
        rng.standard_normal((5, 2)),
        rng.standard_normal((2, 5)),
    )
    copies = [arr.copy() for arr in (*st.arrays.values(), b, x, y)]
    ops.spmm(st, b, **REF)
    ops.spgemm(st, st, **REF)
    ops.sddmm(st, x, y, **REF)
    for arr, before in zip((*st.arrays.values(), b, x, y), copies):
        np.testing.assert_array_equal(arr, before)


# -- spgemm ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_spgemm_matches_scipy_and_is_canonical_csr(dtype):
    rng = np.random.default_rng(4)
    a, b = random_dense(rng, (9, 7), 0.3, dtype, empty_rows=[2]), random_dense(rng, (7, 11), 0.3, dtype)
    C = ops.spgemm(SparseTensor.from_dense(a, "coo"), sp.csr_array(b), **REF)
    assert C.format == "csr" and C.has_canonical_format and C.dtype == dtype and C.shape == (9, 11)
    np.testing.assert_allclose(C.to_dense(), a @ b, rtol=1e-5, atol=1e-6)


def test_spgemm_shape_mismatch_names_both_shapes():
    with pytest.raises(ShapeError, match=r"B\.shape=\(4, 4\).*A\.shape=\(2, 3\)"):
        ops.spgemm(np.ones((2, 3)), np.ones((4, 4)), **REF)


def test_spgemm_of_empty_operands_has_no_entries():
    C = ops.spgemm(np.zeros((3, 4)), np.zeros((4, 5)), **REF)
    assert C.shape == (3, 5) and C.nnz == 0


# -- sddmm -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sddmm_samples_the_dense_product_on_the_pattern(dtype):
    rng = np.random.default_rng(5)
    s = random_dense(rng, (8, 6), 0.4, dtype, empty_rows=[3])
    x, y = rng.standard_normal((8, 5)).astype(dtype), rng.standard_normal((5, 6)).astype(dtype)
    out = ops.sddmm(SparseTensor.from_dense(s), x, y, **REF)
    assert out.format == "csr" and out.dtype == dtype
    np.testing.assert_array_equal(out.to_dense() != 0, s != 0)
    np.testing.assert_allclose(out.to_dense(), s * (x @ y), rtol=1e-5, atol=1e-6)


def test_sddmm_keeps_the_pattern_of_s_including_stored_zeros():
    S = SparseTensor.csr([0, 2, 3], [0, 2, 1], [0.0, 2.0, 1.0], (2, 3))
    out = ops.sddmm(S, np.ones((2, 4)), np.ones((4, 3)), **REF)
    assert out.arrays["indices"].tolist() == [0, 2, 1] and out.arrays["indptr"].tolist() == [0, 2, 3]
    assert out.arrays["values"].tolist() == [0.0, 8.0, 4.0]


def test_sddmm_shape_mismatches_name_the_shapes():
    S = SparseTensor.from_dense(np.eye(3))
    with pytest.raises(ShapeError, match=r"X\.shape=\(2, 4\).*S\.shape=\(3, 3\)"):
        ops.sddmm(S, np.ones((2, 4)), np.ones((4, 3)), **REF)
    with pytest.raises(ShapeError, match=r"Y\.shape=\(5, 3\).*\(4, 3\).*X\.shape=\(3, 4\)"):
        ops.sddmm(S, np.ones((3, 4)), np.ones((5, 3)), **REF)


# -- nm_matmul ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "m"), [(2, 4), (1, 4), (4, 8), (3, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nm_matmul_matches_the_dense_product(n, m, dtype):
    rng = np.random.default_rng(n * 10 + m)
    w = random_nm(rng, 6, 4 * m, n, m, dtype)
    A = SparseTensor.from_dense(w, "nm", n=n, m=m)
    b = rng.standard_normal((4 * m, 5)).astype(dtype)
    out = ops.nm_matmul(A, b, **REF)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, w @ b, rtol=1e-5, atol=1e-6)
    assert ops.nm_matmul(A, b[:, 0], **REF).shape == (6,)


def test_nm_matmul_requires_the_nm_format():
    with pytest.raises(FormatError, match=r"A_nm=SparseTensor\(format='csr'\).*'nm'"):
        ops.nm_matmul(SparseTensor.from_dense(np.eye(4)), np.ones((4, 1)), **REF)
    with pytest.raises(FormatError, match=r"A_nm=<ndarray shape=\(4, 4\)>"):
        ops.nm_matmul(np.eye(4), np.ones((4, 1)), **REF)


def test_nm_matmul_shape_mismatch_names_both_shapes():
    A = SparseTensor.from_dense(random_nm(np.random.default_rng(0), 2, 8, 2, 4), "nm", n=2, m=4)
    with pytest.raises(ShapeError, match=r"B\.shape=\(4, 1\).*A_nm\.shape=\(2, 8\)"):
        ops.nm_matmul(A, np.ones((4, 1)), **REF)


# -- masked_matmul -----------------------------------------------------------------------------
def test_masked_matmul_is_the_masked_linear_forward():
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((3, 5)), rng.standard_normal((4, 5))
    mask = rng.random((4, 5)) < 0.5
    np.testing.assert_allclose(ops.masked_matmul(x, w, mask, **REF), x @ (w * mask).T)


def test_masked_out_weights_contribute_zero_even_when_nan():
    w = np.array([[1.0, np.nan], [np.inf, 2.0]])
    mask = np.array([[True, False], [False, True]])
    out = ops.masked_matmul(np.ones((1, 2)), w, mask, **REF)
    assert out.tolist() == [[1.0, 2.0]]


def test_masked_matmul_keeps_leading_batch_dimensions_and_accepts_mask_objects():
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4))
    keep = rng.random((5, 4)) < 0.5
    out = ops.masked_matmul(x, w, Mask(keep), **REF)
    assert out.shape == (2, 3, 5)
    np.testing.assert_allclose(out, x @ (w * keep).T)
    assert ops.masked_matmul(x[0, 0], w, keep.astype(np.float32), **REF).shape == (5,)


def test_masked_matmul_rejects_non_binary_masks_and_mismatched_shapes():
    x, w = np.ones((2, 3)), np.ones((4, 3))
    with pytest.raises(PatternError, match=r"mask=<ndarray shape=\(4, 3\)>.*0 or 1"):
        ops.masked_matmul(x, w, np.full((4, 3), 0.5), **REF)
    with pytest.raises(ShapeError, match=r"mask\.shape=\(3, 4\).*W\.shape=\(4, 3\)"):
        ops.masked_matmul(x, w, np.ones((3, 4), bool), **REF)
    with pytest.raises(ShapeError, match=r"X\.shape=\(2, 4\).*\(\.\.\., 3\).*W\.shape=\(4, 3\)"):
        ops.masked_matmul(np.ones((2, 4)), w, np.ones((4, 3), bool), **REF)


def test_masked_matmul_in_torch_returns_torch_and_backpropagates_through_kept_weights():
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, generator=gen, requires_grad=True)
    w = torch.randn(4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(4, 5, generator=gen) < 0.5
    out = ops.masked_matmul(x, w, mask.numpy(), **REF)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64  # float32 X with float64 W
    out.sum().backward()
    expected_w_grad = x.detach().double().sum(0).expand(4, 5) * mask
    torch.testing.assert_close(w.grad, expected_w_grad)
    torch.testing.assert_close(x.grad, (w.detach() * mask).sum(0).float().expand(3, 5))


# -- the numpy-only reference paths (used when scipy is missing) --------------------------------
def test_numpy_spmm_matches_scipy():
    rng = np.random.default_rng(8)
    for shape in [(9, 7), (1, 3), (4, 4)]:
        a = sp.csr_array(random_dense(rng, shape, 0.3, empty_rows=[0]))
        b = rng.standard_normal((shape[1], 3))
        np.testing.assert_allclose(
            reference.spmm_numpy(a.indptr, a.indices, a.data, a.shape, b), a @ b, atol=1e-12
        )


def test_numpy_spgemm_matches_scipy_including_dropped_cancellations():
    rng = np.random.default_rng(9)
    a = sp.csr_array(random_dense(rng, (8, 6), 0.4, empty_rows=[1]))
    b = sp.csr_array(random_dense(rng, (6, 5), 0.4))
    indptr, indices, values = reference.spgemm_numpy(
        a.indptr, a.indices, a.data, a.shape, b.indptr, b.indices, b.data, b.shape
    )
    np.testing.assert_allclose(
        sp.csr_array((values, indices, indptr), shape=(8, 5)).toarray(), (a @ b).toarray(), atol=1e-12
    )
    assert SparseTensor.csr(indptr, indices, values, (8, 5)).has_canonical_format
    # [1, 1] @ [[1], [-1]] cancels to an exact zero, which is not stored
    one = sp.csr_array(np.array([[1.0, 1.0]]))
    col = sp.csr_array(np.array([[1.0], [-1.0]]))
    assert (
        reference.spgemm_numpy(
            one.indptr, one.indices, one.data, (1, 2), col.indptr, col.indices, col.data, (2, 1)
        )[1].size
        == 0
    )


def test_readonly_views_without_copying_and_keeps_read_only_arrays():
    from sparsehub.arrays import readonly

    a = np.arange(6.0)
    view = readonly(a)
    assert not view.flags.writeable and np.shares_memory(view, a)
    assert a.flags.writeable  # the caller's array is untouched
    assert readonly(view) is view


def test_describe_shows_type_and_shape_unquoted():
    from sparsehub.errors import bad_value, describe

    msg = str(bad_value("A", describe(np.zeros((2, 3))), "something"))
    assert msg.startswith("A=<ndarray shape=(2, 3)> is not allowed")
