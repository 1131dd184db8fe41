"""magnitude, Wanda and SparseGPT: exact counts, valid patterns, oracles, and no change on bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparsehub.errors import PatternError
from sparsehub.mask import NM, Unstructured, pruned_count
from sparsehub.nn import oneshot
from sparsehub.nn.layout import UnsupportedArchitecture, layout_of

METHODS = ("magnitude", "wanda", "sparsegpt")


def _run(method, model, sparsity, pattern, calibration):
    kw = {} if method == "magnitude" else {"calibration": calibration}
    return getattr(oneshot, method)(model, sparsity, pattern=pattern, **kw)


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("pattern", ["unstructured", "2:4"])
def test_masks_cover_every_block_linear_and_zero_exactly_the_pruned_weights(method, pattern, random_model,
                                                                          random_calibration):
    layout = layout_of(random_model)
    masks = _run(method, random_model, 0.5, pattern, random_calibration)
    params = dict(random_model.named_parameters())
    assert list(masks) == [f"{n}.weight" for n, _ in layout.all_linears()]
    for name, mask in masks.items():
        weight = params[name].detach()
        assert mask.shape == tuple(weight.shape)
        mask.validate()
        keep = torch.from_numpy(mask.array.copy())
        assert torch.all(weight[~keep] == 0)
        assert mask.sparsity == pytest.approx(0.5, abs=0.01)
        if pattern == "2:4":
            assert isinstance(mask.pattern, NM) and (mask.pattern.n, mask.pattern.m) == (2, 4)
            # N:M runs along the input dimension: axis 0 of a GPT-2 Conv1D weight (in, out)
            conv = type(layout.module(name[: -len(".weight")])).__name__ == "Conv1D"
            assert mask.pattern.axis == (0 if conv else -1)
        else:
            assert mask.pattern == Unstructured()


def test_magnitude_prunes_the_exact_layerwise_count_of_smallest_weights(random_model):
    before = {f"{n}.weight": m.weight.detach().clone() for n, m in layout_of(random_model).all_linears()}
    masks = oneshot.magnitude(random_model, 0.3)
    for name, w in before.items():
        keep = masks[name].array  # in the parameter's own shape (Conv1D: (in, out))
        assert (~keep).sum() == pruned_count(w.numel(), 0.3)
        assert w.abs().numpy()[~keep].max() <= w.abs().numpy()[keep].min()


def test_wanda_keep_matches_a_brute_force_per_row_selection():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(6, 10, generator=gen)
    norm = torch.rand(10, generator=gen) * 5
    keep = oneshot.wanda_keep(w, norm, 0.4, Unstructured())
    score = (w.abs() * norm).numpy()
    for i in range(6):
        order = sorted(range(10), key=lambda j: (-score[i, j], j))
        assert set(np.flatnonzero(keep[i].numpy())) == set(order[:6])
    w, norm = w[:, :8], norm[:8]
    score = score[:, :8]
    nm = oneshot.wanda_keep(w, norm, 0.5, NM(2, 4))
    for i in range(6):
        for g in range(0, 8, 4):
            block = score[i, g : g + 4]
            assert set(np.flatnonzero(nm[i, g : g + 4].numpy())) == set(np.argsort(-block, kind="stable")[:2])


def test_wanda_uses_activation_norms_not_only_magnitudes(random_calibration, make_model):
    """With one input channel blown up, Wanda keeps its weights where magnitude would not."""
    model = make_model("llama").eval()
    model.model.layers[0].input_layernorm.weight.data[3] = 50.0
    masks = oneshot.wanda(model, 0.75, calibration=random_calibration)
    q = masks["model.layers.0.self_attn.q_proj.weight"].array
    assert q[:, 3].mean() > 0.9 and q[:, :3].mean() < 0.4  # 25 % of weights are kept on average


def test_sparsegpt_matches_least_squares_when_one_leading_weight_is_pruned():
    """Oracle: pruning only column 0 of a row, OBS gives the exact damped least-squares update."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 4, generator=gen, dtype=torch.float64)
    xtx = x.t() @ x
    w = torch.tensor([[0.001, 1.0, -2.0, 3.0]])
    keep = oneshot.sparsegpt_layer(w, xtx, 0.25, Unstructured(), blocksize=4, percdamp=0.01)
    assert keep.tolist() == [[False, True, True, True]]
    h = xtx + 0.01 * torch.diag(xtx).mean() * torch.eye(4, dtype=torch.float64)
    w0 = torch.tensor([0.001, 1.0, -2.0, 3.0], dtype=torch.float64)
    expected = w0[1:] + torch.linalg.solve(h[1:, 1:], h[1:, 0]) * w0[0]
    torch.testing.assert_close(w[0, 1:].double(), expected, rtol=1e-5, atol=1e-6)
    assert w[0, 0] == 0


def _algorithm1(w, xtx, sparsity, blocksize, percdamp=0.01, nm=None):
    """The paper's Algorithm 1 transcribed literally (float64, no lazy updates): the oracle."""
    w = w.double().clone()
    h = xtx + percdamp * torch.diag(xtx).mean() * torch.eye(xtx.shape[0], dtype=torch.float64)
    u = torch.linalg.cholesky(torch.linalg.inv(h), upper=True)
    pruned = torch.zeros_like(w, dtype=torch.bool)
    for i in range(w.shape[1]):
        if nm is not None and i % nm[1] == 0:
            group = w[:, i : i + nm[1]] ** 2 / torch.diag(u)[i : i + nm[1]] ** 2
            lowest = torch.argsort(group, dim=1, stable=True)[:, : nm[1] - nm[0]]
            pruned[:, i : i + nm[1]].scatter_(1, lowest, True)
        elif nm is None and i % blocksize == 0:
            block = w[:, i : i + blocksize] ** 2 / torch.diag(u)[i : i + blocksize] ** 2
            k = pruned_count(block.numel(), sparsity)
            flat = torch.zeros(block.numel(), dtype=torch.bool)
            flat[torch.argsort(block.reshape(-1), stable=True)[:k]] = True
            pruned[:, i : i + blocksize] = flat.reshape(block.shape)
        err = torch.where(pruned[:, i], w[:, i], 0.0) / u[i, i]
        w[:, i:] -= err[:, None] * u[i, i:][None, :]
    w[pruned] = 0
    return w, ~pruned


def test_sparsegpt_unstructured_equals_the_literal_algorithm():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(300, 40, generator=gen, dtype=torch.float64) @ torch.randn(40, 40, generator=gen,
                                                                               dtype=torch.float64)
    w = torch.randn(7, 40, generator=gen)
    for blocksize in (8, 24, 40):  # one, two and three inner sub-blocks of 16 per block
        pruned = w.clone()
        expected, keep_expected = _algorithm1(w, x.t() @ x, 0.6, blocksize=blocksize)
        keep = oneshot.sparsegpt_layer(pruned, x.t() @ x, 0.6, Unstructured(), blocksize=blocksize)
        assert torch.equal(keep, keep_expected)
        torch.testing.assert_close(pruned.double(), expected, rtol=1e-3, atol=1e-4)


def test_sparsegpt_nm_equals_the_literal_algorithm_for_any_block_size():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(64, 48, generator=gen, dtype=torch.float64)
    w = torch.randn(5, 48, generator=gen)
    expected, keep_expected = _algorithm1(w, x.t() @ x, 0.5, blocksize=48, nm=(2, 4))
    for blocksize in (4, 16, 48):  # lazy updates across blocks and across inner sub-blocks are exact
        pruned = w.clone()
        keep = oneshot.sparsegpt_layer(pruned, x.t() @ x, 0.5, NM(2, 4), blocksize=blocksize)
        assert torch.equal(keep, keep_expected)
        torch.testing.assert_close(pruned.double(), expected, rtol=1e-3, atol=1e-4)


def test_sparsegpt_reconstructs_better_than_zeroing_the_same_weights():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(256, 32, generator=gen) @ torch.randn(32, 32, generator=gen)  # correlated inputs
    w = torch.randn(16, 32, generator=gen)
    pruned = w.clone()
    keep = oneshot.sparsegpt_layer(pruned, (x.t() @ x).double(), 0.5, Unstructured(), blocksize=8)
    assert (~keep).sum() == 16 * 32 // 2 and torch.all(pruned[~keep] == 0)
    err_obs = (x @ (w - pruned).t()).norm()
    err_zero = (x @ (w * ~keep).t() - x @ w.t()).norm()
    assert err_obs < 0.7 * err_zero


@pytest.mark.parametrize("method", METHODS)
def test_sparsity_zero_changes_nothing(method, random_calibration, make_model):
    model = make_model("opt").eval()
    before = _snapshot(model)
    masks = _run(method, model, 0.0, "unstructured", random_calibration)
    assert all(m.sparsity == 0 for m in masks.values())
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=1e-6 if method == "sparsegpt" else 0)


_BAD = [
    (1.0, "unstructured", None, ValueError, r"sparsity=1.0 .*\[0, 1\)"),
    (-0.1, "unstructured", None, ValueError, "sparsity=-0.1"),
    (0.6, "2:4", None, ValueError, r"sparsity=0.6 .*2:4"),
    (0.5, "4x4", None, PatternError, "pattern='4x4'"),
    (0.5, "channel", None, PatternError, "pattern='channel'"),
    (0.5, 7, None, PatternError, "pattern=7"),  # not even parseable: the same clear error
    (0.5, "2:x", None, PatternError, "pattern='2:x'"),
]
_BAD_CALIBRATION = [
    (0.5, "unstructured", [], ValueError, "calibration='an empty iterable'"),
    (0.5, "unstructured", [torch.zeros(2, 4)], ValueError, "dtype=torch.float32"),
]


@pytest.mark.parametrize(
    ("method", "sparsity", "pattern", "calibration", "error", "match"),
    [(m, *case) for m in METHODS for case in _BAD] + [(m, *case) for m in METHODS[1:] for case in _BAD_CALIBRATION],
)
def test_bad_arguments_are_rejected_before_any_weight_changes(method, sparsity, pattern, calibration, error,
                                                               match, random_calibration, make_model):
    model = make_model("llama").eval()
    before = _snapshot(model)
    with pytest.raises(error, match=match):
        _run(method, model, sparsity, pattern, random_calibration if calibration is None else calibration)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("method", METHODS)
def test_nm_that_does_not_divide_a_layer_names_the_module(method, random_calibration, make_model):
    model = make_model("llama").eval()
    before = _snapshot(model)
    with pytest.raises(PatternError, match=r"module 'model.layers.0.self_attn.q_proj'.*32.*m=24"):
        _run(method, model, None, "1:24", random_calibration)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_unknown_architecture_is_rejected_by_name(random_calibration):
    from torch import nn

    with pytest.raises(UnsupportedArchitecture, match="Sequential"):
        oneshot.wanda(nn.Sequential(nn.Linear(4, 4)), 0.5, calibration=random_calibration)


def test_sparsegpt_option_checks(make_model):
    model = make_model("llama").eval()
    calib = [torch.zeros(1, 8, dtype=torch.long)]
    with pytest.raises(ValueError, match="blocksize=6"):
        oneshot.sparsegpt(model, None, calibration=calib, pattern="2:4", blocksize=6)
    with pytest.raises(ValueError, match="percdamp=0"):
        oneshot.sparsegpt(model, 0.5, calibration=calib, percdamp=0)


def test_sequential_sparsegpt_on_the_trained_tiny_lm_keeps_it_usable(fresh_tiny, tiny_pair):
    """Mechanics on a trained model (no claim: the tiny LM has no outlier features, see the brief)."""
    from sparsehub.models import tiny_lm_text
    from sparsehub.nn.text import perplexity, text_windows

    model, tok = tiny_pair
    calib = list(text_windows(tok, tiny_lm_text("train"), 8, 128).split(4))
    held = text_windows(tok, tiny_lm_text("test"), 4, 128)
    dense = perplexity(model, held)
    masks = oneshot.sparsegpt(fresh_tiny, 0.5, calibration=calib)
    pruned = perplexity(fresh_tiny, held)
    assert len(masks) == 14 and all(m.sparsity == pytest.approx(0.5, abs=0.01) for m in masks.values())
    assert pruned < 1.5 * dense  # (on this undertrained model it may even be slightly below dense)
