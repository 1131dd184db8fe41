"""The numba CHW kernel against the dense oracle: shapes, strips, clamps, NaN, threads and dispatch."""

import numba
import numpy as np
import pytest

from sparsehub import ops
from sparsehub.discovery import Plugins
from sparsehub_fast_sparse_convnets import pack_xnnpack, spmm_chw
from sparsehub_fast_sparse_convnets.kernels import spmm_chw_packed


def _case(cout, cin, hw, density, n=1, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((cout, cin)) * (rng.random((cout, cin)) < density)).astype(dtype)
    return W, rng.standard_normal(cout).astype(dtype), rng.standard_normal((n, cin, hw)).astype(dtype)


def _dense(W, b, x, lo=-np.inf, hi=np.inf):
    out = np.einsum("ck,nkp->ncp", W.astype(np.float64), x.astype(np.float64)) + b[:, None]
    return np.clip(out, lo, hi)


@pytest.mark.parametrize("cout,cin,hw,density,n,mr", [
    (8, 5, 13, 0.4, 1, 4),      # strips that do not divide H*W
    (17, 33, 70, 0.1, 2, 16),   # batch of images, odd channel counts
    (4, 6, 1, 0.5, 3, None),    # a single pixel
    (5, 7, 9, 1.0, 1, 64),      # dense W, strip wider than the image
    (6, 4, 12, 0.0, 1, 8),      # no nonzeros: every output is its bias
])
def test_kernel_matches_dense_conv_with_fused_bias(cout, cin, hw, density, n, mr):
    W, b, x = _case(cout, cin, hw, density, n)
    out = spmm_chw_packed(pack_xnnpack(W, b), x, mr=mr)
    np.testing.assert_allclose(out, _dense(W, b, x), rtol=1e-5, atol=1e-5)


def test_empty_output_channels_give_the_bias_and_float64_runs_in_float64():
    W, b, x = _case(9, 12, 20, 0.3, dtype=np.float64)
    W[[0, 4, 8]] = 0
    out = spmm_chw_packed(pack_xnnpack(W, b), x)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, _dense(W, b, x), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(out[0, 4], np.full(20, b[4]))


@pytest.mark.parametrize("clamp,bounds", [("relu", (0, np.inf)), ("relu6", (0, 6)), ((-0.5, 0.25), (-0.5, 0.25))])
def test_clamp_is_fused_into_the_store(clamp, bounds):
    W, b, x = _case(10, 16, 40, 0.3)
    out = spmm_chw(W, 4 * x[0], b, clamp=clamp)
    np.testing.assert_allclose(out, _dense(W, b, 4 * x, *bounds)[0], rtol=1e-5, atol=1e-5)


def test_nan_and_inf_in_the_input_propagate_as_in_a_dense_convolution():
    W, b, x = _case(6, 5, 8, 1.0)
    x[0, 2, 3] = np.nan
    x[0, 1, 5] = np.inf
    out = spmm_chw(W, x[0], b, clamp="relu6")
    ref = spmm_chw(W, x[0], b, clamp="relu6", backend="reference")
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    assert np.isnan(out[:, 3]).all()  # NaN passes the clamp, as torch's clamp does
    np.testing.assert_allclose(out[~np.isnan(out)], ref[~np.isnan(ref)], rtol=1e-5)


def test_parallel_strips_equal_the_single_thread_result():
    W, b, x = _case(64, 96, 900, 0.1, n=2)
    packed = pack_xnnpack(W, b)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = spmm_chw_packed(packed, x, mr=32)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = spmm_chw_packed(packed, x, mr=32)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(one, two)  # every output sums in the same order


def test_kernel_is_registered_for_the_spmm_op_on_numba_and_cuda():
    kernels = {(k.op, k.backend, k.algorithm) for k in Plugins.discover().kernels()}
    assert {("spmm", "numba", "chw-xnnpack"), ("spmm", "cuda", "chw-xnnpack")} <= kernels


def test_spmm_op_through_the_numba_backend_matches_the_reference():
    pytest.importorskip("sparsehub_numba")  # backend "numba" comes from the optional sparsehub-numba
    W, _, x = _case(20, 30, 50, 0.2)
    for form in (W, W.astype(np.float64)):
        out = ops.spmm(form, x[0], backend="numba", algorithm="chw-xnnpack")
        np.testing.assert_allclose(out, ops.spmm(form, x[0], backend="reference"), rtol=1e-5, atol=1e-5)
    assert ops.spmm(np.zeros((3, 4), np.float32), np.ones((4, 2), np.float32), backend="numba",
                    algorithm="chw-xnnpack").tolist() == [[0, 0]] * 3
