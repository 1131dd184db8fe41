"""Tiled-CSL: exact round trips, the official word layout, padding, reordering and bad input."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsehub import SparseTensor
from sparsehub.errors import FormatError, ShapeError
from sparsehub.tensor import convert_from_plugin_format, convert_to_plugin_format
from sparsehub_flash_llm_spmm import TiledCSL
from sparsehub_flash_llm_spmm.tiled_csl import tiled_csl_to_csr

from .conftest import _sparse_weight as sparse_weight


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(0, 300),
    cols=st.integers(0, 300),
    density=st.floats(0, 1),
    shuffle=st.booleans(),
    tiling=st.sampled_from([(128, 64, 4), (1, 64, 1), (64, 128, 8), (512, 128, 4)]),
    seed=st.integers(0, 2**16),
)
def test_round_trip_is_exact_for_any_shape_density_and_tiling(rows, cols, density, shuffle, tiling, seed):
    w = sparse_weight((rows, cols), 1 - density, seed).astype(np.float16)
    tile_m, tile_k, vector = tiling
    t = TiledCSL.from_dense(w, tile_m=tile_m, tile_k=tile_k, vector=vector, shuffle=shuffle)
    np.testing.assert_array_equal(t.to_dense(), w)
    assert t.nnz == np.count_nonzero(w)
    assert t.nnz_padded % vector == 0 and t.nnz_padded - t.nnz < vector * t.n_tiles + 1
    csr = t.to_csr()
    assert csr.has_canonical_format and csr.dtype == np.float16


def test_word_holds_fp16_value_low_and_swizzled_location_high():
    w = np.zeros((128, 64), np.float32)
    w[9, 3] = 1.5
    t = TiledCSL.from_dense(w, vector=1)
    assert t.words.size == 1
    assert int(t.words[0]) >> 16 == 9 * 64 + (3 ^ (1 << 3))  # row * 64 + (col XOR (row % 8) * 8)
    assert np.uint16(int(t.words[0]) & 0xFFFF).view(np.float16) == np.float16(1.5)


def test_tile_offsets_follow_the_official_layout(weight):
    t = TiledCSL.from_dense(weight)
    ntm, ntk = t.grid
    assert (ntm, ntk) == (3, 4) and t.tile_offsets.size == ntm * ntk + 2
    assert t.tile_offsets[0] == 0 and t.tile_offsets[-1] == t.tile_offsets[-2] == t.nnz_padded // 4
    assert t.nbytes == 4 * t.nnz_padded + 4 * (t.n_tiles + 2)
    rows, cols = t.coordinates()
    tile_of_word = np.repeat(np.arange(t.n_tiles), np.diff(t.word_start))
    np.testing.assert_array_equal(tile_of_word, (rows // 128) * ntk + cols // 64)  # panel-major tiles


def test_padding_zeros_take_distinct_free_positions_inside_the_matrix(weight):
    t = TiledCSL.from_dense(weight)
    rows, cols = t.coordinates()
    assert len(set(zip(rows.tolist(), cols.tolist()))) == t.nnz_padded
    pad = (t.words & np.uint32(0x7FFF)) == 0
    assert pad.sum() == t.nnz_padded - t.nnz > 0
    assert (rows[pad] < weight.shape[0]).all() and (cols[pad] < weight.shape[1]).all()
    assert (weight[rows[pad], cols[pad]] == 0).all()


def test_ragged_edge_tile_too_full_for_its_padding_pads_past_the_edge():
    t = TiledCSL.from_dense(np.ones((1, 1), np.float32))
    assert t.nnz == 1 and t.nnz_padded == 4
    np.testing.assert_array_equal(t.to_dense(), np.ones((1, 1), np.float16))


def _bank_conflicts(t):
    bank = ((t.words >> np.uint32(16)) // 2) % 32
    vectors = t.nnz_padded // t.vector
    lanes = np.arange(32) * t.vector
    return sum(32 - np.unique(bank[r * 32 * t.vector + lanes + v]).size
               for r in range(vectors // 32) for v in range(t.vector))


def test_shuffle_makes_the_lanes_of_a_warp_write_different_banks():
    w = sparse_weight((128, 64), 0.8, seed=1)
    plain, shuffled = TiledCSL.from_dense(w), TiledCSL.from_dense(w, shuffle=True)
    assert _bank_conflicts(shuffled) <= 0.15 * _bank_conflicts(plain)
    np.testing.assert_array_equal(shuffled.to_dense(), plain.to_dense())
    assert np.array_equal(np.sort(shuffled.words), np.sort(plain.words))  # a permutation


def test_footprint_at_80_percent_is_below_045_of_dense_fp16():
    t = TiledCSL.from_dense(sparse_weight((1024, 1024), 0.8))
    assert t.nbytes <= 0.45 * 2 * 1024 * 1024


def test_non_canonical_csr_is_canonicalised_before_encoding():
    # duplicates sum, unsorted columns are sorted, explicit zeros are not stored
    a = sp.csr_matrix((np.array([1.0, 2.0, 3.0, 0.0], np.float32), np.array([5, 1, 5, 2]), np.array([0, 4, 4])),
                      shape=(2, 8))
    assert not a.has_canonical_format
    t = TiledCSL.from_csr(a)
    expected = np.zeros((2, 8), np.float16)
    expected[0, 1], expected[0, 5] = 2, 4
    np.testing.assert_array_equal(t.to_dense(), expected)
    assert t.nnz == 2


def test_registered_format_round_trips_through_the_core():
    st_ = SparseTensor.from_dense(sparse_weight((130, 70), 0.7).astype(np.float16))
    t = convert_to_plugin_format(st_, "tiled-csl", tile_m=64)
    assert isinstance(t, TiledCSL) and t.tile_m == 64
    back = convert_from_plugin_format(t, "tiled-csl")
    np.testing.assert_array_equal(back.to_dense(), st_.to_dense())


def test_empty_and_all_zero_matrices():
    for shape in [(0, 0), (0, 7), (7, 0), (200, 100)]:
        t = TiledCSL.from_dense(np.zeros(shape, np.float32))
        assert t.nnz == t.nnz_padded == 0 and t.to_dense().shape == shape


@pytest.mark.parametrize(
    ("value", "match"),
    [(np.nan, "finite weights"), (np.inf, "finite weights"), (7e4, "fp16 range")],
)
def test_weights_fp16_cannot_hold_are_rejected_with_the_argument_named(value, match):
    w = sparse_weight((10, 10), 0.5)
    w[2, 3] = value
    with pytest.raises(ValueError, match=rf"values=.*{match}"):
        TiledCSL.from_dense(w)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tile_k": 96}, r"tile_k=96 .*power of two"),
        ({"tile_k": 32}, r"tile_k=32 .*power of two >= 64"),
        ({"tile_m": 0}, r"tile_m=0"),
        ({"tile_m": 1025, "tile_k": 64}, r"tile_m \* tile_k=65600 .*16-bit"),
        ({"vector": 3}, r"vector=3"),
    ],
)
def test_bad_tiling_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TiledCSL.from_dense(np.ones((4, 4), np.float32), **kwargs)


def test_bad_operands_are_rejected():
    with pytest.raises(ShapeError, match=r"W.shape"):
        TiledCSL.from_dense(np.ones((2, 2, 2), np.float32))
    with pytest.raises(TypeError, match=r"values.dtype"):
        TiledCSL.from_dense(np.ones((2, 2), np.complex64))
    with pytest.raises(TypeError, match=r"A=<list>"):
        TiledCSL.from_csr([[1, 2]])
    with pytest.raises(FormatError, match=r"T=<str>"):
        tiled_csl_to_csr("not a matrix")


def test_constructor_validates_arrays_given_directly(weight):
    t = TiledCSL.from_dense(weight)
    with pytest.raises(FormatError, match=r"tile_offsets\.size"):
        TiledCSL(t.words, t.tile_offsets[:-1], t.shape)
    with pytest.raises(FormatError, match="words"):
        TiledCSL(t.words.astype(np.int64), t.tile_offsets, t.shape)
    bad = t.words.copy()
    bad[0] = np.uint32(0xFFFF0000)
    with pytest.raises(FormatError, match="locations"):
        TiledCSL(bad, t.tile_offsets, t.shape)
    with pytest.raises(ShapeError, match="shape"):
        TiledCSL(t.words, t.tile_offsets, (3,))
    assert not t.words.flags.writeable
