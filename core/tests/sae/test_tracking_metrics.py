"""Firing tracker, metrics against a numpy oracle, synthetic generator and recovery."""

import numpy as np
import pytest
import torch

from sparsehub.sae import (
    FiringTracker,
    SyntheticFeatures,
    evaluate,
    feature_recovery,
    reconstruction_metrics,
    zipf_probabilities,
)


def test_a_latent_is_dead_after_more_than_window_silent_steps():
    tracker = FiringTracker(3, dead_window=2, ema_decay=0.5)
    fire0 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    for _ in range(3):
        tracker.update(fire0)
    assert tracker.dead.tolist() == [False, True, False]
    assert torch.allclose(tracker.firing_rate, torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64))
    assert tracker.summary() == {"dead": 1, "never_fired": 1, "steps": 3, "tokens": 6}
    clone = FiringTracker(3)
    clone.load_state_dict(tracker.state_dict())
    assert torch.equal(clone.dead, tracker.dead)


def test_metrics_match_a_numpy_oracle_and_stream_like_one_batch():
    gen = torch.Generator().manual_seed(0)
    x, recon = torch.randn(40, 6, generator=gen), torch.randn(40, 6, generator=gen)
    codes = (torch.rand(40, 9, generator=gen) < 0.2).float()
    codes[:, 8] = 0
    m = reconstruction_metrics(x, recon, codes)
    xn, rn = x.double().numpy(), recon.double().numpy()
    nmse = ((xn - rn) ** 2).sum() / ((xn - xn.mean(0)) ** 2).sum()
    assert m.nmse == pytest.approx(nmse) and m.fve == pytest.approx(1 - nmse)
    assert m.mse == pytest.approx(((xn - rn) ** 2).mean())
    assert m.l0 == pytest.approx(float((codes != 0).sum()) / 40) and m.dead == 1

    class Fixed:  # any object with encode/decode works
        W_dec = torch.zeros(9, 6)

        def __init__(self):
            self.i = 0

        def encode(self, xb):
            return codes[self.i:self.i + len(xb)]

        def decode(self, zb):
            out = recon[self.i:self.i + len(zb)]
            self.i += len(zb)
            return out

    streamed = evaluate(Fixed(), list(x.split(10)))
    assert streamed.nmse == pytest.approx(nmse) and streamed.l0 == pytest.approx(m.l0) and streamed.batch_size == 10


def test_zipf_probabilities_sum_to_the_mean_l0_and_stay_below_one():
    p = zipf_probabilities(50, 1.5, 6.0)
    assert float(p.sum()) == pytest.approx(6.0) and float(p.max()) <= 1.0 and bool((p[:-1] >= p[1:]).all())
    with pytest.raises(ValueError, match="mean_l0"):
        zipf_probabilities(5, 1.0, 6.0)


def test_synthetic_data_is_seeded_and_the_true_dictionary_is_recovered_exactly():
    data = SyntheticFeatures(20, 8, mean_l0=3.0, seed=1)
    a = next(data.batches(16, 1, seed=5))
    b = next(data.batches(16, 1, seed=5))
    assert torch.equal(a, b) and a.shape == (16, 8)
    assert feature_recovery(data.directions, data.directions) == {"recovered": 1.0, "mmcs": pytest.approx(1.0)}
    random_rows = torch.randn(20, 8, generator=torch.Generator().manual_seed(0))
    assert feature_recovery(random_rows, data.directions)["recovered"] < 0.5
    x, acts = data.sample(4, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(x.numpy(), (acts @ data.directions).numpy(), rtol=1e-6)
