"""Mutual / Feature Choice SAEs: training-time allocation, thresholds, aux_zipf, statistics, errors, save/load."""

import pytest
import torch

from sparsehub.sae import SparseAutoencoder, SyntheticFeatures, Trainer, train_sae, weighted_aux_loss
from sparsehub_choice_sae import (
    FeatureChoice,
    FeatureChoiceSAE,
    MutualChoiceSAE,
    aux_zipf_loss,
    usage_statistics,
    zipf_targets,
    zipf_underuse_weights,
)


def _x(n=64, d=8, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_mc_sae_spends_exactly_k_times_b_in_training():
    sae = MutualChoiceSAE(8, 32, 2)
    sae.train()
    z = sae.encode(_x())
    assert int((z != 0).sum()) <= 128 and int((sae.selection(sae.hidden_pre(_x())) != 0).sum()) <= 128
    pre = sae.hidden_pre(_x())
    assert int((pre > 0).sum()) > 128 and int((z != 0).sum()) == 128


def test_fc_sae_has_no_dead_latents_and_exact_per_feature_counts():
    data = SyntheticFeatures(16, 8, mean_l0=2.0, seed=0)
    sae = FeatureChoiceSAE(8, 24, 2, capacity="uniform")
    result = train_sae(sae, data.batches(48, 120, seed=1), lr=3e-3, dead_window=20)
    assert result.tracker.summary()["dead"] == 0
    sae.train()
    x = next(data.batches(48, 1, seed=7))
    counts = (sae.encode(x) != 0).sum(0)
    assert int(counts.sum()) <= 96 and int(counts.max()) <= 4


def test_thresholds_reproduce_the_batch_allocation_after_training():
    data = SyntheticFeatures(16, 8, mean_l0=2.0, seed=0)
    sae = MutualChoiceSAE(8, 24, 2)
    train_sae(sae, data.batches(64, 300, seed=1), lr=3e-3)
    sae.eval()
    x = next(data.batches(512, 1, seed=9))
    l0_threshold = float((sae.encode(x) != 0).sum(-1).float().mean())
    l0_batch = float((sae.encode(x, batch_allocation=True) != 0).sum(-1).float().mean())
    assert l0_batch == pytest.approx(2.0) and abs(l0_threshold - 2.0) < 0.3
    single = sae.encode(x[:1])  # batch size 1 works at inference through the thresholds
    jump = sae.to_jumprelu()
    assert torch.equal(jump.encode(x[:1]), single)


def test_inference_without_thresholds_is_a_clear_error():
    sae = MutualChoiceSAE(8, 16, 2).eval()
    with pytest.raises(ValueError, match="thresholds"):
        sae.encode(_x(1))
    assert int((sae.encode(_x(4), batch_allocation=True) != 0).sum()) <= 8


def test_aux_zipf_weights_reduce_to_aux_k_for_binary_use():
    rate = torch.tensor([0.5, 0.0, 0.3, 0.0], dtype=torch.float64)
    dead = torch.tensor([False, True, False, True])
    targets = zipf_targets(rate, 1.0, 1.0)
    assert float(targets.sum()) == pytest.approx(1.0) and float(targets[0]) == float(targets.max())
    u = zipf_underuse_weights(rate, dead, 1.0, 1.0)
    assert u[1] == 1 and u[3] == 1 and bool((u >= 0).all() and (u <= 1).all())
    gen = torch.Generator().manual_seed(0)
    pre, res, W = torch.randn(8, 4, generator=gen), torch.randn(8, 3, generator=gen), torch.randn(4, 3, generator=gen)
    # features over their target get weight 0: with every live feature above target, aux_zipf == aux_k
    hot = torch.tensor([0.9, 0.0, 0.9, 0.0], dtype=torch.float64)
    assert torch.allclose(aux_zipf_loss(pre, res, W, hot, dead, 1.0, 2, 1.0),
                          weighted_aux_loss(pre, res, W, dead.float(), 2))


def test_an_underused_latent_gets_an_auxiliary_gradient_and_a_saturated_one_none():
    sae = MutualChoiceSAE(4, 6, 1, aux="zipf", aux_coef=1.0, k_aux=2)

    class Tracker:
        firing_rate = torch.tensor([0.9, 0.9, 0.9, 0.9, 0.9, 0.0], dtype=torch.float64)
        dead = torch.zeros(6, dtype=torch.bool)

    x = _x(16, 4)
    pre = sae.hidden_pre(x)
    loss = sae.auxiliary_loss(x, torch.zeros_like(x), pre, Tracker())
    loss.backward()
    grad = sae.W_dec.grad.norm(dim=-1)
    assert float(grad[5]) > 0 and float(grad[:5].abs().sum()) == 0


def test_usage_statistics_count_dead_and_underused_features():
    rate = torch.tensor([0.5, 0.4, 0.001, 0.0])
    stats = usage_statistics(rate, torch.tensor([False, False, False, True]), k=1.0)
    assert stats["dead"] == 1 and stats["underused"] == 1 and 1 < stats["effective_features"] < 3


@pytest.mark.parametrize("make, name", [
    (lambda: MutualChoiceSAE(8, 16, 17), "k="),
    (lambda: MutualChoiceSAE(8, 16, 0), "k="),
    (lambda: FeatureChoiceSAE(8, 16, 2, capacity="gauss"), "capacity="),
    (lambda: FeatureChoiceSAE(8, 16, 2, capacity=0), "capacity="),
    (lambda: MutualChoiceSAE(8, 16, 2, aux="l1"), "aux="),
    (lambda: FeatureChoice(2, 16, zipf_exponent=-1), "zipf_exponent="),
])
def test_bad_configurations_are_refused_with_the_argument_named(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_bad_batches_are_refused_before_anything_changes():
    sae = FeatureChoiceSAE(8, 16, 2, capacity=10)
    state = {k: v.clone() for k, v in sae.state_dict().items()}
    with pytest.raises(ValueError, match=r"m=10 .*B=4"):
        Trainer(sae, lr=1e-2).step(_x(4))
    bad = _x(16)
    bad[0, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN/Inf"):
        Trainer(sae, lr=1e-2).step(bad)
    with pytest.raises(ValueError, match=r"x\.shape"):
        sae.encode(_x(16, 9))
    assert all(torch.equal(state[k], v) for k, v in sae.state_dict().items())


@pytest.mark.parametrize("cls, kwargs", [(MutualChoiceSAE, {"aux": "zipf"}),
                                         (FeatureChoiceSAE, {"capacity": "zipf", "zipf_exponent": 0.5})])
def test_save_load_keeps_weights_thresholds_and_usage(tmp_path, cls, kwargs):
    data = SyntheticFeatures(16, 8, mean_l0=2.0, seed=0)
    sae = cls(8, 24, 2, seed=3, **kwargs)
    train_sae(sae, data.batches(32, 30, seed=1), lr=3e-3)
    sae.save(tmp_path / "sae.pt")
    back = cls.load(tmp_path / "sae.pt")
    assert back.config() == sae.config()
    for (n, a), (m, b) in zip(sae.state_dict().items(), back.state_dict().items()):
        assert n == m and torch.equal(a, b)
    sae.eval(), back.eval()
    x = next(data.batches(8, 1, seed=2))
    assert torch.equal(back.encode(x), sae.encode(x))
    with pytest.raises(ValueError, match="class"):
        SparseAutoencoder.load(tmp_path / "sae.pt")
