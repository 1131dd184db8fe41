"""Masked training: masks hold exactly through optimizers, checkpoints and bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from sparsehub.errors import ShapeError  # noqa: E402
from sparsehub.mask import NM, Mask, load_masks, pruned_count, save_masks  # noqa: E402
from sparsehub.nn.masking import MaskedTraining, attach, masking_of  # noqa: E402

OPTIMIZERS = {
    "sgd_momentum_wd": lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-4),
    "adam": lambda params: torch.optim.Adam(params, lr=1e-2),
    "adamw_wd": lambda params: torch.optim.AdamW(params, lr=1e-2, weight_decay=0.1),
    "adam_amsgrad": lambda params: torch.optim.Adam(params, lr=1e-2, amsgrad=True),
}


def mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5))


def random_masks(model: nn.Module, sparsity: float = 0.7, seed: int = 1) -> dict[str, Mask]:
    weights = {n: p for n, p in model.named_parameters() if n.endswith("weight")}
    return {n: Mask.random(tuple(p.shape), sparsity, seed + i) for i, (n, p) in enumerate(weights.items())}


def batches(
    n: int, seed: int = 0, features: int = 12, classes: int = 5
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(16, features, generator=g), torch.randint(0, classes, (16,), generator=g))
        for _ in range(n)
    ]


def train(model: nn.Module, optimizer: torch.optim.Optimizer, data) -> None:
    for x, y in data:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()


def params(model: nn.Module) -> dict[str, torch.Tensor]:
    return dict(model.named_parameters())


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# --- the invariant through optimizer steps ---------------------------------------------------------


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_pruned_weights_and_optimizer_state_stay_exactly_zero_through_20_steps(make_optimizer):
    model = mlp()
    masks = random_masks(model)
    before = {n: p.detach().clone() for n, p in params(model).items()}
    optimizer = make_optimizer(model.parameters())
    attach(model, masks, optimizer=optimizer)
    train(model, optimizer, batches(20))
    for name, mask in masks.items():
        keep = mask.to_torch()
        weight = params(model)[name]
        assert torch.count_nonzero(weight[~keep]) == 0
        # the kept weights did train, so the zeros above are not a frozen model
        assert not torch.equal(weight[keep], before[name][keep])
        state = optimizer.state[weight]
        moments = [v for v in state.values() if isinstance(v, torch.Tensor) and v.shape == weight.shape]
        assert moments, "the optimizer keeps per-weight state"
        for moment in moments:
            assert torch.count_nonzero(moment[~keep]) == 0


@pytest.mark.parametrize("which", ["sgd_momentum_wd", "adamw_wd"])
def test_without_gradient_masking_the_step_hook_alone_keeps_weights_and_state_zero(which):
    # Elementwise optimizers update a kept entry from its own gradient only, so masking the
    # gradients or not must give the very same kept weights; the pruned ones stay 0 either way.
    runs = {}
    for mask_gradients in (True, False):
        model = mlp()
        optimizer = OPTIMIZERS[which](model.parameters())
        masking = attach(model, random_masks(model), optimizer=optimizer, mask_gradients=mask_gradients)
        train(model, optimizer, batches(10))
        for name, keep in masking.mask_tensors().items():
            weight = params(model)[name]
            assert torch.count_nonzero(weight[~keep]) == 0
            for value in optimizer.state[weight].values():
                if value.shape == weight.shape:
                    assert torch.count_nonzero(value[~keep]) == 0
        runs[mask_gradients] = snapshot(model)
    assert_same_state(runs[True], runs[False])


def test_masked_training_follows_torch_prune_reparametrisation_exactly():
    # Oracle: torch.nn.utils.prune trains W_orig with forward W_orig * M. With the pruned W_orig
    # entries zero at the start (no gradient reaches them, so weight decay and momentum keep them
    # zero), the kept weights must follow the same trajectory as ours.
    from torch.nn.utils import prune

    ours, theirs = mlp(), mlp()
    masks = random_masks(ours)
    with torch.no_grad():
        for name, mask in masks.items():
            params(theirs)[name].mul_(mask.to_torch())
    for mask, module in zip(masks.values(), [theirs[0], theirs[2], theirs[4]]):
        prune.custom_from_mask(module, "weight", mask.to_torch())
    opt_ours = OPTIMIZERS["sgd_momentum_wd"](ours.parameters())
    opt_theirs = OPTIMIZERS["sgd_momentum_wd"](theirs.parameters())
    attach(ours, masks, optimizer=opt_ours)
    data = batches(15)
    train(ours, opt_ours, data)
    train(theirs, opt_theirs, data)
    for name, module in zip(masks, [theirs[0], theirs[2], theirs[4]]):
        # module.weight is only refreshed by a forward; the effective weight is W_orig * M
        effective = module.weight_orig * module.weight_mask
        assert torch.count_nonzero(module.weight_orig[module.weight_mask == 0]) == 0
        torch.testing.assert_close(params(ours)[name], effective, rtol=0, atol=1e-6)


def test_pruned_weights_receive_no_gradient_at_step_time():
    model = mlp()
    masks = random_masks(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    attach(model, masks, optimizer=optimizer)
    seen = {}

    def record(opt, args, kwargs):  # registered after the masking's own pre-step hook
        seen.update({n: p.grad.clone() for n, p in params(model).items()})

    optimizer.register_step_pre_hook(record)
    x, y = batches(1)[0]
    F.cross_entropy(model(x), y).backward()
    dense_grad = {n: params(model)[n].grad.clone() for n in masks}
    optimizer.step()
    for name, mask in masks.items():
        keep = mask.to_torch()
        # backward leaves the dense gradient (what RigL-style regrowth reads) ...
        assert torch.count_nonzero(dense_grad[name][~keep]) > 0
        # ... and the optimizer only ever sees the masked one
        assert torch.count_nonzero(seen[name][~keep]) == 0
        assert torch.equal(seen[name][keep], dense_grad[name][keep])


def test_apply_zeroes_pruned_weights_after_a_manual_update():
    model = mlp()
    masks = random_masks(model)
    masking = attach(model, masks)
    x, y = batches(1)[0]
    F.cross_entropy(model(x), y).backward()
    masking.mask_grads_()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # a manual update that moves every entry
    masking.apply_()
    for name, mask in masks.items():
        keep = mask.to_torch()
        assert torch.count_nonzero(params(model)[name][~keep]) == 0
        assert torch.count_nonzero(params(model)[name].grad[~keep]) == 0


def test_invariant_survives_moving_the_model_to_another_dtype():
    model = mlp()
    masks = random_masks(model)
    optimizer_holder = {}
    masking = attach(model, masks)
    model.double()
    optimizer_holder["opt"] = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    masking.register_optimizer(optimizer_holder["opt"])
    x, y = batches(1)[0]
    for _ in range(3):
        optimizer_holder["opt"].zero_grad()
        F.cross_entropy(model(x.double()), y).backward()
        optimizer_holder["opt"].step()
    for name, mask in masks.items():
        assert params(model)[name].dtype == torch.float64
        assert torch.count_nonzero(params(model)[name][~mask.to_torch()]) == 0


# --- masks in the state dict and checkpoints -----------------------------------------------------


def test_masks_live_in_state_dict_as_bool_buffers_beside_their_parameter():
    model = mlp()
    masks = random_masks(model)
    attach(model, masks)
    state = model.state_dict()
    for name, mask in masks.items():
        key = name + "_mask"
        assert state[key].dtype == torch.bool
        assert np.array_equal(state[key].numpy(), mask.array)
    assert not any(k.endswith("bias_mask") for k in state)


def _checkpointed_run(make_optimizer, k: int, n: int, tmp_path):
    """Train k steps, prune, checkpoint to disk, train n more; return the checkpoint and final state."""
    model = mlp()
    optimizer = make_optimizer(model.parameters())
    masking = attach(model, random_masks(model, 0.5), optimizer=optimizer)
    data = batches(k + n, seed=3)
    train(model, optimizer, data[:k])
    # a pruning step mid-run, so the checkpoint holds masks that differ from the initial ones
    scores = {name: params(model)[name].detach().abs() for name in masking.names}
    masking.update(scores, sparsity=0.8, scope="global")
    path = tmp_path / "ckpt.pt"
    torch.save(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "masking": masking.state_dict()},
        path,
    )
    train(model, optimizer, data[k:])
    return path, data[k:], snapshot(model)


@pytest.mark.parametrize("which", ["sgd_momentum_wd", "adamw_wd"])
def test_resume_from_checkpoint_is_bit_identical_to_the_uninterrupted_run(which, tmp_path):
    path, rest, uninterrupted = _checkpointed_run(OPTIMIZERS[which], k=7, n=6, tmp_path=tmp_path)
    checkpoint = torch.load(path, weights_only=True)
    model = mlp(seed=123)  # a different init: everything must come from the checkpoint
    optimizer = OPTIMIZERS[which](model.parameters())
    masking = attach(model, optimizer=optimizer)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    masking.load_state_dict(checkpoint["masking"])
    train(model, optimizer, rest)
    resumed = snapshot(model)
    assert_same_state(resumed, uninterrupted)
    total = sum(p.numel() for n, p in model.named_parameters() if n in masking.names)
    assert masking.sparsity() == pruned_count(total, 0.8) / total  # the global mask of the checkpoint


def test_masking_state_dict_carries_patterns_to_a_fresh_model():
    model = mlp()
    masking = attach(model)
    scores = {
        name: torch.rand(params(model)[name].shape, generator=torch.Generator().manual_seed(0))
        for name in masking.names
    }
    masking.update(scores, pattern=NM(2, 4))
    state = masking.state_dict()
    other = mlp(seed=5)
    other_masking = attach(other)
    other_masking.load_state_dict(state)
    for name, mask in other_masking.masks().items():
        assert mask.pattern == NM(2, 4)
        assert mask == masking.masks()[name]
        assert torch.count_nonzero(params(other)[name][~mask.to_torch()]) == 0


def test_loading_a_checkpoint_with_masks_for_missing_parameters_raises_and_changes_nothing():
    source = mlp()
    attach(source, random_masks(source))
    checkpoint = source.state_dict()
    checkpoint["9.weight_mask"] = torch.ones(5, 32, dtype=torch.bool)
    target = mlp(seed=7)
    attach(target, random_masks(target, seed=11))
    before = snapshot(target)
    with pytest.raises(ValueError, match=r"9\.weight_mask"):
        target.load_state_dict(checkpoint)
    with pytest.raises(ValueError, match=r"9\.weight_mask"):
        target.load_state_dict(checkpoint, strict=False)
    assert_same_state(snapshot(target), before)


def test_loading_a_checkpoint_missing_mask_keys_raises_and_changes_nothing():
    plain = mlp(seed=3)
    target = mlp(seed=7)
    attach(target, random_masks(target))
    before = snapshot(target)
    with pytest.raises(ValueError, match=r"0\.weight_mask"):
        target.load_state_dict(plain.state_dict())
    assert_same_state(snapshot(target), before)


def test_loading_a_checkpoint_with_a_mis_shaped_mask_raises_shape_error_and_changes_nothing():
    source = mlp()
    attach(source)
    checkpoint = source.state_dict()
    checkpoint["2.weight_mask"] = torch.ones(32, 31, dtype=torch.bool)
    target = mlp(seed=7)
    attach(target, random_masks(target))
    before = snapshot(target)
    with pytest.raises(ShapeError, match=r"2\.weight.*\(32, 31\).*\(32, 32\)"):
        target.load_state_dict(checkpoint)
    assert_same_state(snapshot(target), before)


def test_loading_dense_weights_into_a_masked_model_raises_even_when_not_strict():
    # the masks would silently stop describing the weights: the rule is "a loaded weight brings its mask"
    dense = mlp(seed=3)
    target = mlp(seed=7)
    attach(target, random_masks(target))
    before = snapshot(target)
    with pytest.raises(ValueError, match=r"missing beside their weights.*'2\.weight_mask'"):
        target.load_state_dict(dense.state_dict(), strict=False)
    assert_same_state(snapshot(target), before)


def test_loading_masks_alone_non_strictly_prunes_the_current_weights():
    source = mlp()
    masks = random_masks(source, seed=4)
    attach(source, masks)
    only_masks = {k: v for k, v in source.state_dict().items() if k.endswith("_mask")}
    target = mlp(seed=7)
    dense_weights = snapshot(target)
    masking = attach(target)
    target.load_state_dict(only_masks, strict=False)
    for name, mask in masks.items():
        keep = mask.to_torch()
        assert masking.masks()[name] == mask
        assert torch.equal(params(target)[name][keep], dense_weights[name][keep])
        assert torch.count_nonzero(params(target)[name][~keep]) == 0


# --- remove, update, set_masks ---------------------------------------------------------------------


def test_remove_bakes_masks_into_a_plain_model_with_equal_outputs():
    model = mlp()
    masking = attach(model, random_masks(model), optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    x = batches(1)[0][0]
    masked_out = model(x)
    final = masking.remove()
    assert not masking.attached
    assert set(model.state_dict()) == set(mlp().state_dict())
    for module in model.modules():
        assert not module._forward_pre_hooks and not module._load_state_dict_pre_hooks
        assert not module._load_state_dict_post_hooks and not module._buffers
        assert not hasattr(module, "_sparsehub_masked")
    assert torch.equal(model(x), masked_out)
    for name, mask in final.items():
        assert torch.count_nonzero(params(model)[name][~mask.to_torch()]) == 0
    # detached: a fresh attach works and an optimizer step no longer re-masks through the old hooks
    attach(model)


def test_update_from_scores_keeps_the_top_scores_and_zeroes_newly_pruned_state():
    model = mlp()
    optimizer = OPTIMIZERS["sgd_momentum_wd"](model.parameters())
    masking = attach(model, optimizer=optimizer)
    train(model, optimizer, batches(3))
    scores = {name: params(model)[name].detach().abs() for name in masking.names}
    new = masking.update(scores, sparsity=0.75)
    for name, p in params(model).items():
        if name not in scores:
            continue
        expected = Mask.from_scores(scores[name], sparsity=0.75)
        assert new[name] == expected
        keep = expected.to_torch()
        assert int(keep.sum()) == p.numel() - round(0.75 * p.numel())
        assert torch.count_nonzero(p[~keep]) == 0
        assert torch.count_nonzero(optimizer.state[p]["momentum_buffer"][~keep]) == 0
    assert masking.sparsity() == pytest.approx(0.75, abs=1e-3)


def test_update_with_per_parameter_sparsities():
    model = mlp()
    masking = attach(model)
    g = torch.Generator().manual_seed(0)
    scores = {name: torch.rand(params(model)[name].shape, generator=g) for name in masking.names}
    sparsity = {"0.weight": 0.5, "2.weight": 0.9, "4.weight": 0.0}
    masking.update(scores, sparsity=sparsity)
    for name, s in masking.layer_sparsity().items():
        n = params(model)[name].numel()
        assert s == pruned_count(n, sparsity[name]) / n


@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5, float("nan")])
def test_update_with_sparsity_outside_unit_interval_raises_and_changes_nothing(sparsity):
    model = mlp()
    masking = attach(model, random_masks(model))
    before = snapshot(model)
    scores = {name: torch.rand(params(model)[name].shape) for name in masking.names}
    with pytest.raises(ValueError, match="sparsity"):
        masking.update(scores, sparsity=sparsity)
    assert_same_state(snapshot(model), before)


def test_set_masks_is_all_or_nothing():
    model = mlp()
    masking = attach(model)
    before = snapshot(model)
    good = Mask.random((32, 12), 0.5, 0)
    with pytest.raises(ShapeError, match=r"2\.weight.*\(3, 3\).*\(32, 32\)"):
        masking.set_masks({"0.weight": good, "2.weight": torch.ones(3, 3, dtype=torch.bool)})
    with pytest.raises(ValueError, match=r"7\.weight"):
        masking.set_masks({"0.weight": good, "7.weight": good})
    with pytest.raises(ValueError, match="dtype"):
        masking.set_masks({"0.weight": torch.full((32, 12), 0.5)})
    assert_same_state(snapshot(model), before)
    assert masking.sparsity() == 0.0


def test_sparsity_reports_match_a_count_of_the_masks():
    model = mlp()
    masks = random_masks(model, 0.6)
    masking = attach(model, masks)
    for name, s in masking.layer_sparsity().items():
        assert s == pytest.approx(1 - masks[name].array.mean())
    total = sum(m.array.size for m in masks.values())
    pruned = sum((~m.array).sum() for m in masks.values())
    assert masking.sparsity() == pytest.approx(pruned / total)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_saved_masks_round_trip_into_set_masks(suffix, tmp_path):
    model = mlp()
    masking = attach(model, random_masks(model))
    path = tmp_path / f"masks{suffix}"
    save_masks(path, masking.masks())
    other = mlp(seed=9)
    other_masking = attach(other)
    other_masking.set_masks(load_masks(path))
    assert other_masking.masks() == masking.masks()
    assert torch.count_nonzero(params(other)["2.weight"][~other_masking.mask_tensors()["2.weight"]]) == 0


# --- bad input at attach ---------------------------------------------------------------------------


def test_attaching_twice_raises_naming_the_module():
    model = mlp()
    attach(model)
    with pytest.raises(ValueError, match=r"'0'.*already has a MaskedTraining"):
        attach(model)
    with pytest.raises(ValueError, match="already has a MaskedTraining"):
        attach(model[2])


def test_a_mask_with_the_wrong_shape_raises_shape_error_and_leaves_the_model_unchanged():
    model = mlp()
    before = snapshot(model)
    masks = random_masks(model)
    masks["2.weight"] = Mask.random((32, 31), 0.5, 0)
    with pytest.raises(ShapeError, match=r"2\.weight.*\(32, 31\).*\(32, 32\)"):
        attach(model, masks)
    assert_same_state(snapshot(model), before)
    assert isinstance(attach(model), MaskedTraining)  # nothing half-attached was left behind


def test_masks_for_parameters_that_do_not_exist_raise_naming_them():
    model = mlp()
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"'5\.weight'"):
        attach(model, {"5.weight": torch.ones(3, 3, dtype=torch.bool)})
    assert_same_state(snapshot(model), before)


def test_include_and_exclude_select_the_masked_weights():
    model = mlp()
    masking = attach(model, exclude=("4",))
    assert masking.names == ("0.weight", "2.weight")
    masking.remove()
    with pytest.raises(ValueError, match="exclude"):
        attach(model, {"4.weight": torch.ones(5, 32, dtype=torch.bool)}, exclude=("4",))
    masking = attach(model, {"0.bias": torch.tensor([True, False] * 16)}, include=(nn.Conv2d,))
    assert masking.names == ("0.bias",)
    assert model[0].bias[1] == 0


# --- other layers --------------------------------------------------------------------------------


def test_conv2d_and_embedding_weights_stay_pruned_through_training():
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(20, 16)
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.head = nn.Linear(4 * 4 * 4 + 16, 3)

        def forward(self, tokens, images):
            return self.head(torch.cat([self.conv(images).flatten(1), self.embed(tokens).mean(1)], 1))

    model = Net()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    masking = attach(model, optimizer=optimizer)
    assert masking.names == ("embed.weight", "conv.weight", "head.weight")
    g = torch.Generator().manual_seed(0)
    masking.update({n: torch.rand(params(model)[n].shape, generator=g) for n in masking.names}, sparsity=0.6)
    masks = masking.mask_tensors()
    for _ in range(10):
        tokens = torch.randint(0, 20, (8, 5), generator=g)
        images = torch.randn(8, 1, 4, 4, generator=g)
        optimizer.zero_grad()
        F.cross_entropy(model(tokens, images), torch.randint(0, 3, (8,), generator=g)).backward()
        optimizer.step()
    for name, keep in masks.items():
        weight = params(model)[name]
        assert torch.count_nonzero(weight[~keep]) == 0
        assert torch.count_nonzero(optimizer.state[weight]["exp_avg_sq"][~keep]) == 0


def test_a_sparse_embedding_gradient_is_masked_too():
    torch.manual_seed(0)
    embed = nn.Embedding(10, 4, sparse=True)
    optimizer = torch.optim.SGD(embed.parameters(), lr=0.5)
    keep = torch.rand(10, 4, generator=torch.Generator().manual_seed(0)) > 0.5
    attach(embed, {"weight": keep}, optimizer=optimizer)
    embed(torch.arange(10)).sum().backward()
    optimizer.step()
    assert torch.count_nonzero(embed.weight[~keep]) == 0


def test_any_named_parameter_can_be_masked_such_as_attention_in_proj_weight():
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("attn", nn.MultiheadAttention(8, 2, batch_first=True))
    keep = torch.rand(24, 8, generator=torch.Generator().manual_seed(0)) > 0.5
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    masking = attach(model, {"attn.in_proj_weight": keep}, optimizer=optimizer)
    assert masking.names == ("attn.out_proj.weight", "attn.in_proj_weight")  # out_proj is a Linear
    x = torch.randn(4, 3, 8, generator=torch.Generator().manual_seed(1))
    for _ in range(5):
        optimizer.zero_grad()
        model.attn(x, x, x)[0].square().mean().backward()
        optimizer.step()
    assert torch.count_nonzero(model.attn.in_proj_weight[~keep]) == 0
    assert torch.count_nonzero(model.attn.in_proj_weight[keep]) == int(keep.sum())


def test_update_rejects_sparsity_with_masks_and_mixed_values():
    model = mlp()
    masking = attach(model)
    keep = torch.ones(32, 12, dtype=torch.bool)
    with pytest.raises(ValueError, match="sparsity"):
        masking.update({"0.weight": keep}, sparsity=0.5)
    with pytest.raises(ValueError, match="mixed"):
        masking.update({"0.weight": keep, "2.weight": torch.rand(32, 32)}, sparsity=0.5)
    with pytest.raises(ShapeError, match=r"scores\['2\.weight'\]"):
        masking.update({"2.weight": torch.rand(32, 31)}, sparsity=0.5)
    assert masking.sparsity() == 0.0


def test_tied_weights_get_one_mask():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(10, 6), nn.Linear(6, 10, bias=False))
    model[1].weight = model[0].weight
    masking = attach(model)
    assert masking.names == ("0.weight",)
    masking.set_masks({"1.weight": torch.rand(10, 6, generator=torch.Generator().manual_seed(0)) > 0.5})
    assert model[1].weight is model[0].weight
    assert torch.count_nonzero(model[1].weight[~masking.mask_tensors()["0.weight"]]) == 0


def test_a_torch_prune_reparametrisation_is_taken_over():
    from torch.nn.utils import prune

    model = mlp()
    prune.l1_unstructured(model[2], "weight", amount=0.5)
    torch_mask = model[2].weight_mask.clone()
    effective = model[2].weight.detach().clone()
    masking = attach(model)
    assert isinstance(model[2].weight, nn.Parameter)
    assert "2.weight_orig" not in model.state_dict()
    assert torch.equal(masking.mask_tensors()["2.weight"], torch_mask.bool())
    assert torch.equal(model[2].weight, effective)


def test_a_deep_copy_of_a_masked_model_is_masked_by_its_own_masking():
    model = mlp()
    masks = random_masks(model)
    masking = attach(model, masks, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    clone = copy.deepcopy(model)
    clone_masking = masking_of(clone)
    assert masking_of(model) is masking
    assert clone_masking is not masking and clone_masking.model is clone
    optimizer = torch.optim.SGD(clone.parameters(), lr=0.1, momentum=0.9)
    clone_masking.register_optimizer(optimizer)
    before = snapshot(model)
    train(clone, optimizer, batches(3))
    assert_same_state(snapshot(model), before)
    for name, mask in masks.items():
        assert torch.count_nonzero(params(clone)[name][~mask.to_torch()]) == 0
        assert not torch.equal(params(clone)[name], before[name])
    clone_masking.remove()
    assert masking_of(clone) is None and masking_of(model) is masking
    assert set(clone.state_dict()) == set(mlp().state_dict())
    assert set(model.state_dict()) == set(before)


def test_a_pickled_masked_model_loads_with_its_masking_and_without_the_optimizer(tmp_path):
    model = mlp()
    attach(model, random_masks(model), optimizer=torch.optim.Adam(model.parameters()))
    torch.save(model, tmp_path / "model.pt")
    loaded = torch.load(tmp_path / "model.pt", weights_only=False)
    masking = masking_of(loaded)
    assert masking.model is loaded and masking._optimizers == []
    assert masking.masks() == masking_of(model).masks()


def test_bench_compares_the_masked_step_with_the_dense_step_per_thread_count():
    from sparsehub.nn.bench_masking import bench

    (result,) = bench(quick=True, threads=(1,))
    assert result.threads == 1 and result.ours == "masked"
    assert set(result.timings) == {"dense", "masked"}
    ratio = result.timings["dense"].median / result.timings["masked"].median
    assert result.extra["overhead"] == pytest.approx(1 / ratio - 1, abs=1e-4)
