"""GradientTopKSAE: the selection rule against a brute-force oracle, β = 0 equals TopK, bad inputs."""

import pytest
import torch

from sparsehub.errors import ShapeError
from sparsehub.sae import SparseAutoencoder, Trainer, topk_codes
from sparsehub_gradient_sae import GradientTopKSAE, gradient_scores


def _data(n=32, d=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)


def test_beta_zero_is_topk_bitwise_with_or_without_grad():
    x, g = _data()
    ours = GradientTopKSAE(12, 48, 5, beta=0.0, seed=3)
    ref = SparseAutoencoder(12, 48, k=5, seed=3)
    assert torch.equal(ours.encode(x, g), ref.encode(x))
    assert torch.equal(ours.encode(x), ref.encode(x))


def test_beta_zero_trains_exactly_like_topk():
    x, g = _data(64)
    ours, ref = GradientTopKSAE(12, 48, 4, beta=0.0, seed=1), SparseAutoencoder(12, 48, k=4, seed=1)
    t_ours, t_ref = Trainer(ours, lr=1e-2), Trainer(ref, lr=1e-2)
    for i in range(5):
        t_ours.step((x[i::5], g[i::5]))
        t_ref.step(x[i::5])
    for name, p in ref.named_parameters():
        assert torch.equal(p, dict(ours.named_parameters())[name]), name


def test_selection_matches_brute_force_scores_and_outputs_original_activations():
    x, g = _data()
    sae = GradientTopKSAE(12, 40, 3, beta=2.0, grad_norm="none", seed=0)
    codes = sae.encode(x, g)
    pre, w_dec = sae.hidden_pre(x).detach(), sae.W_dec.detach()
    for row in range(x.shape[0]):
        z = pre[row].relu()
        s = [float(z[i] + 2.0 * z[i] * abs(float(g[row] @ w_dec[i]))) for i in range(40)]
        top = sorted(range(40), key=lambda i: -s[i])[:3]
        expect = torch.zeros(40)
        expect[top] = z[top]
        assert torch.allclose(codes[row], expect), row
    assert int((codes != 0).sum(-1).max()) <= 3


def test_gradient_changes_which_latents_fire_not_their_values():
    x, g = _data()
    sae = GradientTopKSAE(12, 40, 3, beta=5.0, seed=0)
    codes, plain = sae.encode(x, g), sae.encode(x)
    assert not torch.equal(codes, plain)
    pre = sae.hidden_pre(x).detach().relu()
    nz = codes != 0
    assert torch.equal(codes[nz], pre[nz])


def test_rms_normalisation_makes_the_selection_independent_of_the_gradient_scale():
    x, g = _data()
    sae = GradientTopKSAE(12, 40, 3, beta=1.0, grad_norm="rms", seed=0)
    assert torch.equal(sae.encode(x, g), sae.encode(x, 1000.0 * g))
    raw = GradientTopKSAE(12, 40, 3, beta=1.0, grad_norm="none", seed=0)
    assert not torch.equal(raw.encode(x, 1e-6 * g), raw.encode(x, 1e3 * g))


def test_zero_gradient_gives_topk():
    x, _ = _data()
    sae = GradientTopKSAE(12, 40, 3, beta=1.0, seed=0)
    assert torch.equal(sae.encode(x, torch.zeros_like(x)), topk_codes(sae.hidden_pre(x), 3))


def test_scores_carry_no_graph():
    x, g = _data()
    sae = GradientTopKSAE(12, 40, 3, seed=0)
    assert not gradient_scores(sae.hidden_pre(x), sae.W_dec, g, 1.0).requires_grad


def test_training_decreases_the_loss_and_keeps_unit_decoder_rows():
    x, g = _data(256)
    sae = GradientTopKSAE(12, 48, 4, beta=1.0, seed=0)
    trainer = Trainer(sae, lr=1e-2)
    first = float(trainer.step((x, g))[0].detach())
    for _ in range(50):
        last = float(trainer.step((x, g))[0].detach())
    assert last < first
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(48), atol=1e-5)


def test_save_load_round_trip(tmp_path):
    x, g = _data()
    sae = GradientTopKSAE(12, 40, 3, beta=0.5, grad_norm="none", seed=2)
    sae.save(tmp_path / "g.pt")
    back = GradientTopKSAE.load(tmp_path / "g.pt")
    assert (back.k, back.beta, back.grad_norm) == (3, 0.5, "none")
    assert torch.equal(back.encode(x, g), sae.encode(x, g))


@pytest.mark.parametrize("kwargs, match", [
    ({"k": 41}, "k"), ({"k": 0}, "k"), ({"beta": -1.0}, "beta"), ({"beta": float("nan")}, "beta"),
    ({"grad_norm": "l2"}, "grad_norm"),
])
def test_bad_constructor_arguments_are_refused(kwargs, match):
    args = {"k": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        GradientTopKSAE(12, 40, args.pop("k"), **args)


def test_bad_inputs_are_refused_before_any_change():
    x, g = _data()
    sae = GradientTopKSAE(12, 40, 3, seed=0)
    trainer = Trainer(sae, lr=1e-2)
    before = {k: v.clone() for k, v in sae.state_dict().items()}
    with pytest.raises(ShapeError, match=r"grad\.shape"):
        trainer.step((x, g[:, :5]))
    with pytest.raises(ShapeError, match=r"x\.shape"):
        sae.encode(x[:, :5])
    nan_grad = g.clone()
    nan_grad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="grad"):
        trainer.step((x, nan_grad))
    nan_x = x.clone()
    nan_x[1, 1] = float("inf")
    with pytest.raises(ValueError, match="x"):
        trainer.step((nan_x, g))
    with pytest.raises(ValueError, match="grad"):
        trainer.step(x)  # beta > 0 needs the gradient in training
    with pytest.raises(ValueError, match="batch"):
        trainer.step((x, g, g))
    for k, v in sae.state_dict().items():
        assert torch.equal(v, before[k]), k
