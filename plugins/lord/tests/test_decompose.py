"""decompose on seeded random Llama (GQA) and GPT-2 (Conv1D) models: structure, counts, errors, I/O."""

import copy

import pytest

torch = pytest.importorskip("torch")

from sparsehub.errors import ShapeError  # noqa: E402
from sparsehub.nn.layout import is_linear, weight_matrix  # noqa: E402
from sparsehub_lord import LowRankLinear, decompose, load_decomposed, plan_ranks  # noqa: E402

IDS = torch.arange(24).reshape(2, 12) % 96


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(before, model):
    after = model.state_dict()
    return before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_keep_gives_r_floor_keep_in_out_over_in_plus_out_per_layer(random_model):
    plan = plan_ranks(random_model, keep=0.5)
    dense = dict((n, weight_matrix(random_model.get_submodule(n)).shape) for n in plan)
    for name, r in plan.items():
        out_f, in_f = dense[name]
        assert r == int(0.5 * in_f * out_f / (in_f + out_f))


def test_parameter_count_is_r_times_in_plus_out_per_factorised_layer(random_model, calibration):
    shapes = {
        n: (weight_matrix(m).shape, m.bias is not None)
        for n, m in random_model.named_modules()
        if is_linear(m)
    }
    before = sum(p.numel() for p in random_model.parameters())
    decompose(random_model, keep=0.4, calibration=calibration)
    plan = random_model.config.lord["ranks"]
    assert plan
    saved = 0
    for name, r in plan.items():
        layer = random_model.get_submodule(name)
        assert isinstance(layer, LowRankLinear) and layer.rank == r
        (out_f, in_f), _ = shapes[name]
        assert sum(p.numel() for p in layer.B.parameters()) + layer.A.weight.numel() == r * (in_f + out_f)
        saved += in_f * out_f - r * (in_f + out_f)
    assert sum(p.numel() for p in random_model.parameters()) == before - saved


def test_rank_that_saves_nothing_leaves_the_layer_dense(make_model):
    model = make_model("llama")  # d=32, k/v project 32 -> 16: break-even rank 10.67
    plan = plan_ranks(model, rank=12)
    assert not any(n.endswith(("k_proj", "v_proj")) for n in plan)
    assert any(n.endswith("q_proj") for n in plan)  # 32x32: break-even 16


def test_weight_mode_equals_the_dense_model_with_truncated_svd_weights(random_model):
    reference = copy.deepcopy(random_model)
    decompose(random_model, rank=4, mode="weight")
    with torch.no_grad():
        for name in random_model.config.lord["ranks"]:
            w = weight_matrix(reference.get_submodule(name))
            u, s, vh = torch.linalg.svd(w.double(), full_matrices=False)
            w.copy_(((u[:, :4] * s[:4]) @ vh[:4]).float())
        assert torch.allclose(random_model(IDS).logits, reference(IDS).logits, atol=1e-4)


def test_activation_mode_stays_closer_to_the_dense_logits_than_weight_mode(make_model, calibration):
    dense = make_model("llama")
    errors = {}
    for mode in ("activation", "weight"):
        model = decompose(
            make_model("llama"), rank=8, mode=mode, calibration=calibration if mode == "activation" else None
        )
        with torch.no_grad():
            errors[mode] = float((model(calibration[0]).logits - dense(calibration[0]).logits).norm())
    assert errors["activation"] < errors["weight"]


def test_save_pretrained_then_load_decomposed_gives_identical_logits(random_model, calibration, tmp_path):
    decompose(random_model, keep=0.5, calibration=calibration)
    random_model.save_pretrained(tmp_path)
    loaded = load_decomposed(tmp_path)
    assert type(loaded) is type(random_model)
    assert loaded.config.lord == random_model.config.lord
    with torch.no_grad():
        assert torch.equal(loaded(IDS).logits, random_model(IDS).logits)


def test_factorised_model_trains(random_model, calibration):
    decompose(random_model, keep=0.5, calibration=calibration)
    random_model.train()
    opt = torch.optim.SGD(random_model.parameters(), lr=0.05)
    first = None
    for _ in range(5):
        loss = random_model(IDS, labels=IDS).loss
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        layer = random_model.get_submodule(next(iter(random_model.config.lord["ranks"])))
        assert layer.A.weight.grad is not None and layer.B.weight.grad is not None
        opt.step()
    with torch.no_grad():
        assert float(random_model(IDS, labels=IDS).loss) < first


def test_load_decomposed_rejects_a_plain_checkpoint(make_model, tmp_path):
    make_model("llama").save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"config\.lord"):
        load_decomposed(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "keep, rank"),
        ({"keep": 0.5, "rank": 4}, "keep, rank"),
        ({"keep": 1.0}, "keep"),
        ({"keep": 0.0}, "keep"),
        ({"rank": 0}, "rank"),
        ({"rank": {"nope": 3}}, "rank"),
        ({"rank": 4, "mode": "svd"}, "mode"),
        ({"rank": 4, "targets": ("nope",)}, "targets"),
        ({"rank": 4, "mode": "activation"}, "calibration"),
        ({"rank": 4, "mode": "weight", "calibration": [IDS]}, "calibration"),
        ({"rank": 4, "calibration": []}, "calibration"),
        ({"rank": 4, "calibration": [torch.zeros(2, 4)]}, "dtype"),
        ({"rank": 4, "calibration": [torch.zeros(8, dtype=torch.long)]}, "shape"),
        ({"rank": 4, "calibration": [torch.zeros(1, 2, dtype=torch.long)]}, "tokens"),
        ({"rank": 100_000}, "keep, rank"),
    ],
)
def test_bad_input_is_rejected_before_the_model_changes(random_model, kwargs, match):
    before = _state(random_model)
    with pytest.raises((ValueError, TypeError, ShapeError), match=match):
        decompose(random_model, **kwargs)
    assert _same(before, random_model)
    assert not hasattr(random_model.config, "lord")


def test_unknown_architecture_is_rejected_naming_the_class():
    from sparsehub.nn.layout import UnsupportedArchitecture

    with pytest.raises(UnsupportedArchitecture, match="Sequential"):
        decompose(torch.nn.Sequential(torch.nn.Linear(4, 4)), rank=1, mode="weight")


def test_a_failure_half_way_restores_the_replaced_layers(make_model, calibration, monkeypatch):
    import sparsehub_lord.compress as module

    model = make_model("llama")
    before = _state(model)
    calls = []
    real = module._factorised

    def failing(layer, rank, xtx, mode, root=None):
        calls.append(rank)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return real(layer, rank, xtx, mode, root)

    monkeypatch.setattr(module, "_factorised", failing)
    with pytest.raises(RuntimeError, match="boom"):
        decompose(model, rank=8, calibration=calibration)
    assert _same(before, model)
    assert not any(isinstance(m, LowRankLinear) for m in model.modules())
