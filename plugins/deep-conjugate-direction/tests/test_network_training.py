"""The network, the paper's loss, the Ritz training data and a short training run."""

import numpy as np
import pytest
import torch

from sparsehub_deep_conjugate_direction import (
    DCDMNet,
    dcdm,
    dcdm_loss,
    lanczos_ritz,
    poisson_matrix,
    ritz_training_set,
    train_dcdm,
)
from sparsehub_deep_conjugate_direction.training import sparse_operator


@pytest.mark.parametrize(("dim", "grid"), [(2, (7, 10)), (2, (16, 16)), (3, (5, 6, 4))])
def test_network_maps_any_grid_to_the_same_grid(dim, grid):
    net = DCDMNet(dim=dim, channels=4)
    out = net(torch.randn(2, 1, *grid))
    assert out.shape == (2, 1, *grid)


def test_initialisation_is_seeded_and_leaves_the_global_stream_alone():
    state = torch.random.get_rng_state()
    a, b = DCDMNet(seed=3), DCDMNet(seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_save_and_load_round_trip(tmp_path):
    net = DCDMNet(dim=3, channels=4, coarse_blocks=1, seed=1)
    net.save(str(tmp_path / "m.pt"))
    again = DCDMNet.load(str(tmp_path / "m.pt"))
    x = torch.randn(1, 1, 4, 4, 4)
    with torch.no_grad():
        assert torch.equal(net(x), again(x))


def test_loss_matches_numpy_and_ignores_the_scale_of_q():
    A = poisson_matrix((5, 5))
    rng = np.random.default_rng(0)
    q, b = rng.standard_normal((3, 25)), rng.standard_normal((3, 25))
    ref = np.mean([np.sum((bi - (qi @ bi) / (qi @ A @ qi) * (A @ qi)) ** 2) for qi, bi in zip(q, b)])
    A_t = sparse_operator(A, torch.float64)
    got = dcdm_loss(torch.from_numpy(q), torch.from_numpy(b), A_t)
    assert float(got) == pytest.approx(ref, rel=1e-12)
    rescaled = dcdm_loss(torch.from_numpy(-5 * q), torch.from_numpy(b), A_t)
    assert float(rescaled) == pytest.approx(ref, rel=1e-12)
    exact = np.linalg.solve(A.toarray(), b.T).T
    assert float(dcdm_loss(torch.from_numpy(exact), torch.from_numpy(b), A_t)) < 1e-20


def test_lanczos_ritz_pairs_are_orthonormal_and_inside_the_spectrum():
    A = poisson_matrix((10, 10))
    lam = np.linalg.eigvalsh(A.toarray())
    values, vectors = lanczos_ritz(A, 30, seed=0)
    assert values.min() >= lam[0] - 1e-10 and values.max() <= lam[-1] + 1e-10
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(30), atol=1e-8)
    assert values[-1] == pytest.approx(lam[-1], rel=1e-6)  # extreme Ritz values converge first
    np.testing.assert_allclose(lanczos_ritz(A, 100)[0], lam, atol=1e-10)


def test_training_set_is_normalised_and_boosts_the_low_modes():
    A = poisson_matrix((8, 8))
    b = ritz_training_set(A, 500, seed=0)
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0)
    _, V = np.linalg.eigh(A.toarray())
    energy = ((b @ V) ** 2).mean(0)
    assert energy[:32].mean() > 40 * energy[40:].mean()  # 9² = 81 times the energy, up to sampling
    with pytest.raises(ValueError, match="n_samples"):
        ritz_training_set(A, 0)
    with pytest.raises(ValueError, match="n_ritz"):
        ritz_training_set(A, 5, n_ritz=65)


def test_short_training_lowers_the_loss_and_the_iteration_count():
    shape = (8, 8)
    A = poisson_matrix(shape)
    net = train_dcdm(A, shape, n_samples=200, steps=150, batch_size=8, lr=2e-3, seed=0)
    first, last = np.mean(net.loss_history_[:10]), np.mean(net.loss_history_[-10:])
    assert last < 0.5 * first
    b = np.random.default_rng(0).standard_normal(64)
    trained = dcdm(A, b, net, rtol=1e-6)
    untrained = dcdm(A, b, DCDMNet(seed=0), rtol=1e-6)
    assert trained.converged and trained.n_iter < untrained.n_iter


def test_three_dimensional_training_and_solve():
    shape = (6, 6, 6)
    A = poisson_matrix(shape)
    net = train_dcdm(A, shape, model=DCDMNet(dim=3, channels=8, seed=0), n_samples=100, steps=30, seed=0)
    b = np.random.default_rng(0).standard_normal(216)
    result = dcdm(A, b, net, rtol=1e-6)
    assert result.converged and result.info["grid_shape"] == shape


def test_training_rejects_bad_arguments():
    A = poisson_matrix((4, 4))
    with pytest.raises(ValueError, match=r"A\.shape"):
        train_dcdm(A, (4, 5))
    with pytest.raises(ValueError, match="steps"):
        train_dcdm(A, (4, 4), steps=0)
    with pytest.raises(ValueError, match="lr"):
        train_dcdm(A, (4, 4), lr=0)
    with pytest.raises(ValueError, match=r"model\.dim"):
        train_dcdm(A, (4, 4), model=DCDMNet(dim=3))
    with pytest.raises(ValueError, match=r"rhs\.shape"):
        train_dcdm(A, (4, 4), rhs=np.ones((3, 15)))
    with pytest.raises(ValueError, match="dim"):
        DCDMNet(dim=1)
