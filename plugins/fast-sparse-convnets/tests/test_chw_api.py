"""spmm_chw's public boundary: layouts, torch tensors and every bad input named in the issue."""

import numpy as np
import pytest
import torch

from sparsehub.errors import ShapeError
from sparsehub_fast_sparse_convnets import clamp_bounds, pack_xnnpack, spmm_chw


@pytest.fixture
def layer():
    rng = np.random.default_rng(3)
    W = (rng.standard_normal((6, 4)) * (rng.random((6, 4)) < 0.5)).astype(np.float32)
    return W, rng.standard_normal(6).astype(np.float32), rng.standard_normal((2, 4, 3, 5)).astype(np.float32)


def test_chw_layouts_give_one_answer(layer):
    W, b, x = layer
    batch = spmm_chw(W, x, b)
    assert batch.shape == (2, 6, 3, 5)
    np.testing.assert_allclose(spmm_chw(W, x[1], b), batch[1], rtol=1e-6)
    np.testing.assert_allclose(spmm_chw(W, x[1].reshape(4, 15), b), batch[1].reshape(6, 15), rtol=1e-6)
    np.testing.assert_allclose(spmm_chw(pack_xnnpack(W, b), x), batch, rtol=1e-6)


def test_torch_inputs_and_channels_last_memory_are_handled(layer):
    W, b, x = layer
    t = torch.from_numpy(x)
    out = spmm_chw(W, t, b)
    assert isinstance(out, torch.Tensor)
    nhwc = t.contiguous(memory_format=torch.channels_last)  # NHWC in memory, same logical tensor
    torch.testing.assert_close(spmm_chw(W, nhwc, b), out)


def test_bad_inputs_raise_naming_the_argument(layer):
    W, b, x = layer
    with pytest.raises(ValueError, match="clamp"):
        spmm_chw(W, x, b, clamp=(1.0, 0.0))  # lo > hi
    with pytest.raises(ValueError, match="clamp"):
        clamp_bounds((np.nan, 1.0))
    with pytest.raises(ValueError, match="clamp"):
        clamp_bounds("gelu")
    with pytest.raises(TypeError, match=r"X.dtype"):
        spmm_chw(W, x.astype(np.float64), b)  # mixed dtypes are not silently cast
    with pytest.raises(ShapeError, match="NHWC"):
        spmm_chw(W, np.moveaxis(x, 1, -1), b)  # an NHWC array
    with pytest.raises(ShapeError, match=r"X.shape"):
        spmm_chw(W, x[None], b)
    with pytest.raises(ValueError, match="bias"):
        spmm_chw(pack_xnnpack(W, b), x, b)
    with pytest.raises(ValueError, match="backend"):
        spmm_chw(W, x, b, backend="triton")
    with pytest.raises(ValueError, match="mr"):
        spmm_chw(W, x, b, mr=0)
    with pytest.raises(ValueError, match="requires_grad"):
        spmm_chw(W, torch.from_numpy(x).requires_grad_(), b)


def test_empty_inputs_give_empty_outputs(layer):
    W, b, _ = layer
    assert spmm_chw(W, np.zeros((0, 4, 3, 3), np.float32), b).shape == (0, 6, 3, 3)
    assert spmm_chw(W, np.zeros((4, 0), np.float32), b).shape == (6, 0)
    assert spmm_chw(np.zeros((0, 4), np.float32), np.ones((4, 7), np.float32)).shape == (0, 7)
