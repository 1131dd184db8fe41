"""Activation collection with hooks and the streaming trainer."""

import pytest
import torch
from torch import nn

from sparsehub.sae import SparseAutoencoder, SyntheticFeatures, capture, collect_activations, train_sae


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))


def test_collected_activations_equal_the_submodule_output_batch_by_batch():
    model = _model()
    batches = [torch.randn(3, 5, 4) for _ in range(4)]
    got = list(collect_activations(model, "1", batches))
    assert len(got) == 4
    for x, act in zip(batches, got):
        assert act.shape == (15, 6) and torch.equal(act, model[1](model[0](x)).reshape(15, 6))


def test_stop_early_skips_the_rest_of_the_model():
    model = _model()
    calls = []
    model[2].register_forward_hook(lambda *a: calls.append(1))
    list(collect_activations(model, "0", [torch.randn(2, 4)], stop_early=True))
    assert calls == []
    list(collect_activations(model, "0", [torch.randn(2, 4)], stop_early=False))
    assert calls == [1]


def test_a_missing_module_name_is_a_clear_error_with_close_names():
    with pytest.raises(KeyError, match=r"module='3'.*'0', '1', '2'"):
        collect_activations(_model(), "3", [torch.randn(2, 4)])


def test_capture_keeps_the_graph_for_gradients():
    model = _model()
    with capture(model, "1") as store:
        out = model(torch.randn(2, 4)).sum()
    grad = torch.autograd.grad(out, store["act"])[0]
    assert grad.shape == (2, 6)
    assert not model[1]._forward_hooks  # the hook is removed


def test_training_reduces_the_loss_and_is_deterministic():
    data = SyntheticFeatures(32, 16, mean_l0=3.0, seed=0)
    runs = []
    for _ in range(2):
        sae = SparseAutoencoder(16, 32, k=3, seed=0)
        runs.append(train_sae(sae, data.batches(64, 150, seed=1), lr=3e-3, dead_window=50))
    first, second = runs
    assert first.steps == 150 and first.tokens == 150 * 64
    assert sum(first.history["mse"][-10:]) < 0.75 * sum(first.history["mse"][:10])
    assert first.history["mse"] == second.history["mse"]
    assert all(v == 3.0 or v < 3.0 for v in first.history["l0"])


def test_trainer_rejects_bad_arguments():
    sae = SparseAutoencoder(4, 8, k=2)
    with pytest.raises(ValueError, match="lr"):
        train_sae(sae, [torch.zeros(2, 4)], lr=0.0)
    with pytest.raises(ValueError, match="steps"):
        train_sae(sae, [torch.zeros(2, 4)], steps=0)
    with pytest.raises(ValueError, match=r"x\.shape"):
        train_sae(sae, [torch.zeros(2, 5)])
