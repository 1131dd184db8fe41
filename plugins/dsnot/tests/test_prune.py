"""``prune`` on a random 2-block Llama: oracles from core's Wanda, invariants, bad input."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from sparsehub.errors import PatternError, ShapeError  # noqa: E402
from sparsehub.nn import oneshot  # noqa: E402
from sparsehub.nn.layout import UnsupportedArchitecture  # noqa: E402
from sparsehub_dsnot import prune  # noqa: E402


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_zero_cycles_reproduce_core_wanda_exactly(tiny_llama, calibration):
    ours, ref = tiny_llama, copy.deepcopy(tiny_llama)
    masks = prune(ours, 0.6, calibration=calibration, max_cycles=0)
    ref_masks = oneshot.wanda(ref, 0.6, calibration=calibration)
    assert masks.keys() == ref_masks.keys()
    for name in masks:
        assert (masks[name].array == ref_masks[name].array).all(), name


def test_masks_match_the_zeroed_weights_and_keep_row_sparsity(tiny_llama, calibration):
    dense = _state(tiny_llama)
    log = {}
    masks = prune(tiny_llama, 0.6, calibration=calibration, update_threshold=0.0, log=log)
    params = dict(tiny_llama.named_parameters())
    for name, mask in masks.items():
        keep = torch.tensor(mask.array)
        assert torch.equal(params[name].detach(), dense[name] * keep)  # no weight update, only zeros
        assert torch.all(keep.sum(1) == keep.shape[1] - round(0.6 * keep.shape[1])), name
    assert sum(v["swaps"] for v in log.values()) > 0


def test_refinement_changes_the_wanda_mask(tiny_llama, calibration):
    ref = copy.deepcopy(tiny_llama)
    masks = prune(tiny_llama, 0.6, calibration=calibration, update_threshold=0.0)
    wanda = oneshot.wanda(ref, 0.6, calibration=calibration)
    assert any((masks[n].array != wanda[n].array).any() for n in masks)


def test_skipping_every_layer_gives_the_initial_mask(tiny_llama, calibration):
    ref = copy.deepcopy(tiny_llama)
    masks = prune(tiny_llama, 0.6, calibration=calibration, update_threshold=0.0, skip=("self_attn", "mlp"))
    wanda = oneshot.wanda(ref, 0.6, calibration=calibration)
    for name in masks:
        assert (masks[name].array == wanda[name].array).all(), name


def test_nm_pattern_keeps_two_of_every_four(tiny_llama, calibration):
    masks = prune(tiny_llama, None, calibration=calibration, pattern="2:4", update_threshold=0.0)
    for name, mask in masks.items():
        keep = torch.tensor(mask.array)
        assert torch.all(keep.reshape(keep.shape[0], -1, 4).sum(-1) == 2), name


def test_magnitude_init_with_zero_cycles_is_per_row_magnitude(tiny_llama, calibration):
    dense = _state(tiny_llama)
    masks = prune(tiny_llama, 0.5, calibration=calibration, init="magnitude", max_cycles=0)
    for name, mask in masks.items():
        w = dense[name].abs()
        keep = torch.tensor(mask.array)
        kept_min = torch.where(keep, w, torch.inf).min(1).values
        pruned_max = torch.where(keep, -torch.inf, w).max(1).values
        assert torch.all(kept_min >= pruned_max), name


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"sparsity": 1.0}, ValueError, "sparsity"),
        ({"sparsity": -0.1}, ValueError, "sparsity"),
        ({"sparsity": 0.3, "pattern": "2:4"}, ValueError, "sparsity"),
        ({"sparsity": None, "pattern": "2:3"}, PatternError, "m=3"),
        ({"sparsity": None, "pattern": "5:4"}, PatternError, "pattern"),
        ({"init": "sparsegpt2"}, ValueError, "init"),
        ({"max_cycles": -1}, ValueError, "max_cycles"),
        ({"update_threshold": float("nan")}, ValueError, "update_threshold"),
        ({"var_power": -1.0}, ValueError, "var_power"),
        ({"skip": [3]}, ValueError, "skip"),
        ({"bogus": 1}, TypeError, "bogus"),
        ({"calibration": []}, ValueError, "calibration"),
        ({"calibration": [torch.rand(2, 8)]}, ShapeError, "dtype"),
        ({"calibration": [torch.zeros(8, dtype=torch.long)]}, ShapeError, "shape"),
    ],
)
def test_bad_input_is_rejected_before_anything_changes(tiny_llama, calibration, kwargs, error, needle):
    before = _state(tiny_llama)
    args = {"sparsity": 0.5, "calibration": calibration, **kwargs}
    sparsity = args.pop("sparsity")
    with pytest.raises(error, match=needle):
        prune(tiny_llama, sparsity, **args)
    after = tiny_llama.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_unknown_architecture_names_the_class(calibration):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    with pytest.raises(UnsupportedArchitecture, match="Sequential"):
        prune(model, 0.5, calibration=calibration)


def test_input_statistics_follow_the_official_wrapper():
    """var: mean over sequences of the within-sequence variance; E[x]: per-sequence sum, averaged."""
    from sparsehub_dsnot.pruner import _LayerInputs

    gen = torch.Generator().manual_seed(0)
    batches = [torch.randn(2, 7, 5, generator=gen) + torch.arange(5.0), torch.randn(3, 7, 5, generator=gen)]
    stats = _LayerInputs(5)
    for b in batches:
        stats.update(b)
    seqs = torch.cat(batches).double()
    assert stats.sequences == 5
    assert torch.allclose(stats.var, seqs.var(dim=1, unbiased=False).mean(0))
    assert torch.allclose(stats.per_sequence_sum, seqs.sum(1).mean(0))
    assert torch.allclose(stats.stats.norm, seqs.reshape(-1, 5).norm(dim=0))
