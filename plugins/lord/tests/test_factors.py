"""lord_factors and LowRankLinear against dense oracles (numpy SVD / eigh on small matrices)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sparsehub_lord import LowRankLinear, lord_factors  # noqa: E402


def _problem(out_f=12, in_f=8, tokens=64, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((out_f, in_f))
    # inputs with a few dominant channels, as LLM activations have (outlier features)
    x = rng.standard_normal((tokens, in_f)) * np.r_[10.0, 5.0, np.ones(in_f - 2)]
    return torch.from_numpy(w), torch.from_numpy(x)


def test_weight_mode_is_the_truncated_svd():
    w, _ = _problem()
    a, b = lord_factors(w, 3, mode="weight")
    u, s, vh = np.linalg.svd(w.numpy())
    assert np.allclose((a @ b).numpy(), (u[:, :3] * s[:3]) @ vh[:3], atol=1e-10)


def test_activation_mode_projects_on_the_top_eigenvectors_of_the_output_covariance():
    w, x = _problem()
    a, b = lord_factors(w, 4, xtx=x.T @ x, mode="activation")
    y = (x @ w.T).numpy()
    lam, q = np.linalg.eigh(y.T @ y)  # C = Σ y yᵀ formed explicitly, the oracle
    top = q[:, np.argsort(lam)[::-1][:4]]
    assert np.allclose(a.numpy() @ a.numpy().T, top @ top.T, atol=1e-8)  # same projector
    assert np.allclose(b.numpy(), a.numpy().T @ w.numpy(), atol=1e-10)


def test_activation_mode_has_the_smallest_output_error_on_its_calibration_data():
    w, x = _problem()
    errors = {}
    for mode in ("activation", "weight"):
        a, b = lord_factors(w, 3, xtx=x.T @ x, mode=mode)
        errors[mode] = float(torch.linalg.norm(x @ (w - a @ b).T))
    assert errors["activation"] < 0.9 * errors["weight"]


def test_low_rank_linear_computes_a_times_b_plus_bias_and_counts_its_parameters():
    w, _ = _problem()
    a, b = lord_factors(w, 3, mode="weight")
    bias = torch.arange(12, dtype=torch.float64)
    layer = LowRankLinear.from_factors(a, b, bias, dtype=torch.float64)
    x = torch.randn(5, 8, dtype=torch.float64)
    assert torch.allclose(layer(x), x @ (a @ b).T + bias)
    assert torch.allclose(layer.to_dense(), a @ b)
    assert sum(p.numel() for p in layer.parameters()) == 3 * (8 + 12) + 12


def test_activation_mode_without_xtx_is_rejected():
    w, _ = _problem()
    with pytest.raises(ValueError, match="xtx"):
        lord_factors(w, 2, mode="activation")
