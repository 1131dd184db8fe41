"""SparseConv1x1CHW and convert(): equal to the torch layers they replace, with clear refusals."""

import numpy as np
import pytest
import torch
from torch import nn

from sparsehub.errors import ShapeError
from sparsehub_fast_sparse_convnets import SparseConv1x1CHW, convert, prefers_sparse, tiny_mobilenet


def _bn(c, seed=0):
    g = torch.Generator().manual_seed(seed)
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5, generator=g)
        bn.bias.normal_(generator=g)
        bn.running_mean.normal_(generator=g)
        bn.running_var.uniform_(0.5, 2.0, generator=g)
    return bn.eval()


def _pruned_conv(cin, cout, sparsity=0.9, seed=0, bias=True):
    torch.manual_seed(seed)
    conv = nn.Conv2d(cin, cout, 1, bias=bias)
    with torch.no_grad():
        conv.weight.mul_(torch.rand(conv.weight.shape) >= sparsity)
    return conv


def test_from_conv_with_batchnorm_and_relu6_equals_the_torch_sequence():
    conv, bn = _pruned_conv(24, 40), _bn(40)
    x = torch.randn(2, 24, 9, 9) * 3
    ref = nn.Sequential(conv, bn, nn.ReLU6()).eval()(x)
    sparse = SparseConv1x1CHW.from_conv(conv, bn=bn, activation=nn.ReLU6(), fallback="never")
    dense_path = SparseConv1x1CHW.from_conv(conv, bn=bn, activation="relu6", fallback="always")
    with torch.no_grad():
        torch.testing.assert_close(sparse(x), ref.detach(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(dense_path(x), ref.detach(), rtol=1e-5, atol=1e-5)


def test_from_conv_prunes_by_magnitude_or_by_mask_exactly():
    conv = _pruned_conv(10, 20, sparsity=0.0, bias=False)
    m = SparseConv1x1CHW.from_conv(conv, sparsity=0.75)
    assert m.packed.nnz == 50  # exactly 25% of 200 kept
    kept = np.abs(m.packed.to_dense()) > 0
    w = conv.weight.detach()[:, :, 0, 0].abs().numpy()
    assert w[kept].min() >= w[~kept].max()
    mask = np.zeros((20, 10), dtype=bool)
    mask[:, 0] = True
    assert SparseConv1x1CHW.from_conv(conv, mask=mask).packed.nnz == 20


def test_fallback_rule_follows_spatial_size_and_sparsity():
    assert prefers_sparse(0.9, 16) and not prefers_sparse(0.85, 16) and not prefers_sparse(0.99, 4)
    assert prefers_sparse(0.8, 49) and not prefers_sparse(0.75, 49)
    assert prefers_sparse(0.7, 196) and not prefers_sparse(0.6, 3136)
    m = SparseConv1x1CHW.from_conv(_pruned_conv(8, 8, sparsity=0.0), sparsity=0.75)
    assert m.uses_sparse(14 * 14) and not m.uses_sparse(7 * 7) and not m.uses_sparse(2 * 2)


def test_convert_runs_the_pruned_pointwise_layers_sparse_and_keeps_the_outputs():
    model = tiny_mobilenet(1.0, seed=1).eval()
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1):
            with torch.no_grad():
                m.weight.mul_(torch.rand(m.weight.shape) >= 0.9)
    x = torch.randn(3, 1, 16, 16)
    converted, report = convert(model, fallback="never")
    assert sum(v.startswith("sparse") for v in report.values()) == 4
    assert all(v.startswith("dense: kernel_size=(3, 3)") for k, v in report.items() if not v.startswith("sparse"))
    assert isinstance(model[6], nn.Conv2d)  # the original is untouched (inplace=False)
    with torch.no_grad():
        torch.testing.assert_close(converted(x), model(x), rtol=1e-4, atol=1e-5)


def test_convert_leaves_too_dense_layers_dense_and_refuses_named_ineligible_ones():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), _pruned_conv(8, 8, sparsity=0.2), nn.Conv2d(8, 8, 1, stride=2),
                          nn.Conv2d(8, 8, 1, groups=2))
    _, report = convert(model)
    assert report["1"].startswith("dense: sparsity") and "stride" in report["2"] and "groups" in report["3"]
    for name, reason in [("0", "kernel_size"), ("2", "stride"), ("3", "groups"), ("9", "named_modules")]:
        with pytest.raises(ValueError, match=reason):
            convert(model, names=[name], inplace=True)
    assert isinstance(model[1], nn.Conv2d)  # nothing changed by the failed calls
    converted, report = convert(model, names=["1"])
    assert isinstance(converted[1], SparseConv1x1CHW) and report["1"].startswith("sparse")


def test_forward_rejects_training_inputs_and_wrong_shapes():
    m = SparseConv1x1CHW.from_conv(_pruned_conv(8, 4))
    with pytest.raises(ValueError, match="no backward"):
        m(torch.randn(1, 8, 5, 5, requires_grad=True))
    with pytest.raises(ShapeError, match="Cin=8"):
        m(torch.randn(1, 5, 8, 8))
    with pytest.raises(TypeError, match=r"x.dtype"):
        SparseConv1x1CHW.from_conv(_pruned_conv(8, 4), fallback="always")(torch.randn(1, 8, 2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="conv"):
        SparseConv1x1CHW.from_conv(nn.Conv2d(8, 4, 3))
    with pytest.raises(ValueError, match="fallback"):
        SparseConv1x1CHW(np.eye(3, dtype=np.float32), fallback="sometimes")
