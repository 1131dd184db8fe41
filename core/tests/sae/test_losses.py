"""aux_k and its weighted generalisation against hand-computed cases."""

import pytest
import torch

from sparsehub.sae import aux_k_loss, reconstruction_loss, weighted_aux_loss


def test_reconstruction_loss_sums_features_and_averages_tokens():
    x = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    recon = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    assert float(reconstruction_loss(x, recon)) == pytest.approx((5 + 2) / 2)


def test_aux_k_uses_the_top_dead_latents_without_bias():
    pre = torch.tensor([[3.0, 1.0, 2.0, -1.0]])
    W_dec = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    residual = torch.tensor([[1.0, 1.0]])
    dead = torch.tensor([False, True, True, True])
    # k_aux = 1: top dead latent by pre is latent 2 (pre 2.0) -> recon 2*(1,1) = (2,2); error (1,1) -> 2.
    # scale = min(3 / 1, 1) = 1
    assert float(aux_k_loss(pre, residual, W_dec, dead, 1)) == pytest.approx(2.0)
    # k_aux = 4: all 3 dead latents, negative pre ReLU'd to 0 -> code (0, 1, 2, 0) -> (2, 3); error (1, 2) -> 5;
    # scale = 3 / 4
    assert float(aux_k_loss(pre, residual, W_dec, dead, 4)) == pytest.approx(0.75 * 5.0)


def test_aux_k_is_zero_without_dead_latents():
    pre = torch.randn(4, 6)
    assert float(aux_k_loss(pre, torch.randn(4, 3), torch.randn(6, 3), torch.zeros(6, dtype=torch.bool), 2)) == 0


def test_weighted_aux_loss_with_binary_weights_is_aux_k():
    gen = torch.Generator().manual_seed(0)
    pre, res, W = torch.randn(16, 12, generator=gen), torch.randn(16, 5, generator=gen), torch.randn(12, 5, generator=gen)
    dead = torch.rand(12, generator=gen) < 0.5
    assert torch.equal(aux_k_loss(pre, res, W, dead, 3), weighted_aux_loss(pre, res, W, dead.float(), 3))


def test_weighted_aux_loss_rejects_bad_weights():
    with pytest.raises(ValueError, match="weights"):
        weighted_aux_loss(torch.randn(2, 3), torch.randn(2, 2), torch.randn(3, 2), torch.tensor([0.0, 2.0, 0.5]), 1)
    with pytest.raises(ValueError, match=r"weights\.shape"):
        weighted_aux_loss(torch.randn(2, 3), torch.randn(2, 2), torch.randn(3, 2), torch.ones(4), 1)
