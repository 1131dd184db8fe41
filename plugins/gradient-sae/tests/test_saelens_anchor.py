"""Side by side with SAELens (the ``bench`` extra): skipped when sae-lens is not installed."""

import pytest
import torch

from sparsehub_gradient_sae import GradientTopKSAE

sae_lens = pytest.importorskip("sae_lens")


def test_beta_zero_encodes_like_saelens_topk_with_the_same_weights():
    from sparsehub.sae.saelens import saelens_topk

    theirs = saelens_topk(16, 64, 4, seed=0)
    ours = GradientTopKSAE(16, 64, 4, beta=0.0, seed=0)
    with torch.no_grad():
        rows = torch.randn(64, 16, generator=torch.Generator().manual_seed(1))
        rows /= rows.norm(dim=-1, keepdim=True)  # unit rows: SAELens's decoder-norm rescaling is a no-op
        for sae in (ours, theirs):
            sae.W_dec.copy_(rows)
            sae.W_enc.copy_(rows.T)
            sae.b_enc.copy_(0.1 * torch.randn(64, generator=torch.Generator().manual_seed(2)))
            sae.b_dec.copy_(0.1 * torch.randn(16, generator=torch.Generator().manual_seed(3)))
        x, g = torch.randn(2, 32, 16, generator=torch.Generator().manual_seed(4))
        assert torch.allclose(ours.encode(x, g), theirs.encode(x), atol=1e-6)


def test_saelens_step_driver_trains():
    from sparsehub.sae.saelens import SAELensTrainStep, saelens_topk

    step = SAELensTrainStep(saelens_topk(16, 64, 4, seed=0), lr=1e-2)
    x = torch.randn(128, 16, generator=torch.Generator().manual_seed(0))
    first = float(step(x).loss.detach())
    for _ in range(30):
        last = float(step(x).loss.detach())
    assert last < first
