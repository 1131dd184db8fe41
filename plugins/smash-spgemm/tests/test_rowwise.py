"""Row-wise hash SpGEMM: bit-exact against scipy in every variant, and its index/overflow rules."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from sparsehub_smash_spgemm import rowwise

from .conftest import assert_same_csr, random_csr, scipy_product


def _args(A, B):
    return (A.indptr, A.indices, A.data, A.shape, B.indptr, B.indices, B.data, B.shape)


@pytest.mark.parametrize("passes", [1, 2])
@pytest.mark.parametrize("window", [None, 64, 8])
def test_hash_spgemm_equals_scipy_bit_for_bit(pair, passes, window):
    A, B = pair
    got = rowwise.hash_spgemm(*_args(A, B), passes=passes, window=window)
    assert_same_csr(got, scipy_product(A, B))


def test_float32_products_add_in_float32_like_scipy():
    A, B = random_csr(80, 70, 0.1, 3, np.float32), random_csr(70, 60, 0.1, 4, np.float32)
    assert_same_csr(rowwise.hash_spgemm(*_args(A, B)), scipy_product(A, B))
    assert_same_csr(rowwise.spa_spgemm(*_args(A, B)), scipy_product(A, B))


def test_two_pass_variant_and_dense_accumulator_agree_with_scipy(pair):
    A, B = pair
    assert_same_csr(rowwise.hash_spgemm_two_pass(*_args(A, B)), scipy_product(A, B))
    assert_same_csr(rowwise.spa_spgemm(*_args(A, B), passes=2), scipy_product(A, B))


def test_unsorted_output_holds_the_same_entries_in_first_insertion_order(pair):
    A, B = pair
    indptr, indices, values = rowwise.hash_spgemm(*_args(A, B), sort_indices=False)
    ref = scipy_product(A, B)
    np.testing.assert_array_equal(indptr, ref.indptr)
    rowwise.sort_rows(indptr, indices, values)
    assert_same_csr((indptr, indices, values), ref)


def test_rows_with_many_duplicates_merge_and_long_rows_sort():
    # A dense-ish times B dense-ish: every row of C is full (n = 300 > the 32-entry fast paths)
    A, B = random_csr(40, 30, 0.6, 5), random_csr(30, 300, 0.5, 6)
    for passes in (1, 2):
        assert_same_csr(rowwise.hash_spgemm(*_args(A, B), passes=passes), scipy_product(A, B))


def test_the_parallel_path_equals_the_serial_one(monkeypatch):
    A, B = random_csr(400, 300, 0.03, 7), random_csr(300, 400, 0.03, 8)
    monkeypatch.setattr(rowwise, "PARALLEL_MIN_FLOPS", 0)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        for passes in (1, 2):
            assert_same_csr(rowwise.hash_spgemm(*_args(A, B), passes=passes), scipy_product(A, B))
    finally:
        numba.set_num_threads(old)


def test_products_cancelling_to_zero_are_dropped_like_scipy():
    sp = pytest.importorskip("scipy.sparse")
    A = sp.csr_array(np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))
    B = sp.csr_array(np.array([[2.0, 1.0], [-2.0, 3.0], [5.0, 0.0]]))
    indptr, indices, values = rowwise.hash_spgemm(*_args(A, B), passes=2)
    assert indptr.tolist() == [0, 1, 1] and indices.tolist() == [1] and values.tolist() == [4.0]
    assert_same_csr((indptr, indices, values), scipy_product(A, B))


def test_nan_and_inf_propagate_exactly_as_in_scipy():
    A, B = random_csr(30, 20, 0.2, 9), random_csr(20, 25, 0.2, 10)
    A.data[0], B.data[3] = np.nan, np.inf
    got = rowwise.hash_spgemm(*_args(A, B))
    ref = scipy_product(A, B)
    np.testing.assert_array_equal(got[1], ref.indices)
    np.testing.assert_array_equal(got[2], ref.data)  # NaN == NaN positions, same finite values


@pytest.mark.parametrize("shape_a, shape_b", [((0, 5), (5, 4)), ((3, 0), (0, 4)), ((3, 5), (5, 0)), ((4, 5), (5, 6))])
def test_empty_matrices_and_empty_rows_give_an_empty_product(shape_a, shape_b):
    sp = pytest.importorskip("scipy.sparse")
    A, B = sp.csr_array(shape_a), sp.csr_array(shape_b)
    A.indptr, A.indices = A.indptr.astype(np.int32), A.indices.astype(np.int32)
    B.indptr, B.indices = B.indptr.astype(np.int32), B.indices.astype(np.int32)
    indptr, indices, values = rowwise.hash_spgemm(*_args(A, B))
    assert indptr.tolist() == [0] * (shape_a[0] + 1) and indices.size == 0 and values.size == 0


def test_index_dtype_switches_to_int64_exactly_past_int32_max():
    assert rowwise.index_dtype(0) == np.int32
    assert rowwise.index_dtype(2**31 - 1) == np.int32
    assert rowwise.index_dtype(2**31) == np.int64
    assert rowwise.index_dtype(10**12) == np.int64
    with pytest.raises(ValueError, match="largest=-1"):
        rowwise.index_dtype(-1)


def test_flops_beyond_int32_are_counted_in_int64_without_allocating_them():
    # 3 rows of A, each holding 3 entries pointing at B rows of 2^30 entries (only indptr exists)
    a_indptr = np.array([0, 3, 6, 9], dtype=np.int32)
    a_indices = np.array([0, 1, 2] * 3, dtype=np.int32)
    b_indptr = np.array([0, 2**30, 2**31, 3 * 2**30], dtype=np.int64)
    ub = rowwise.row_upper_bounds(a_indptr, a_indices, b_indptr)
    assert ub.dtype == np.int64 and ub.tolist() == [3 * 2**30] * 3
    assert rowwise.index_dtype(int(ub.sum())) == np.int64


def test_int64_indices_give_the_same_product():
    A, B = random_csr(50, 40, 0.1, 11), random_csr(40, 30, 0.1, 12)
    args = (A.indptr.astype(np.int64), A.indices.astype(np.int64), A.data, A.shape,
            B.indptr.astype(np.int64), B.indices.astype(np.int64), B.data, B.shape)
    got = rowwise.hash_spgemm(*args)
    ref = scipy_product(A, B)
    np.testing.assert_array_equal(got[0], ref.indptr)
    np.testing.assert_array_equal(got[1], ref.indices)
    np.testing.assert_array_equal(got[2], ref.data)


def test_tables_are_powers_of_two_at_load_at_most_one_eighth_or_one_half_of_n():
    assert rowwise.table_size(0, 100) == 8
    assert rowwise.table_size(64, 10_000) == 512
    assert rowwise.table_size(65, 10_000) == 1024
    assert rowwise.table_size(1000, 50) == 128  # at most 50 distinct columns: 2 * 50 -> 128
    for ub, n in [(1, 1), (7, 3), (300, 20_000), (5000, 100)]:
        size = rowwise.table_size(ub, n)
        assert size & (size - 1) == 0 and size >= 2 * min(ub, n)


def test_thread_ranges_cover_all_rows_in_order_and_balance_the_flops():
    ub = np.array([5, 0, 5, 5, 0, 5, 100, 1], dtype=np.int64)
    for parts in (1, 2, 3, 8, 20):
        b = rowwise.thread_ranges(ub, parts)
        assert b[0] == 0 and b[-1] == len(ub) and np.all(np.diff(b) >= 0)
    b = rowwise.thread_ranges(ub, 2)
    assert b.tolist() == [0, 6, 8] or b.tolist() == [0, 7, 8]


@pytest.mark.parametrize("bad", [0, 7, 12, -8, 2.0, True])
def test_a_window_that_is_not_a_power_of_two_of_at_least_8_is_rejected(pair, bad):
    A, B = pair
    with pytest.raises(ValueError, match="window="):
        rowwise.hash_spgemm(*_args(A, B), window=bad)


def test_passes_other_than_one_or_two_are_rejected(pair):
    A, B = pair
    with pytest.raises(ValueError, match="passes=3"):
        rowwise.hash_spgemm(*_args(A, B), passes=3)


def test_rows_come_out_sorted_even_when_the_raw_kernel_gets_unsorted_b_rows():
    # the kernel contract asks for canonical CSR; sorted output must not depend on it
    A, B = random_csr(60, 40, 0.1, 13), random_csr(40, 50, 0.2, 14)
    ref = scipy_product(A, B)
    rng = np.random.default_rng(0)
    b_indices, b_values = B.indices.copy(), B.data.copy()
    for r in range(B.shape[0]):
        lo, hi = B.indptr[r], B.indptr[r + 1]
        perm = lo + rng.permutation(hi - lo)
        b_indices[lo:hi], b_values[lo:hi] = B.indices[perm], B.data[perm]
    got = rowwise.hash_spgemm(A.indptr, A.indices, A.data, A.shape, B.indptr, b_indices, b_values, B.shape)
    np.testing.assert_array_equal(got[0], ref.indptr)
    np.testing.assert_array_equal(got[1], ref.indices)
    np.testing.assert_allclose(got[2], ref.data, rtol=1e-12)  # summation order follows B's storage
