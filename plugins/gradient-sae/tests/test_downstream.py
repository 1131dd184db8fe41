"""Activation/gradient collection at a hook and spliced-in loss, against direct autograd oracles."""

import pytest
import torch
from torch import nn

from sparsehub.sae import SparseAutoencoder
from sparsehub_gradient_sae import GradientTopKSAE, collect_acts_and_grads, spliced_loss


def _model():
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("fc1", nn.Linear(6, 10))
    model.add_module("site", nn.ReLU())
    model.add_module("out", nn.Linear(10, 3))
    return model.requires_grad_(False)


def _batch(n=20):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(n, 6, generator=gen), torch.randint(3, (n,), generator=gen)


CE = nn.functional.cross_entropy


def test_gradient_matches_autograd_through_the_rest_of_the_model():
    model, (inp, tgt) = _model(), _batch()
    x, g = collect_acts_and_grads(model, "site", CE, (inp, tgt))
    act = model.site(model.fc1(inp)).detach().requires_grad_(True)
    (oracle,) = torch.autograd.grad(CE(model.out(act), tgt), act)
    assert torch.allclose(x, act.detach()) and torch.allclose(g, oracle)
    assert not g.requires_grad and all(p.grad is None for p in model.parameters())


def test_gradient_is_taken_on_a_trainable_model_without_touching_its_grads():
    model, batch = _model().requires_grad_(True), _batch()
    collect_acts_and_grads(model, "site", CE, batch)
    assert all(p.grad is None for p in model.parameters())


def test_spliced_loss_of_a_perfect_reconstruction_is_the_clean_loss():
    model, batch = _model(), _batch()

    class Identity:
        d_in = 10

        def encode(self, x):
            return x

        def decode(self, z):
            return z

    out = spliced_loss(model, "site", Identity(), CE, batch)
    assert out.delta == pytest.approx(0.0, abs=1e-6)
    assert out.clean == pytest.approx(float(CE(model(batch[0]), batch[1])), rel=1e-6)


def test_spliced_loss_equals_a_manual_splice():
    model, (inp, tgt) = _model(), _batch()
    sae = GradientTopKSAE(10, 30, 2, beta=1.0, seed=0)
    x, g = collect_acts_and_grads(model, "site", CE, (inp, tgt))
    with torch.no_grad():
        manual = float(CE(model.out(sae(x, g)), tgt))
        plain = float(CE(model.out(sae(x)), tgt))
    assert spliced_loss(model, "site", sae, CE, (inp, tgt)).spliced == pytest.approx(manual, rel=1e-6)
    assert spliced_loss(model, "site", sae, CE, (inp, tgt), use_grad=False).spliced == pytest.approx(plain, rel=1e-6)
    core = SparseAutoencoder(10, 30, k=2, seed=0)
    assert spliced_loss(model, "site", core, CE, (inp, tgt)).spliced == pytest.approx(plain, rel=1e-6)


def test_missing_hook_module_is_a_clear_error():
    with pytest.raises(KeyError, match="site2"):
        collect_acts_and_grads(_model(), "site2", CE, _batch())
    with pytest.raises(KeyError, match="nope"):
        spliced_loss(_model(), "nope", GradientTopKSAE(10, 30, 2), CE, _batch())


def test_mismatched_hidden_size_is_a_clear_error():
    with pytest.raises(ValueError, match="activation at hook"):
        spliced_loss(_model(), "fc1", GradientTopKSAE(6, 30, 2, beta=0.0), CE, _batch())


def test_hook_that_does_not_run_and_bad_batch_are_refused():
    class WithUnused(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.unused = _model(), nn.ReLU()

        def forward(self, x):
            return self.body(x)

    model = WithUnused()
    with pytest.raises(ValueError, match="hook"):
        collect_acts_and_grads(model, "unused", CE, _batch())
    with pytest.raises(TypeError, match="batch"):
        collect_acts_and_grads(model, "body.site", CE, _batch()[0])
