"""pack_xnnpack: XNNPACK's value / nnz / delta streams, exact round trip and input checks."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from sparsehub import SparseTensor
from sparsehub.errors import ShapeError
from sparsehub_fast_sparse_convnets import pack_xnnpack


def _sparse(shape, density, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * (rng.random(shape) < density)).astype(dtype)


def test_streams_follow_the_xnnpack_layout_on_a_hand_checked_matrix():
    W = np.array([[0, 2, 0, 3], [0, 0, 0, 0], [5, 0, 0, 7]], dtype=np.float32)
    p = pack_xnnpack(W, bias=[10, 20, 30])
    assert p.values.tolist() == [10, 2, 3, 20, 30, 5, 7]  # [b_c, w_c1 .. w_cn] per channel
    assert p.nnz_map.tolist() == [2, 0, 2]
    # channels of the nonzeros: 1, 3, 0, 3 -> next minus own; the last wraps to the first (1)
    assert p.channel_deltas.tolist() == [2, -3, 3, -2]
    assert p.first_channel == 1


@pytest.mark.parametrize("shape,density", [((7, 5), 0.3), ((16, 33), 0.1), ((4, 4), 0.0), ((1, 9), 1.0), ((0, 3), 0.5)])
def test_round_trip_to_dense_is_exact_and_deltas_sum_to_zero(shape, density):
    W = _sparse(shape, density)
    b = np.arange(shape[0], dtype=np.float32)
    p = pack_xnnpack(W, b)
    np.testing.assert_array_equal(p.to_dense(), W)
    np.testing.assert_array_equal(p.bias, b)
    assert p.nnz == np.count_nonzero(W) and int(p.channel_deltas.sum()) == 0
    assert p.values.size == p.nnz + shape[0] and not p.values.flags.writeable


def test_every_input_format_packs_the_same_streams():
    W = _sparse((6, 8), 0.4, seed=1)
    expected = pack_xnnpack(W)
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        torch_csr = torch.from_numpy(W).to_sparse_csr()
    for form in (SparseTensor.from_dense(W, format="coo"), sp.csr_matrix(W), torch.from_numpy(W), torch_csr,
                 W[:, :, None, None]):
        got = pack_xnnpack(form)
        for name in ("values", "nnz_map", "channel_deltas"):
            np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=type(form).__name__)


def test_non_canonical_csr_is_canonicalised_with_duplicates_summed():
    # row 0 holds column 2 twice (1 + 2) and its columns out of order; row 1 one entry
    A = sp.csr_matrix((np.array([1.0, 4.0, 2.0, 5.0], np.float32), np.array([2, 0, 2, 1]), np.array([0, 3, 4])),
                      shape=(2, 3))
    assert not A.has_canonical_format
    p = pack_xnnpack(A)
    np.testing.assert_array_equal(p.to_dense(), np.array([[4, 0, 3], [0, 5, 0]], np.float32))
    assert p.input_channels().tolist() == [0, 2, 1]


def test_bad_weights_and_bias_are_rejected_by_name():
    W = _sparse((4, 3), 0.5)
    with pytest.raises(TypeError, match=r"W.dtype"):
        pack_xnnpack(W.astype(np.float16))
    with pytest.raises(TypeError, match=r"W.dtype"):
        pack_xnnpack(W.astype(np.int32))
    bad = W.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite weights"):
        pack_xnnpack(bad)
    with pytest.raises(ShapeError, match=r"W.shape"):
        pack_xnnpack(np.zeros((2, 3, 3, 3), np.float32))
    with pytest.raises(ShapeError, match=r"bias.shape"):
        pack_xnnpack(W, bias=np.zeros(3))
    with pytest.raises(ValueError, match="bias"):
        pack_xnnpack(W, bias=[0, np.inf, 0, 0])
