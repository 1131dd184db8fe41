"""Side by side with SAELens (the ``bench`` extra): skipped when sae-lens is not installed."""

import pytest
import torch

from sparsehub.sae import SparseAutoencoder, SyntheticFeatures, Trainer, evaluate
from sparsehub_choice_sae import mutual_choice_codes

sae_lens = pytest.importorskip("sae_lens")


def test_mutual_choice_is_bitwise_saelens_batchtopk_on_the_same_pre_activations():
    from sae_lens.saes.batchtopk_sae import BatchTopK

    pre = torch.randn(128, 200, generator=torch.Generator().manual_seed(0))
    for k in (1, 4, 2.5):
        assert torch.equal(mutual_choice_codes(pre, pre, k), BatchTopK(k)(pre))


def test_our_topk_reconstructs_within_10_percent_of_saelens_topk_on_the_same_stream():
    from sparsehub.sae.saelens import SAELensTrainStep, saelens_topk

    data = SyntheticFeatures(128, 32, mean_l0=4.0, zipf_exponent=1.0, seed=0)
    ours = SparseAutoencoder(32, 128, k=4, seed=0)
    ours_step = Trainer(ours, lr=3e-3, clip_grad_norm=1.0)
    theirs_step = SAELensTrainStep(saelens_topk(32, 128, 4, seed=0), lr=3e-3)
    for x in data.batches(256, 400, seed=1):
        ours_step.step(x)
        theirs_step(x)
    held_out = list(data.batches(256, 4, seed=2))
    ours_nmse = evaluate(ours.eval(), held_out).nmse
    theirs_nmse = evaluate(theirs_step.sae.eval(), held_out).nmse
    assert ours_nmse <= 1.10 * theirs_nmse, (ours_nmse, theirs_nmse)
