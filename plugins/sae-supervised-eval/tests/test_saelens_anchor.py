"""A SAELens SAE goes through the same evaluation functions (skipped without sae-lens)."""

import numpy as np
import pytest
import torch

from sparsehub.sae import SparseAutoencoder, train_sae
from sparsehub_sae_supervised_eval import (
    detect_occlusion,
    detect_oversplitting,
    encode,
    evaluate_approximation,
    evaluate_control,
    evaluate_interpretability,
    reconstruction,
)

pytest.importorskip("sae_lens")


@pytest.fixture(scope="module")
def pair(task):
    """Our trained TopK SAE and a SAELens TopK SAE holding the same weights (unit decoder rows)."""
    from sparsehub.sae.saelens import saelens_topk

    labels = task.prompts(2, 31)
    H = task.activations(labels, task.noise(len(labels["IO"]), 32))
    ours = SparseAutoencoder(64, 64, k=3, seed=0)
    gen = torch.Generator().manual_seed(0)
    train_sae(ours, (H[torch.randint(len(H), (256,), generator=gen)] for _ in range(150)), lr=3e-3)
    theirs = saelens_topk(64, 64, 3, seed=0)
    with torch.no_grad():
        for name in ("W_enc", "W_dec", "b_enc", "b_dec"):
            getattr(theirs, name).copy_(getattr(ours, name))
    return ours.eval(), theirs.eval(), H, labels


def test_saelens_sae_is_scored_like_ours_with_the_same_weights(task, pair):
    ours, theirs, H, labels = pair
    assert torch.allclose(encode(ours, H), encode(theirs, H), atol=1e-5)
    metric = task.logit_diff_fn(labels)
    a, b = (evaluate_approximation(metric, H, reconstruction(s, H)) for s in (ours, theirs))
    assert a.sufficiency == pytest.approx(b.sufficiency, abs=1e-4)
    assert a.necessity == pytest.approx(b.necessity, abs=1e-4)
    test = task.prompts(1, 33)
    pairs = task.edit_pairs(test, task.noise(len(test["IO"]), 34), "IO", 35)
    with pytest.warns(UserWarning):  # budget 8 exceeds the differing latents of a k = 3 SAE
        ca, cb = (evaluate_control(task.logits, s, pairs, success=task.edit_success) for s in (ours, theirs))
    np.testing.assert_array_equal(ca.moves, cb.moves)
    assert ca.success == cb.success
    ta, tb = (evaluate_interpretability(encode(s, H), labels) for s in (ours, theirs))
    np.testing.assert_allclose(ta["IO"].f1, tb["IO"].f1)
    assert detect_occlusion(ours, H, labels).occluded == detect_occlusion(theirs, H, labels).occluded
    assert (
        detect_oversplitting(ours, H, labels).oversplit == detect_oversplitting(theirs, H, labels).oversplit
    )
