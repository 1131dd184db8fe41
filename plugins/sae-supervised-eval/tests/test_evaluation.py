"""The three axes against brute-force oracles, exact cases and bad inputs."""

import numpy as np
import pytest
import torch

from sparsehub.errors import ShapeError
from sparsehub.sae import SparseAutoencoder
from sparsehub_sae_supervised_eval import (
    SupervisedDictionary,
    evaluate_approximation,
    evaluate_control,
    evaluate_interpretability,
    reconstruction,
)


def _brute_force_f1(codes, values):
    """Precision, recall, F1 by explicit counting, one latent and one value at a time."""
    uniq = sorted(set(values.tolist()))
    P, R, F = (np.zeros((codes.shape[1], len(uniq))) for _ in range(3))
    for j in range(codes.shape[1]):
        for i, v in enumerate(uniq):
            tp = fp = fn = 0
            for n in range(len(values)):
                fires, is_v = codes[n, j] != 0, values[n] == v
                tp += fires and is_v
                fp += fires and not is_v
                fn += (not fires) and is_v
            P[j, i] = tp / (tp + fp) if tp + fp else 0.0
            R[j, i] = tp / (tp + fn) if tp + fn else 0.0
            F[j, i] = 2 * P[j, i] * R[j, i] / (P[j, i] + R[j, i]) if P[j, i] + R[j, i] else 0.0
    return P, R, F


def test_interpretability_table_matches_brute_force_counting():
    rng = np.random.default_rng(0)
    codes = rng.random((120, 9)) * (rng.random((120, 9)) < 0.3)
    codes[:, 4] = 0  # a dead latent: precision and F1 are 0, not NaN
    labels = {"A": rng.integers(0, 4, 120), "B": rng.choice(["x", "y"], 120)}
    table = evaluate_interpretability(torch.as_tensor(codes), labels)
    for a in ("A", "B"):
        P, R, F = _brute_force_f1(codes, labels[a])
        np.testing.assert_allclose(table[a].precision, P, atol=1e-12)
        np.testing.assert_allclose(table[a].recall, R, atol=1e-12)
        np.testing.assert_allclose(table[a].f1, F, atol=1e-12)
        np.testing.assert_array_equal(table[a].best_latent, F.argmax(0))
    assert table.best("B").keys() == {"x", "y"}
    assert len(table.rows()) == 6


def test_interpretability_agrees_with_saelens_classification_metrics():
    pytest.importorskip("sae_lens")
    from sae_lens.synthetic.evals import compute_classification_metrics

    rng = np.random.default_rng(1)
    labels = {"A": rng.integers(0, 5, 300)}
    H = rng.normal(size=(300, 16)) + 3 * np.eye(16)[labels["A"]]
    sd = SupervisedDictionary(["A"]).fit(H, labels)
    codes = torch.as_tensor(rng.random((300, 12)) * (rng.random((300, 12)) < 0.4))
    W_dec = torch.as_tensor(rng.normal(size=(12, 16)))
    theirs = compute_classification_metrics(
        codes.float(), sd.codes(labels).float(), W_dec.float(), sd.W_dec.float()
    )
    # SAELens pairs each latent with its best-matching ground-truth feature by decoder cosine
    W, U = W_dec / W_dec.norm(dim=1, keepdim=True), sd.W_dec / sd.W_dec.norm(dim=1, keepdim=True)
    match = (W @ U.T).abs().argmax(1).numpy()
    s = evaluate_interpretability(codes, labels)["A"]
    rows = np.arange(12)
    assert theirs.f1_score == pytest.approx(s.f1[rows, match].mean(), abs=1e-6)
    assert theirs.precision == pytest.approx(s.precision[rows, match].mean(), abs=1e-6)
    assert theirs.recall == pytest.approx(s.recall[rows, match].mean(), abs=1e-6)


def test_approximation_is_one_for_the_clean_run_and_zero_for_the_mean():
    rng = np.random.default_rng(2)
    H = torch.as_tensor(rng.normal(size=(50, 6)) + 1.0)
    w = torch.as_tensor(rng.normal(size=6))

    def run(X):
        return torch.tanh(X @ w).numpy() + (X @ w).numpy() ** 2

    full = evaluate_approximation(run, H, H)
    assert full.sufficiency == pytest.approx(1.0) and full.necessity == pytest.approx(1.0)
    none = evaluate_approximation(run, H, H.mean(0).expand(50, -1))
    assert none.sufficiency == pytest.approx(0.0, abs=1e-12)
    assert none.necessity == pytest.approx(0.0, abs=1e-12)


def test_supervised_dictionary_on_the_toy_is_sufficient_and_necessary(task):
    labels = task.prompts(2, 5)
    H = task.activations(labels, task.noise(len(labels["IO"]), 6))
    sd = SupervisedDictionary(["IO", "S", "Pos"]).fit(H, labels)
    res = evaluate_approximation(task.logit_diff_fn(labels), H, reconstruction(sd, H, labels), mean=sd.mean_)
    assert res.sufficiency >= 0.95 and res.necessity >= 0.95
    assert res.clean > 0


def test_supervised_control_needs_exactly_two_edits(task):
    labels = task.prompts(2, 5)
    H = task.activations(labels, task.noise(len(labels["IO"]), 6))
    sd = SupervisedDictionary(["IO", "S", "Pos"]).fit(H, labels)
    test = task.prompts(1, 7)
    pairs = task.edit_pairs(test, task.noise(len(test["IO"]), 8), "IO", 9)
    res = evaluate_control(task.logits, sd, pairs, (1, 2), success=task.edit_success)
    assert res.success_at(2) >= 0.95 and res.success_at(1) < 0.6
    assert (res.n_candidates == 2).all()
    # the two moves are the atoms of the old and the new IO name
    atoms = sd.atoms()
    for p in range(5):
        moved = {atoms[j] for j in res.moves[p]}
        assert moved == {("IO", test["IO"][p]), ("IO", pairs["target_labels"]["IO"][p])}
    # the greedy end state is the supervised edit
    assert res.success_by_moves[:, 2].mean() == res.success_at(2)


def test_first_greedy_move_is_the_brute_force_best_single_move():
    rng = np.random.default_rng(3)
    P, F, d = 6, 7, 5
    W = torch.as_tensor(rng.normal(size=(F, d)))
    zs = torch.as_tensor(rng.random((P, F)) * (rng.random((P, F)) < 0.6))
    zt = torch.as_tensor(rng.random((P, F)) * (rng.random((P, F)) < 0.6))
    src, tgt = torch.as_tensor(rng.normal(size=(P, d))), torch.as_tensor(rng.normal(size=(P, d)))

    class TwoCalls:
        W_dec = W

        def __init__(self):
            self.calls = 0

        def encode(self, x):
            self.calls += 1
            return zs if self.calls == 1 else zt

        def decode(self, z):
            return z @ W

    res = evaluate_control(lambda X: X.numpy(), TwoCalls(), {"source": src, "target": tgt}, (1, 2, 3))
    for p in range(P):
        best, best_j = ((src[p] - tgt[p]) ** 2).sum(), -1
        for j in range(F):
            if zs[p, j] == zt[p, j]:
                continue
            dist = ((src[p] + (zt[p, j] - zs[p, j]) * W[j] - tgt[p]) ** 2).sum()
            if dist < best:
                best, best_j = dist, j
        assert res.moves[p, 0] == best_j
        # later moves never repeat a latent
        chosen = [j for j in res.moves[p] if j >= 0]
        assert len(chosen) == len(set(chosen))
    # the greedy is not optimal, but two greedy moves get at least as close as the best single move
    for p in range(P):
        h = src[p].clone()
        for j in res.moves[p, :2]:
            if j >= 0:
                h += (zt[p, j] - zs[p, j]) * W[j]
        single = min(
            [((src[p] + (zt[p, j] - zs[p, j]) * W[j] - tgt[p]) ** 2).sum() for j in range(F)]
            + [((src[p] - tgt[p]) ** 2).sum()]
        )
        assert ((h - tgt[p]) ** 2).sum() <= single + 1e-12


def test_control_bad_inputs():
    sae = SparseAutoencoder(8, 16, k=2, seed=0)
    x = torch.randn(4, 8)
    run = lambda X: X.numpy()  # noqa: E731
    with pytest.raises(ValueError, match="budgets"):
        evaluate_control(run, sae, {"source": x, "target": x}, (2, 1))
    with pytest.raises(ValueError, match="budgets"):
        evaluate_control(run, sae, {"source": x, "target": x}, (0,))
    with pytest.raises(ShapeError, match=r"pairs\['source'\].shape"):
        evaluate_control(run, sae, {"source": torch.randn(4, 7), "target": x})
    with pytest.raises(ValueError, match="pairs"):
        evaluate_control(run, sae, {"source": x})
    with pytest.raises(TypeError, match="W_dec"):
        evaluate_control(run, object(), {"source": x, "target": x})
    with pytest.warns(UserWarning, match=r"budgets \[8\] exceed the 4 latents"):
        evaluate_control(run, sae, {"source": x, "target": torch.randn(4, 8)}, (1, 2, 4, 8))


def test_approximation_and_interpretability_bad_inputs():
    H = torch.randn(10, 4)
    with pytest.raises(ShapeError, match=r"recon\.shape"):
        evaluate_approximation(lambda X: X.sum(1).numpy(), H, torch.randn(10, 5))
    with pytest.raises(ValueError, match="run_fn"):
        evaluate_approximation(lambda X: np.ones(10), H, H)
    with pytest.raises(ValueError, match="run_fn"):
        evaluate_approximation(lambda X: np.ones(3), H, H)
    with pytest.raises(ShapeError, match="len"):
        evaluate_interpretability(torch.ones(10, 3), {"A": np.arange(9)})
    with pytest.raises(ValueError, match="labels"):
        reconstruction(SupervisedDictionary(["A"]).fit(H, {"A": np.tile([0, 1], 5)}), H)
    with pytest.raises(TypeError, match="W_dec"):
        reconstruction(torch.nn.Linear(4, 4), H)
    with pytest.raises(ShapeError, match=r"H\.shape"):
        reconstruction(SparseAutoencoder(8, 16, k=2), H)
