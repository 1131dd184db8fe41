"""SupervisedDictionary: centred conditional means, reconstruction, edits and bad inputs."""

import numpy as np
import pytest
import torch

from sparsehub.errors import ShapeError
from sparsehub_sae_supervised_eval import SupervisedDictionary


def _additive(counts, d=8, seed=0):
    """Noise-free h = m + a[A] + b[B] on a full 3x2 factorial with the given cell counts."""
    rng = np.random.default_rng(seed)
    m, a, b = rng.normal(size=d), rng.normal(size=(3, d)), rng.normal(size=(2, d))
    A, B = [], []
    for (i, j), c in counts.items():
        A += [i] * c
        B += [j] * c
    A, B = np.array(A), np.array(B)
    return m + a[A] + b[B], {"A": A, "B": B}


UNBALANCED = {(0, 0): 9, (0, 1): 1, (1, 0): 2, (1, 1): 7, (2, 0): 5, (2, 1): 6}


def test_cell_weighted_means_reconstruct_an_additive_unbalanced_design_exactly():
    H, labels = _additive(UNBALANCED)
    rec = SupervisedDictionary(["A", "B"], min_count=1).fit(H, labels).reconstruct(labels)
    np.testing.assert_allclose(rec.numpy(), H, atol=1e-10)


def test_plain_means_are_confounded_by_the_unbalanced_design():
    H, labels = _additive(UNBALANCED)
    rec = SupervisedDictionary(["A", "B"], weighting="none", min_count=1).fit(H, labels).reconstruct(labels)
    assert np.abs(rec.numpy() - H).max() > 1e-2


def test_features_are_centred_under_the_weights():
    H, labels = _additive(UNBALANCED)
    sd = SupervisedDictionary(["A", "B"], min_count=1).fit(H, labels)
    # every cell has equal weight: value v of A has mass (#cells with A = v) / #cells
    np.testing.assert_allclose(sd.features_["A"].sum(0).numpy(), 0, atol=1e-10)
    np.testing.assert_allclose(sd.features_["B"].sum(0).numpy(), 0, atol=1e-10)
    grand = np.mean([H[(labels["A"] == i) & (labels["B"] == j)][0] for i, j in UNBALANCED], axis=0)
    np.testing.assert_allclose(sd.mean_.numpy(), grand, atol=1e-10)


def test_balanced_plain_means_equal_class_means_minus_grand_mean():
    rng = np.random.default_rng(1)
    H = rng.normal(size=(60, 5))
    labels = {"A": np.repeat([0, 1, 2], 20), "B": np.tile([0, 1], 30)}
    sd = SupervisedDictionary(["A", "B"]).fit(H, labels)
    for v in range(3):
        np.testing.assert_allclose(
            sd.features_["A"][v].numpy(), H[labels["A"] == v].mean(0) - H.mean(0), atol=1e-12
        )


def test_edit_swaps_exactly_two_features_and_keeps_type():
    H, labels = _additive(UNBALANCED)
    sd = SupervisedDictionary(["A", "B"], min_count=1).fit(H, labels)
    new = (labels["A"] + 1) % 3
    edited = sd.edit(H, "A", labels["A"], new)
    assert isinstance(edited, np.ndarray) and edited.dtype == H.dtype
    np.testing.assert_allclose(edited, sd.reconstruct({"A": new, "B": labels["B"]}).numpy(), atol=1e-10)
    one = sd.edit(torch.as_tensor(H[0], dtype=torch.float32), "B", labels["B"][0], 1 - labels["B"][0])
    assert one.shape == (8,) and one.dtype == torch.float32


def test_string_labels_work_and_atoms_follow_w_dec():
    H, labels = _additive(UNBALANCED)
    named = {"A": np.array(["x", "y", "z"])[labels["A"]], "B": labels["B"]}
    sd = SupervisedDictionary(["A", "B"], min_count=1).fit(H, named)
    assert sd.atoms() == [("A", "x"), ("A", "y"), ("A", "z"), ("B", 0), ("B", 1)]
    assert sd.W_dec.shape == (5, 8)
    assert torch.equal(sd.codes(named).sum(1), torch.full((len(H),), 2.0, dtype=torch.float64))


@pytest.mark.parametrize(
    ("labels", "error", "match"),
    [
        ({"A": np.zeros(30, int), "B": np.tile([0, 1], 15)}, ValueError, "single value"),
        ({"A": [None] + [0, 1] * 14 + [1], "B": np.tile([0, 1], 15)}, ValueError, "missing labels"),
        ({"A": np.tile([0, 1], 15)}, KeyError, "labels\\['B'\\]"),
        ({"A": np.tile([0, 1], 14), "B": np.tile([0, 1], 14)}, ShapeError, "len\\(labels"),
        ({"A": np.tile([0.0, np.nan], 15), "B": np.tile([0, 1], 15)}, ValueError, "missing labels"),
    ],
)
def test_bad_labels_are_refused_before_anything_is_stored(labels, error, match):
    H = np.random.default_rng(0).normal(size=(30, 4))
    sd = SupervisedDictionary(["A", "B"]).fit(H, {"A": np.tile([0, 1], 15), "B": np.repeat([0, 1], 15)})
    before = sd.mean_.clone()
    with pytest.raises(error, match=match):
        sd.fit(H + 1, labels)
    assert torch.equal(sd.mean_, before)


def test_too_few_samples_per_value_warns_with_the_value():
    H = np.random.default_rng(0).normal(size=(22, 4))
    labels = {"A": np.array([0] * 20 + [1, 1])}
    with pytest.warns(UserWarning, match=r"labels\['A'\].*\(1, 2\)"):
        SupervisedDictionary(["A"]).fit(H, labels)


def test_bad_arguments_and_dimension_mismatch():
    H = np.random.default_rng(0).normal(size=(20, 4))
    labels = {"A": np.tile([0, 1], 10)}
    with pytest.raises(ValueError, match="weighting"):
        SupervisedDictionary(["A"], weighting="mean").fit(H, labels)
    with pytest.raises(ValueError, match="attributes"):
        SupervisedDictionary(["A", "A"]).fit(H, labels)
    with pytest.raises(RuntimeError, match="not fitted"):
        SupervisedDictionary(["A"]).reconstruct(labels)
    with pytest.raises(ValueError, match="NaN"):
        SupervisedDictionary(["A"]).fit(np.full((20, 4), np.nan), labels)
    sd = SupervisedDictionary(["A"]).fit(H, labels)
    with pytest.raises(ShapeError, match=r"h.shape=\(3, 5\)"):
        sd.edit(np.zeros((3, 5)), "A", 0, 1)
    with pytest.raises(ValueError, match="new=7"):
        sd.edit(H, "A", 0, 7)
    with pytest.raises(KeyError, match="attr"):
        sd.edit(H, "B", 0, 1)
