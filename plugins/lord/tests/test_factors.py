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


@pytest.mark.parametrize(("out_f", "in_f", "tokens"), [(12, 8, 64), (8, 12, 64), (10, 10, 64), (12, 8, 6)])
def test_activation_mode_projects_on_the_top_eigenvectors_of_the_output_covariance(out_f, in_f, tokens):
    # wide (root of Σ), narrow and square (C = W Σ Wᵀ), and a singular Σ (fewer tokens than inputs)
    w, x = _problem(out_f, in_f, tokens)
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


def test_output_gram_gives_the_same_factors_as_the_input_gram():
    w, x = _problem(8, 12)
    y = x @ w.T
    a1, b1 = lord_factors(w, 4, xtx=x.T @ x)
    a2, b2 = lord_factors(w, 4, output_gram=y.T @ y)
    assert np.allclose((a1 @ b1).numpy(), (a2 @ b2).numpy(), atol=1e-9)


def test_a_shared_root_of_sigma_gives_the_same_factors():
    from sparsehub_lord import input_root

    w, x = _problem(12, 8)
    xtx = x.T @ x
    root = input_root(xtx)
    assert torch.allclose(root @ root.T, xtx)
    a1, b1 = lord_factors(w, 3, xtx=xtx)
    a2, b2 = lord_factors(w, 3, xtx=xtx, root=root)
    assert torch.allclose(a1 @ b1, a2 @ b2, atol=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rank": 0}, "rank"),
        ({"rank": 9}, "rank"),
        ({"rank": 2, "mode": "svd"}, "mode"),
        ({"rank": 2, "xtx": torch.eye(12, dtype=torch.float64)}, "xtx.shape"),
        ({"rank": 2, "output_gram": torch.eye(8, dtype=torch.float64)}, "output_gram.shape"),
        ({"rank": 2, "xtx": torch.eye(8), "output_gram": torch.eye(12)}, "exactly one"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    w, _ = _problem()
    with pytest.raises(ValueError, match=match):
        lord_factors(w, **kwargs)
