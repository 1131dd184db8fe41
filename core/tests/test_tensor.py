"""SparseTensor: round trips, scipy/torch oracles, validation messages, immutability, int64 indices."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import types

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sparsehub import discovery
from sparsehub.errors import FormatError, PatternError, ShapeError
from sparsehub.hookspecs import hookimpl
from sparsehub.method import FormatSpec
from sparsehub.tensor import (
    FORMATS,
    SparseTensor,
    convert_from_plugin_format,
    convert_to_plugin_format,
    format_spec,
)

FAST = settings(max_examples=50, deadline=None)
ELEMENTS = st.sampled_from([0.0, 0.0, 0.0, 1.0, -2.5, 3.0, 0.125])


@st.composite
def layouts(draw):
    """A dense float matrix plus a blocksize and N:M parameters it can be stored with.

    Rows are a multiple of bh, columns of lcm(bw, m), and every group of m columns keeps at most
    n non-zeros, so the one matrix is valid for every built-in format.
    """
    bh, bw = draw(st.integers(1, 3)), draw(st.sampled_from([1, 2, 4]))
    m = draw(st.sampled_from([1, 2, 4]))
    n = draw(st.integers(1, m))
    rows = bh * draw(st.integers(0, 3))
    cols = math.lcm(bw, m) * draw(st.integers(0, 3))
    x = draw(hnp.arrays(np.float64, (rows, cols), elements=ELEMENTS))
    groups = x.reshape(rows, cols // m, m)
    keep = np.cumsum(groups != 0, axis=-1) <= n
    x = np.where(keep, groups, 0.0).reshape(rows, cols)
    return x, {"coo": {}, "csr": {}, "bitmap": {}, "bsr": {"blocksize": (bh, bw)}, "nm": {"n": n, "m": m}}


@st.composite
def coo_entries(draw, max_dim=5, max_nnz=12):
    """Raw COO arrays with duplicates, explicit zeros and arbitrary order."""
    rows, cols = draw(st.integers(1, max_dim)), draw(st.integers(1, max_dim))
    nnz = draw(st.integers(0, max_nnz))
    row = draw(hnp.arrays(np.int32, nnz, elements=st.integers(0, rows - 1)))
    col = draw(hnp.arrays(np.int32, nnz, elements=st.integers(0, cols - 1)))
    values = draw(hnp.arrays(np.float64, nnz, elements=ELEMENTS))
    return row, col, values, (rows, cols)


def brute_force_dense(row, col, values, shape):
    out = np.zeros(shape)
    for r, c, v in zip(row, col, values):
        out[r, c] += v
    return out


# -- round trips -----------------------------------------------------------------------------------------
@FAST
@given(layouts())
def test_dense_round_trip_is_exact_for_every_format(case):
    x, kw = case
    for fmt in FORMATS:
        t = SparseTensor.from_dense(x, fmt, **kw[fmt])
        assert t.format == fmt and t.shape == x.shape and t.dtype == x.dtype
        dense = t.to_dense()
        assert dense.dtype == x.dtype
        np.testing.assert_array_equal(dense, x)


@FAST
@given(layouts())
def test_nnz_and_density_count_exactly_the_stored_entries(case):
    x, kw = case
    size = x.size
    nonzero = np.count_nonzero(x)
    bh, bw = kw["bsr"]["blocksize"]
    n, m = kw["nm"]["n"], kw["nm"]["m"]
    nonzero_blocks = sum(
        bool(np.any(x[i : i + bh, j : j + bw]))
        for i in range(0, x.shape[0], bh)
        for j in range(0, x.shape[1], bw)
    )
    expected = {
        "coo": nonzero,
        "csr": nonzero,
        "bitmap": nonzero,
        "bsr": nonzero_blocks * bh * bw,
        "nm": x.shape[0] * x.shape[1] // m * n,
    }
    for fmt in FORMATS:
        t = SparseTensor.from_dense(x, fmt, **kw[fmt])
        assert t.nnz == expected[fmt]
        assert t.count_nonzero() == nonzero
        assert t.density == (expected[fmt] / size if size else 0.0)


@FAST
@given(layouts(), st.sampled_from(FORMATS), st.sampled_from(FORMATS))
def test_every_conversion_between_formats_preserves_dense_values(case, source, target):
    x, kw = case
    t = SparseTensor.from_dense(x, source, **kw[source]).to(target, **kw[target])
    assert t.format == target
    np.testing.assert_array_equal(t.to_dense(), x)
    if target == "bsr":
        assert t.blocksize == kw["bsr"]["blocksize"]
    if target == "nm":
        assert (t.n, t.m) == (kw["nm"]["n"], kw["nm"]["m"])


@FAST
@given(layouts())
def test_structural_round_trips_through_coo_and_csr_keep_arrays_identical(case):
    x, kw = case
    for fmt in ("coo", "csr", "bsr", "bitmap"):
        t = SparseTensor.from_dense(x, fmt, **kw[fmt])
        assert t.to("coo").to(fmt, **kw[fmt]).equal(t)
        assert t.to("csr").to(fmt, **kw[fmt]).equal(t)


@FAST
@given(layouts())
def test_from_dense_matches_scipy_compression(case):
    x, kw = case
    csr, ref = SparseTensor.from_dense(x, "csr"), sp.csr_array(x)
    np.testing.assert_array_equal(csr.arrays["indptr"], ref.indptr)
    np.testing.assert_array_equal(csr.arrays["indices"], ref.indices)
    np.testing.assert_array_equal(csr.arrays["values"], ref.data)
    coo, ref = SparseTensor.from_dense(x, "coo"), sp.coo_array(x)
    np.testing.assert_array_equal(coo.arrays["row"], ref.row)
    np.testing.assert_array_equal(coo.arrays["col"], ref.col)
    np.testing.assert_array_equal(coo.arrays["values"], ref.data)
    bsr, ref = (
        SparseTensor.from_dense(x, "bsr", **kw["bsr"]),
        sp.bsr_array(x, blocksize=kw["bsr"]["blocksize"]),
    )
    ref.sort_indices()  # scipy's dense -> bsr path leaves block columns unsorted
    np.testing.assert_array_equal(bsr.arrays["indptr"], ref.indptr)
    np.testing.assert_array_equal(bsr.arrays["indices"], ref.indices)
    np.testing.assert_array_equal(bsr.arrays["blocks"], ref.data)


@FAST
@given(layouts())
def test_scipy_round_trip_keeps_arrays_identical(case):
    x, kw = case
    for fmt in FORMATS:
        t = SparseTensor.from_dense(x, fmt, **kw[fmt])
        a = t.to_scipy()
        np.testing.assert_array_equal(a.toarray(), x)
        if fmt in ("coo", "csr", "bsr"):
            assert a.format == fmt
            assert SparseTensor.from_scipy(a).equal(t)
        else:
            assert a.format == "csr"
            assert SparseTensor.from_scipy(a).equal(t.to("csr"))


@FAST
@given(coo_entries())
def test_from_scipy_keeps_duplicates_explicit_zeros_and_order(entries):
    row, col, values, shape = entries
    a = sp.coo_array((values, (row, col)), shape=shape)
    t = SparseTensor.from_scipy(a)
    np.testing.assert_array_equal(t.arrays["row"], row)
    np.testing.assert_array_equal(t.arrays["col"], col)
    np.testing.assert_array_equal(t.arrays["values"], values)
    np.testing.assert_array_equal(t.to_dense(), brute_force_dense(row, col, values, shape))
    assert SparseTensor.from_scipy(t.to_scipy()).equal(t)
    for other in (a.tocsr(), a.tocsc(), a.todia(), sp.coo_matrix(a)):
        np.testing.assert_array_equal(SparseTensor.from_scipy(other).to_dense(), a.toarray())


@FAST
@given(coo_entries())
def test_coalesce_matches_scipy_sum_duplicates(entries):
    row, col, values, shape = entries
    t = SparseTensor.coo(row, col, values, shape).coalesce()
    ref = sp.coo_array((values, (row, col)), shape=shape)
    ref.sum_duplicates()
    assert t.has_canonical_format
    np.testing.assert_array_equal(t.arrays["row"], ref.row)
    np.testing.assert_array_equal(t.arrays["col"], ref.col)
    np.testing.assert_array_equal(t.arrays["values"], ref.data)


@FAST
@given(coo_entries())
def test_csr_canonical_form_matches_scipy(entries):
    row, col, values, shape = entries
    # Group by row but keep each row's columns unsorted and duplicated.
    order = np.argsort(row, kind="stable")
    indptr = np.searchsorted(row[order], np.arange(shape[0] + 1)).astype(np.int32)
    ref = sp.csr_array((values[order], col[order], indptr), shape=shape)
    t = SparseTensor.csr(indptr, col[order], values[order], shape)
    assert t.has_canonical_format == ref.has_canonical_format
    canon = t.canonical()
    ref.sum_duplicates()
    assert canon.has_canonical_format and canon.format == "csr"
    np.testing.assert_array_equal(canon.arrays["indptr"], ref.indptr)
    np.testing.assert_array_equal(canon.arrays["indices"], ref.indices)
    np.testing.assert_array_equal(canon.arrays["values"], ref.data)


@FAST
@given(layouts())
def test_torch_round_trip_is_lossless(case):
    x, kw = case
    for fmt in FORMATS:
        t = SparseTensor.from_dense(x, fmt, **kw[fmt])
        tt = t.to_torch()
        np.testing.assert_array_equal(tt.to_dense().numpy(), x)
        back = SparseTensor.from_torch(tt)
        assert back.equal(t if fmt in ("coo", "csr", "bsr") else t.to("csr"))
    dense = SparseTensor.from_torch(torch.from_numpy(x))
    assert dense.equal(SparseTensor.from_dense(x, "csr"))


@FAST
@given(coo_entries())
def test_uncoalesced_coo_survives_torch(entries):
    row, col, values, shape = entries
    t = SparseTensor.coo(row, col, values, shape)
    tt = t.to_torch()
    assert tt.is_coalesced() == t.has_canonical_format
    assert SparseTensor.from_torch(tt).equal(t)
    np.testing.assert_array_equal(tt.to_dense().numpy(), t.to_dense())


def test_to_torch_layouts_convert_first():
    x = np.array([[0.0, 1.0, 0.0, 0.0], [2.0, 0.0, 0.0, 3.0]])
    t = SparseTensor.from_dense(x, "coo")
    np.testing.assert_array_equal(t.to_torch(torch.strided).numpy(), x)
    assert t.to_torch(torch.sparse_csr).layout == torch.sparse_csr
    bsr = t.to_torch(torch.sparse_bsr, blocksize=(1, 2))
    assert bsr.layout == torch.sparse_bsr and tuple(bsr.values().shape[1:]) == (1, 2)
    np.testing.assert_array_equal(bsr.to_dense().numpy(), x)


def test_from_dense_accepts_torch_tensors_like_numpy():
    x = torch.tensor([[0.0, 1.5], [2.0, 0.0]], requires_grad=True)
    t = SparseTensor.from_dense(x, "csr")
    assert t.equal(SparseTensor.from_dense(x.detach().numpy(), "csr"))
    half = SparseTensor.from_dense(x.detach().to(torch.bfloat16), "coo")
    assert half.dtype == np.float32
    np.testing.assert_array_equal(half.to_dense(), [[0.0, 1.5], [2.0, 0.0]])


def test_numpy_only_use_imports_neither_torch_nor_scipy():
    code = (
        "import sys, numpy as np\n"
        "from sparsehub.tensor import SparseTensor\n"
        "x = np.eye(4)\n"
        "for f, kw in [('coo', {}), ('csr', {}), ('bsr', {'blocksize': (2, 2)}), ('nm', {'n': 1, 'm': 2}),"
        " ('bitmap', {})]:\n"
        "    SparseTensor.from_dense(x, f, **kw).to('csr').transpose().to_dense()\n"
        "assert 'torch' not in sys.modules and 'scipy' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- format specifics ------------------------------------------------------------------------------------
@FAST
@given(layouts())
def test_nm_stores_exactly_n_sorted_slots_per_group_with_zero_padding(case):
    x, kw = case
    n, m = kw["nm"]["n"], kw["nm"]["m"]
    t = SparseTensor.from_dense(x, "nm", n=n, m=m)
    values, idx = t.arrays["values"], t.arrays["indices"]
    rows, cols = x.shape
    assert idx.dtype == np.uint8 and values.shape == idx.shape == (rows, cols // m * n)
    for r in range(rows):
        for j in range(cols // m):
            pos = idx[r, j * n : (j + 1) * n].astype(int)
            assert np.all(np.diff(pos) > 0) and pos.min(initial=0) >= 0 and pos.max(initial=0) < m
            group = x[r, j * m : (j + 1) * m]
            np.testing.assert_array_equal(values[r, j * n : (j + 1) * n], group[pos])
            assert set(np.flatnonzero(group)) <= set(pos)  # every non-zero has a slot


def test_nm_from_dense_names_the_first_group_with_too_many_nonzeros():
    x = np.zeros((3, 8))
    x[2, 4:7] = 1.0  # row 2, group 1 holds three non-zeros
    x[2, 0:1] = 1.0
    with pytest.raises(PatternError) as err:
        SparseTensor.from_dense(x, "nm", n=2, m=4)
    assert "row 2, group 1" in str(err.value) and "n=2" in str(err.value)


def test_bsr_from_dense_drops_all_zero_blocks_but_keeps_blocks_with_zeros_inside():
    x = np.zeros((4, 4))
    x[0, 3] = 5.0
    t = SparseTensor.from_dense(x, "bsr", blocksize=(2, 2))
    np.testing.assert_array_equal(t.arrays["indptr"], [0, 1, 1])
    np.testing.assert_array_equal(t.arrays["indices"], [1])
    np.testing.assert_array_equal(t.arrays["blocks"], [[[0.0, 5.0], [0.0, 0.0]]])


def test_nan_and_inf_are_stored_as_data_in_every_format():
    x = np.array([[np.nan, 0.0, 0.0, np.inf], [0.0, -np.inf, 0.0, 0.0]])
    kw = {"bsr": {"blocksize": (1, 2)}, "nm": {"n": 2, "m": 4}}
    for fmt in FORMATS:
        t = SparseTensor.from_dense(x, fmt, **kw.get(fmt, {}))
        assert t.count_nonzero() == 3
        np.testing.assert_array_equal(t.to_dense(), x)  # NaN == NaN for assert_array_equal
        assert t.equal(SparseTensor.from_dense(x.copy(), fmt, **kw.get(fmt, {})))


@FAST
@given(layouts())
def test_transpose_matches_dense_transpose(case):
    x, kw = case
    expected_format = {"coo": "coo", "csr": "csr", "bsr": "bsr", "nm": "csr", "bitmap": "csr"}
    for fmt in FORMATS:
        t = SparseTensor.from_dense(x, fmt, **kw[fmt]).T
        assert t.format == expected_format[fmt] and t.shape == x.T.shape
        np.testing.assert_array_equal(t.to_dense(), x.T)
    bh, bw = kw["bsr"]["blocksize"]
    assert SparseTensor.from_dense(x, "bsr", **kw["bsr"]).T.blocksize == (bw, bh)


def test_coo_duplicates_sum_in_to_dense():
    t = SparseTensor.coo([1, 0, 1], [2, 0, 2], [1.0, 4.0, 2.5], (2, 3))
    np.testing.assert_array_equal(t.to_dense(), [[4.0, 0, 0], [0, 0, 3.5]])
    assert t.nnz == 3 and not t.has_canonical_format
    assert t.coalesce().nnz == 2


def test_astype_casts_values_and_keeps_structure():
    t = SparseTensor.from_dense(np.array([[0, 3], [2, 0]]), "csr")
    f = t.astype(np.float32)
    assert f.dtype == np.float32 and f.format == "csr"
    assert f.arrays["indices"] is t.arrays["indices"]
    np.testing.assert_array_equal(f.to_dense(), [[0, 3], [2, 0]])
    assert t.astype(t.dtype) is t


def test_equal_is_structural_and_allclose_compares_values():
    x = np.array([[0.0, 1.0], [2.0, 0.0]])
    csr, coo = SparseTensor.from_dense(x, "csr"), SparseTensor.from_dense(x, "coo")
    assert csr.equal(SparseTensor.from_dense(x.copy(), "csr"))
    assert not csr.equal(coo) and csr.allclose(coo) and csr.allclose(x)
    assert not csr.equal(SparseTensor.from_dense(x, "csr", index_dtype=np.int64))
    assert not csr.allclose(x + 1e-3) and not csr.allclose(np.zeros((3, 2)))


def test_repr_and_properties_name_the_layout():
    t = SparseTensor.from_dense(np.eye(4), "bsr", blocksize=(2, 2))
    assert repr(t) == "SparseTensor(format='bsr', shape=(4, 4), nnz=8, dtype=float64, blocksize=(2, 2))"
    assert t.nbytes == sum(a.nbytes for a in t.arrays.values())
    nm = SparseTensor.from_dense(np.eye(4), "nm", n=1, m=2)
    assert (nm.n, nm.m, nm.nnz, nm.count_nonzero()) == (1, 2, 8, 4)
    with pytest.raises(AttributeError):
        _ = nm.blocksize


def test_pickle_round_trip_is_exact_and_stays_read_only():
    t = SparseTensor.from_dense(np.eye(4), "nm", n=1, m=2)
    back = pickle.loads(pickle.dumps(t))
    assert back.equal(t)
    assert not any(a.flags.writeable for a in back.arrays.values())


# -- immutability and memory -------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_arrays_are_read_only_and_attributes_cannot_be_set(fmt):
    kw = {"bsr": {"blocksize": (2, 2)}, "nm": {"n": 1, "m": 2}}.get(fmt, {})
    t = SparseTensor.from_dense(np.eye(4), fmt, **kw)
    for arr in t.arrays.values():
        with pytest.raises(ValueError, match="read-only"):
            arr[...] = 0
    with pytest.raises(TypeError):
        t.arrays["values"] = np.zeros(3)  # type: ignore[index]
    with pytest.raises(AttributeError, match="immutable"):
        t._format = "coo"  # type: ignore[misc]
    with pytest.raises(TypeError):
        SparseTensor()


def test_construction_shares_matching_arrays_without_freezing_the_callers():
    indptr = np.array([0, 1, 2], dtype=np.int32)
    indices = np.array([1, 0], dtype=np.int32)
    values = np.array([5.0, 6.0])
    t = SparseTensor.csr(indptr, indices, values, (2, 2))
    assert np.shares_memory(t.arrays["indices"], indices) and np.shares_memory(t.arrays["values"], values)
    assert indptr.flags.writeable and indices.flags.writeable and values.flags.writeable
    tt = t.to_torch()
    assert np.shares_memory(tt.values().numpy(), values)
    assert np.shares_memory(SparseTensor.from_scipy(t.to_scipy()).arrays["values"], values)
    owned = t.to_scipy(copy=True)
    owned.data *= 2  # an owned copy is writable and leaves the tensor alone
    np.testing.assert_array_equal(t.arrays["values"], [5.0, 6.0])


def test_index_dtype_is_int32_when_it_fits_and_keeps_callers_int64():
    assert SparseTensor.coo([0, 1], [1, 0], [1.0, 2.0], (2, 2)).index_dtype == np.int32
    assert (
        SparseTensor.coo(np.array([0], np.int16), np.array([1], np.uint8), [1.0], (2, 2)).index_dtype
        == np.int32
    )
    row64 = np.array([0, 1], dtype=np.int64)
    t = SparseTensor.coo(row64, row64, [1.0, 2.0], (2, 2))
    assert t.index_dtype == np.int64 and np.shares_memory(t.arrays["row"], row64)
    assert SparseTensor.from_dense(np.eye(2), "csr", index_dtype=np.int64).index_dtype == np.int64
    assert t.to("csr", index_dtype=np.int32).index_dtype == np.int32
    assert SparseTensor.coo([], [], [], (0, 0)).nnz == 0


@pytest.mark.parametrize("fmt", ["coo", "csr", "bsr"])
def test_int64_indices_that_would_fit_int32_survive_scipy_and_torch(fmt):
    kw = {"blocksize": (1, 2)} if fmt == "bsr" else {}
    t = SparseTensor.from_dense(np.eye(4), fmt, index_dtype=np.int64, **kw)
    assert t.index_dtype == np.int64
    assert SparseTensor.from_scipy(t.to_scipy()).equal(t)  # scipy alone would narrow csr/bsr to int32
    assert SparseTensor.from_torch(t.to_torch(), index_dtype=np.int64).equal(t)


def test_huge_column_dimension_uses_int64_indices_end_to_end():
    cols = 2**31 + 10
    t = SparseTensor.coo(np.array([2, 0], np.int32), np.array([cols - 1, 7]), [1.5, -2.0], (3, cols))
    assert t.index_dtype == np.int64 and t.density == 2 / (3 * cols)
    csr = t.to("csr")
    assert csr.index_dtype == np.int64
    np.testing.assert_array_equal(csr.arrays["indptr"], [0, 1, 1, 2])
    np.testing.assert_array_equal(csr.arrays["indices"], [7, cols - 1])
    a = csr.to_scipy()
    assert a.indices.dtype == np.int64 and a[[2], [cols - 1]] == 1.5
    assert SparseTensor.from_scipy(a).equal(csr)
    assert SparseTensor.from_torch(csr.to_torch()).equal(csr)
    assert SparseTensor.from_torch(t.to_torch()).equal(t)
    tr = t.T  # coo stays coo: a csr transpose would need a (cols + 1,) indptr
    assert tr.shape == (cols, 3) and tr.coalesce().arrays["row"].tolist() == [7, cols - 1]
    with pytest.raises(FormatError, match="index_dtype"):
        SparseTensor.coo([0], [0], [1.0], (3, cols), index_dtype=np.int32)


# -- validation -------------------------------------------------------------------------------------------
V = np.array([1.0, 2.0])
BAD_INPUTS = {
    "coo row out of range": (lambda: SparseTensor.coo([0, 5], [0, 1], V, (3, 3)), FormatError, "row[1]=5"),
    "coo negative col": (lambda: SparseTensor.coo([0, 1], [-1, 1], V, (3, 3)), FormatError, "col[0]=-1"),
    "coo values length": (
        lambda: SparseTensor.coo([0, 1], [0, 1], [1.0], (3, 3)),
        ShapeError,
        "values.shape",
    ),
    "coo col length": (lambda: SparseTensor.coo([0, 1], [0], V, (3, 3)), ShapeError, "col.shape"),
    "coo float indices": (lambda: SparseTensor.coo([0.0, 1.0], [0, 1], V, (3, 3)), FormatError, "row.dtype"),
    "coo 2-D row": (lambda: SparseTensor.coo([[0, 1]], [0, 1], V, (3, 3)), ShapeError, "row.shape"),
    "coo object values": (
        lambda: SparseTensor.coo([0, 1], [0, 1], np.array(["a", "b"], dtype=object), (3, 3)),
        FormatError,
        "values.dtype",
    ),
    "negative shape": (lambda: SparseTensor.coo([0], [0], [1.0], (3, -1)), ShapeError, "shape"),
    "3-D shape": (lambda: SparseTensor.coo([0], [0], [1.0], (3, 3, 3)), ShapeError, "shape"),
    "float shape": (lambda: SparseTensor.coo([0], [0], [1.0], (3.0, 3)), ShapeError, "shape"),
    "csr indptr start": (lambda: SparseTensor.csr([1, 1, 2], [0, 1], V, (2, 2)), FormatError, "indptr[0]"),
    "csr indptr not monotone": (
        lambda: SparseTensor.csr([0, 2, 1, 2], [0, 1], V, (3, 2)),
        FormatError,
        "indptr[2]",
    ),
    "csr indptr end": (lambda: SparseTensor.csr([0, 1, 1], [0, 1], V, (2, 2)), FormatError, "indptr[2]"),
    "csr indptr length": (lambda: SparseTensor.csr([0, 2], [0, 1], V, (2, 2)), ShapeError, "indptr.shape"),
    "csr indices out of range": (
        lambda: SparseTensor.csr([0, 1, 2], [0, 2], V, (2, 2)),
        FormatError,
        "indices[1]=2",
    ),
    "csr values length": (lambda: SparseTensor.csr([0, 1, 2], [0, 1], [1.0], (2, 2)), ShapeError, "values"),
    "bsr blocks not dividing": (
        lambda: SparseTensor.bsr([0, 1], [0], np.ones((1, 2, 2)), (3, 4)),
        ShapeError,
        "blocks.shape",
    ),
    "bsr 2-D blocks": (lambda: SparseTensor.bsr([0, 1], [0], np.ones((2, 2)), (2, 2)), ShapeError, "blocks"),
    "bsr block column out of range": (
        lambda: SparseTensor.bsr([0, 1], [2], np.ones((1, 2, 2)), (2, 4)),
        FormatError,
        "indices[0]=2",
    ),
    "bsr block count": (
        lambda: SparseTensor.bsr([0, 1], [0], np.ones((2, 2, 2)), (2, 4)),
        ShapeError,
        "blocks.shape",
    ),
    "nm n > m": (
        lambda: SparseTensor.nm(np.ones((1, 3)), np.zeros((1, 3)), (1, 2), 3, 2),
        PatternError,
        "n=3",
    ),
    "nm n zero": (
        lambda: SparseTensor.nm(np.ones((1, 0)), np.zeros((1, 0)), (1, 4), 0, 4),
        PatternError,
        "n=0",
    ),
    "nm m not dividing": (
        lambda: SparseTensor.nm(np.ones((1, 2)), np.zeros((1, 2)), (1, 6), 2, 4),
        PatternError,
        "m=4",
    ),
    "nm indices not increasing": (
        lambda: SparseTensor.nm(np.ones((1, 2)), np.array([[2, 1]]), (1, 4), 2, 4),
        FormatError,
        "indices[0, 1]=1",
    ),
    "nm index >= m": (
        lambda: SparseTensor.nm(np.ones((1, 2)), np.array([[0, 4]]), (1, 4), 2, 4),
        FormatError,
        "indices[0, 1]=4",
    ),
    "nm values shape": (
        lambda: SparseTensor.nm(np.ones((1, 3)), np.array([[0, 1]]), (1, 4), 2, 4),
        ShapeError,
        "values.shape",
    ),
    "bitmap not bool": (lambda: SparseTensor.bitmap(np.eye(2), V, (2, 2)), FormatError, "bitmap.dtype"),
    "bitmap shape": (
        lambda: SparseTensor.bitmap(np.eye(2, dtype=bool), V, (2, 3)),
        ShapeError,
        "bitmap.shape",
    ),
    "bitmap values length": (
        lambda: SparseTensor.bitmap(np.eye(2, dtype=bool), [1.0], (2, 2)),
        ShapeError,
        "values.shape",
    ),
    "from_dense unknown format": (
        lambda: SparseTensor.from_dense(np.eye(2), "csc"),
        FormatError,
        "format='csc'",
    ),
    "to unknown format": (lambda: SparseTensor.from_dense(np.eye(2)).to("ell"), FormatError, "format='ell'"),
    "from_dense 3-D": (lambda: SparseTensor.from_dense(np.ones((2, 2, 2))), ShapeError, "x.shape"),
    "from_dense bsr without blocksize": (
        lambda: SparseTensor.from_dense(np.eye(2), "bsr"),
        ShapeError,
        "blocksize=None",
    ),
    "from_dense blocksize not dividing": (
        lambda: SparseTensor.from_dense(np.eye(4), "bsr", blocksize=(3, 2)),
        ShapeError,
        "blocksize",
    ),
    "from_dense nm without m": (lambda: SparseTensor.from_dense(np.eye(4), "nm", n=2), PatternError, "n, m"),
    "from_dense nm m not dividing": (
        lambda: SparseTensor.from_dense(np.eye(3), "nm", n=1, m=2),
        PatternError,
        "m=2",
    ),
    "option the format ignores": (
        lambda: SparseTensor.from_dense(np.eye(2)).to("csr", blocksize=(1, 1)),
        FormatError,
        "blocksize",
    ),
    "bad index_dtype": (
        lambda: SparseTensor.from_dense(np.eye(2), index_dtype=np.float32),
        FormatError,
        "index_dtype",
    ),
    "to bsr without blocksize": (
        lambda: SparseTensor.from_dense(np.eye(2)).to("bsr"),
        ShapeError,
        "blocksize",
    ),
    "from_scipy of a dense array": (lambda: SparseTensor.from_scipy(np.eye(2)), FormatError, "a="),
    "to_torch blocksize without blocks": (
        lambda: SparseTensor.from_dense(np.eye(2)).to_torch(blocksize=(1, 1)),
        FormatError,
        "blocksize",
    ),
    "from_torch of a 3-D tensor": (
        lambda: SparseTensor.from_torch(torch.zeros(2, 2, 2)),
        ShapeError,
        "t.shape",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_rejected_naming_the_argument(case):
    build, error, fragment = BAD_INPUTS[case]
    with pytest.raises(error) as err:
        build()
    message = str(err.value)
    assert fragment in message
    assert "not allowed: expected" in message or "which is not allowed" in message


def test_unknown_format_message_lists_every_builtin_format():
    with pytest.raises(FormatError) as err:
        SparseTensor.from_dense(np.eye(2), "CSR")
    assert all(name in str(err.value) for name in FORMATS)


def test_failed_construction_leaves_inputs_untouched():
    row = np.array([0, 9], dtype=np.int64)
    values = np.array([1.0, 2.0])
    with pytest.raises(FormatError):
        SparseTensor.coo(row, [0, 0], values, (3, 3))
    assert row.flags.writeable and values.flags.writeable
    np.testing.assert_array_equal(row, [0, 9])


# -- plugin formats ----------------------------------------------------------------------------------------
def test_builtin_format_specs_convert_like_to():
    t = SparseTensor.from_dense(np.eye(4), "coo")
    assert format_spec("bsr").name == "bsr"
    assert convert_to_plugin_format(t, "bsr", blocksize=(2, 2)).equal(t.to("bsr", blocksize=(2, 2)))
    assert convert_from_plugin_format(t.to("nm", n=1, m=2), "nm").equal(t.to("csr"))


def test_plugin_formats_are_found_through_the_hook(monkeypatch):
    def to_rows(csr, scale=1.0):
        return {"rows": csr.to_dense() * scale}

    def rows_to_csr(obj):
        return SparseTensor.from_dense(obj["rows"], "csr")

    plugin = types.ModuleType("fake_rows_format")
    plugin.sparsehub_formats = hookimpl(
        lambda: [FormatSpec("dense-rows", "rows kept dense", to_rows, rows_to_csr)]
    )
    found = discovery.Plugins.discover(group="sparsehub-test-no-such-group")
    found.register(plugin, "fake-rows")
    monkeypatch.setattr(discovery, "plugins", lambda: found)

    t = SparseTensor.from_dense(np.eye(3), "coo")
    obj = convert_to_plugin_format(t, "dense-rows", scale=2.0)
    np.testing.assert_array_equal(obj["rows"], 2 * np.eye(3))
    assert convert_from_plugin_format(obj, "dense-rows").allclose(2 * np.eye(3))
    with pytest.raises(FormatError) as err:
        format_spec("tiled-csl")
    assert "dense-rows" in str(err.value) and all(name in str(err.value) for name in FORMATS)
