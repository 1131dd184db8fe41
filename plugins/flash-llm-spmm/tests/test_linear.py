"""FlashLLMLinear: a pruned nn.Linear served from Tiled-CSL, equal to F.linear on the fp16 weights."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sparsehub import Mask  # noqa: E402
from sparsehub.errors import ShapeError  # noqa: E402
from sparsehub_flash_llm_spmm import FlashLLMLinear  # noqa: E402


@pytest.fixture
def linear():
    torch.manual_seed(0)
    return torch.nn.Linear(200, 130)


@pytest.mark.parametrize("batch", [(1,), (7,), (2, 3)])
def test_from_linear_matches_f_linear_on_the_masked_fp16_weight(linear, batch):
    mask = torch.rand(130, 200, generator=torch.Generator().manual_seed(1)) > 0.8
    layer = FlashLLMLinear.from_linear(linear, mask)
    x = torch.randn(*batch, 200)
    with torch.no_grad():
        ref = torch.nn.functional.linear(x.double(), (linear.weight * mask).half().double(), linear.bias.double())
        y = layer(x)
    assert y.shape == (*batch, 130) and y.dtype == torch.float32
    torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)


def test_sparsehub_mask_no_bias_and_float64_input(linear):
    w = linear.weight.detach().numpy()
    mask = Mask.from_scores(np.abs(w), sparsity=0.9)
    plain = torch.nn.Linear(200, 130, bias=False)
    with torch.no_grad():
        plain.weight.copy_(linear.weight)
    layer = FlashLLMLinear.from_linear(plain, mask, shuffle=True)
    assert layer.bias is None and layer.weight.nnz == mask.nnz
    x = torch.randn(4, 200, dtype=torch.float64)
    with torch.no_grad():
        y = layer(x)
    assert y.dtype == torch.float64
    ref = x @ torch.from_numpy(np.where(mask.array, w, 0).astype(np.float16).astype(np.float64)).T
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)


def test_bad_input_is_rejected(linear):
    with pytest.raises(ShapeError, match=r"mask.shape=\(3, 3\)"):
        FlashLLMLinear.from_linear(linear, np.ones((3, 3), bool))
    with pytest.raises(TypeError, match=r"linear=<Conv1d>"):
        FlashLLMLinear.from_linear(torch.nn.Conv1d(2, 2, 1))
    layer = FlashLLMLinear.from_linear(linear)
    with pytest.raises(ShapeError, match=r"x.shape=\(2, 5\)"):
        layer(torch.ones(2, 5))
    with pytest.raises(ValueError, match="inference-only"):
        layer(torch.ones(2, 200, requires_grad=True))
    with pytest.raises(ValueError, match=r"backend='tpu'"):
        FlashLLMLinear.from_linear(linear, backend="tpu")
