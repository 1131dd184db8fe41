"""Occlusion and over-splitting detectors: constructed cases where each must fire and must not."""

import numpy as np
import pytest
import torch

from sparsehub.errors import ShapeError
from sparsehub_sae_supervised_eval import detect_occlusion, detect_oversplitting


class CodesSAE:
    """A stand-in SAE with given codes for the given activations (rows looked up by nearest match)."""

    def __init__(self, codes, H):
        self.table, self.H = (
            torch.as_tensor(codes, dtype=torch.float64),
            torch.as_tensor(H, dtype=torch.float64),
        )
        self.W_dec = torch.zeros(self.table.shape[1], self.H.shape[1], dtype=torch.float64)

    def encode(self, x):
        return self.table[torch.cdist(x.double(), self.H).argmin(1)]

    def decode(self, z):
        return z @ self.W_dec


def _design(s_scale=1.0, seed=0):
    """Balanced IO x S x Pos prompts (4 names, 5 repeats) and additive activations with small noise."""
    rng = np.random.default_rng(seed)
    io, s, pos = (g.ravel() for g in np.meshgrid(range(4), range(4), range(2), indexing="ij"))
    io, s, pos = np.tile(io, 5), np.tile(s, 5), np.tile(pos, 5)
    d = 12
    U = {a: rng.normal(size=(n, d)) for a, n in (("IO", 4), ("S", 4), ("Pos", 2))}
    H = U["IO"][io] + s_scale * U["S"][s] + U["Pos"][pos] + 0.01 * rng.normal(size=(len(io), d))
    return H, {"IO": io, "S": s, "Pos": pos}


def _onehot(values, n):
    return np.eye(n)[values]


def test_occlusion_fires_when_s_is_present_but_has_no_latent():
    H, labels = _design(s_scale=0.8)
    sae = CodesSAE(_onehot(labels["IO"], 4), H)
    rep = detect_occlusion(sae, H, labels, ["IO", "S"])
    assert rep.occluded == {"IO": False, "S": True} and rep.any
    assert rep.occluded_by["S"] == "IO" and rep.decodable["S"] == 1.0
    assert rep.magnitude["IO"] > rep.magnitude["S"]


def test_occlusion_does_not_fire_when_s_has_latents():
    H, labels = _design()
    sae = CodesSAE(np.concatenate([_onehot(labels["IO"], 4), _onehot(labels["S"], 4)], 1), H)
    rep = detect_occlusion(sae, H, labels, ["IO", "S"])
    assert not rep.any and rep.max_best_f1["S"] == 1.0


def test_occlusion_does_not_fire_for_an_attribute_absent_from_the_activations():
    H, labels = _design(s_scale=0.0)
    sae = CodesSAE(_onehot(labels["IO"], 4), H)
    rep = detect_occlusion(sae, H, labels, ["IO", "S"])
    assert not rep.occluded["S"] and rep.decodable["S"] < 0.5


def test_oversplitting_fires_when_a_binary_value_is_spread_over_many_latents():
    H, labels = _design()
    # Pos = 0 split by IO name into 4 latents (recall 0.25 each), Pos = 1 one latent
    codes = np.zeros((len(H), 5))
    zero = labels["Pos"] == 0
    codes[zero, labels["IO"][zero]] = 1.0
    codes[~zero, 4] = 1.0
    rep = detect_oversplitting(CodesSAE(codes, H), H, labels, "Pos")
    assert rep.oversplit["Pos"]
    assert rep.values[("Pos", 0)]["split"] and rep.values[("Pos", 0)]["latents"] == [0, 1, 2, 3]
    assert rep.values[("Pos", 0)]["coverage"] == 1.0 and not rep.values[("Pos", 1)]["split"]


def test_oversplitting_does_not_fire_for_one_latent_per_value_or_for_two_halves():
    H, labels = _design()
    rep = detect_oversplitting(CodesSAE(_onehot(labels["Pos"], 2), H), H, labels, "Pos")
    assert not rep.any
    codes = np.zeros((len(H), 2))
    zero = labels["Pos"] == 0
    codes[zero, (labels["IO"][zero] >= 2).astype(int)] = 1.0  # split in two halves: below min_latents = 3
    assert not detect_oversplitting(CodesSAE(codes, H), H, labels, "Pos").any


def test_diagnostics_bad_inputs():
    H, labels = _design()
    sae = CodesSAE(_onehot(labels["IO"], 4), H)
    with pytest.raises(ShapeError, match=r"H\.shape"):
        detect_occlusion(sae, H[:, :5], labels)
    with pytest.raises(TypeError, match="W_dec"):
        detect_occlusion(object(), H, labels)
    with pytest.raises(ValueError, match="single value"):
        detect_oversplitting(sae, H, {"Pos": np.zeros(len(H), int)})
    with pytest.raises(ValueError, match="f1_threshold"):
        detect_occlusion(sae, H, labels, f1_threshold=2.0)
    with pytest.raises(ValueError, match="min_latents"):
        detect_oversplitting(sae, H, labels, min_latents=1)
