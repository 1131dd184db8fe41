"""The SAE module: SAELens shapes, the decoder-norm constraint, bad input, lossless save/load."""

import pytest
import torch

from sparsehub.errors import ShapeError
from sparsehub.sae import JumpReLU, SparseAutoencoder, Trainer


def test_parameters_have_saelens_names_and_shapes():
    sae = SparseAutoencoder(8, 32, k=4)
    shapes = {n: tuple(p.shape) for n, p in sae.named_parameters()}
    assert shapes == {"W_enc": (8, 32), "W_dec": (32, 8), "b_enc": (32,), "b_dec": (8,)}
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(32))
    assert torch.equal(sae.W_enc, sae.W_dec.T)  # SAELens initialisation: W_enc = W_dec^T


def test_tied_sae_has_one_matrix():
    sae = SparseAutoencoder(8, 32, k=4, tied=True)
    assert {n for n, _ in sae.named_parameters()} == {"W_enc", "b_enc", "b_dec"}
    assert sae.W_dec.shape == (32, 8) and sae.W_dec.data_ptr() == sae.W_enc.data_ptr()


def test_forward_matches_the_hand_computed_formula():
    sae = SparseAutoencoder(3, 4, k=2, seed=1)
    with torch.no_grad():
        sae.b_dec.copy_(torch.tensor([0.1, -0.2, 0.3]))
        sae.b_enc.copy_(torch.tensor([0.0, 0.5, -0.5, 0.1]))
    x = torch.tensor([[1.0, 2.0, -1.0]])
    pre = (x - sae.b_dec) @ sae.W_enc + sae.b_enc
    top = torch.topk(pre, 2).indices[0]
    z = torch.zeros_like(pre)
    z[0, top] = pre[0, top].relu()
    assert torch.allclose(sae.encode(x), z)
    assert torch.allclose(sae(x), z @ sae.W_dec + sae.b_dec)


@pytest.mark.parametrize("tied", [False, True])
def test_decoder_rows_stay_unit_norm_and_the_gradient_is_projected(tied):
    sae = SparseAutoencoder(6, 12, k=3, tied=tied, seed=3)
    x = torch.randn(32, 6, generator=torch.Generator().manual_seed(0))
    loss, _, _ = sae.training_loss(x)
    loss.backward()
    sae.project_decoder_grad_()
    param = sae.W_enc if tied else sae.W_dec
    grad_rows = param.grad.T if tied else param.grad
    assert torch.allclose((grad_rows * sae.W_dec).sum(-1), torch.zeros(12), atol=1e-6)
    trainer = Trainer(sae, lr=0.1)
    for _ in range(3):
        trainer.step(x)
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(12), atol=1e-6)


def test_bad_inputs_raise_clear_errors_before_any_change():
    sae = SparseAutoencoder(4, 8, k=2)
    before = {n: p.clone() for n, p in sae.state_dict().items()}
    with pytest.raises(ShapeError, match=r"x.shape=\(2, 5\).*\[\.\.\., 4\]"):
        sae.encode(torch.zeros(2, 5))
    bad = torch.zeros(2, 4)
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        Trainer(sae, lr=0.1).step(bad)
    assert all(torch.equal(before[n], p) for n, p in sae.state_dict().items())
    with pytest.raises(TypeError, match="dtype"):
        sae.encode(torch.zeros(2, 4, dtype=torch.long))


@pytest.mark.parametrize("kwargs, name", [
    ({"d_in": 4, "d_sae": 8, "k": 9}, "k=9"),
    ({"d_in": 0, "d_sae": 8, "k": 1}, "d_in=0"),
    ({"d_in": 4, "d_sae": 8, "k": 1, "decoder_norm": "l1"}, "decoder_norm"),
    ({"d_in": 4, "d_sae": 8, "k": 1, "aux_coef": -1.0}, "aux_coef"),
    ({"d_in": 4, "d_sae": 8, "k": 1, "k_aux": 9}, "k_aux"),
])
def test_bad_configurations_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SparseAutoencoder(**kwargs)


def test_save_load_round_trip_loses_nothing(tmp_path):
    sae = SparseAutoencoder(5, 10, selection=JumpReLU(0.0, d_sae=10), tied=False, aux_coef=0.5, k_aux=3, seed=7)
    with torch.no_grad():
        sae.selection.threshold.copy_(torch.linspace(0, 1, 10))
        sae.b_enc.add_(0.25)
    sae.save(tmp_path / "sae.pt")
    back = SparseAutoencoder.load(tmp_path / "sae.pt")
    assert back.config() == sae.config()
    for (n, a), (m, b) in zip(sae.state_dict().items(), back.state_dict().items()):
        assert n == m and torch.equal(a, b)
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(back(x), sae(x))


def test_load_refuses_a_foreign_file(tmp_path):
    torch.save({"hello": 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="path"):
        SparseAutoencoder.load(tmp_path / "x.pt")
