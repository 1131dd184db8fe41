"""Counters agree with hand-computed parameters, non-zeros and FLOPs, and with torch's FLOP counter."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from sparsehub.errors import ShapeError  # noqa: E402
from sparsehub.mask import Mask  # noqa: E402
from sparsehub.nn.counters import count  # noqa: E402


def tiny_mlp() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0, 2, 0], [0, 0, 3, 4], [5, 6, 0, 0]]))  # 6 of 12 non-zero
        model[0].bias.copy_(torch.tensor([1.0, 0.0, 1.0]))  # 2 of 3
        model[2].weight.fill_(1.0)
        model[2].bias.fill_(0.5)
    return model


def tiny_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),  # 1x8x8 -> 2x8x8
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.MaxPool2d(2),  # -> 2x4x4
        nn.Conv2d(2, 4, 3, groups=2, bias=False),  # -> 4x2x2
        nn.Flatten(),
        nn.Linear(16, 3),
    )


def test_mlp_counts_equal_the_hand_computed_ones():
    table = count(tiny_mlp(), example_input=torch.zeros(5, 4))
    first, second = table["0"], table["2"]
    assert (first.params, first.nonzeros) == (15, 8)
    assert (second.params, second.nonzeros) == (8, 8)
    assert first.density == pytest.approx(8 / 15)
    assert first.dense_flops == 2 * 4 * 3 and first.sparse_flops == 2 * 6 * 1  # 6 kept weights, 1 row
    assert second.dense_flops == second.sparse_flops == 2 * 3 * 2
    assert (table.total.params, table.total.nonzeros) == (23, 16)
    assert (table.total.dense_flops, table.total.sparse_flops) == (36, 24)


def test_masks_set_the_nonzeros_and_sparse_flops_of_their_layer():
    model = tiny_mlp()
    keep = torch.zeros(2, 3, dtype=torch.bool)
    keep[0, 0] = keep[1, 2] = True
    for mask in (keep, Mask(keep.numpy())):
        row = count(model, {"2.weight": mask}, (1, 4))["2"]
        assert row.nonzeros == 2 + 2  # two kept weights, two non-zero biases
        assert row.sparse_flops == 2 * 2 and row.dense_flops == 12


def test_cnn_counts_equal_the_hand_computed_ones():
    table = count(tiny_cnn(), example_input=(3, 1, 8, 8))
    assert [r.name for r in table] == ["0", "1", "4", "6"]
    assert [r.type for r in table] == ["Conv2d", "BatchNorm2d", "Conv2d", "Linear"]
    assert [r.params for r in table] == [2 * 9 + 2, 4, 4 * 1 * 9, 16 * 3 + 3]
    # conv0: 128 output positions x 9 MACs; conv4 (groups 2): 16 outputs x 9; linear: 16 x 3
    assert [r.dense_flops for r in table] == [2 * 128 * 9, 0, 2 * 16 * 9, 2 * 16 * 3]


def test_dense_flops_agree_with_torch_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=4),
        nn.ConvTranspose2d(8, 4, 2, stride=2),
        nn.Flatten(),
        nn.Linear(4 * 16 * 16, 10),
    )
    x = torch.randn(2, 3, 16, 16)
    with FlopCounterMode(display=False) as counter:
        model(x)
    assert count(model, example_input=x).total.dense_flops * 2 == counter.get_total_flops()


def test_conv1d_and_sequence_linear_count_every_position():
    model = nn.Sequential(nn.Conv1d(2, 3, 5, stride=2))  # length 11 -> 4
    assert count(model, example_input=(1, 2, 11)).total.dense_flops == 2 * (3 * 4) * (2 * 5)
    lin = nn.Linear(6, 5)
    assert count(lin, example_input=torch.zeros(2, 7, 6)).total.dense_flops == 2 * 7 * 6 * 5


def test_a_tied_weight_counts_its_parameters_once_and_its_flops_per_use():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4, bias=False)
            self.b = nn.Linear(4, 4, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(self.a(x)))

    table = count(Tied(), example_input=(1, 4))
    assert table.total.params == sum(p.numel() for p in Tied().parameters()) == 16
    assert table["a"].dense_flops == 2 * 2 * 16 and table["b"].dense_flops == 2 * 16


def test_effective_weights_of_a_reparametrised_model_are_counted():
    from torch.nn.utils import prune

    model = tiny_mlp()
    prune.l1_unstructured(model[2], "weight", amount=4)
    row = count(model, example_input=(1, 4))["2"]
    assert row.params == 8 and row.nonzeros == 2 + 2
    assert row.sparse_flops == 2 * 2


def test_counting_leaves_training_flags_and_batchnorm_statistics_alone():
    model = tiny_cnn().train()
    model[1].eval()
    before = model[1].running_mean.clone()
    count(model, example_input=torch.randn(4, 1, 8, 8) + 3)
    assert model.training and not model[1].training and model[0].training
    assert torch.equal(model[1].running_mean, before)


def test_the_table_prints_aligned_and_serialises_to_json():
    table = count(tiny_cnn(), example_input=(1, 1, 8, 8))
    lines = str(table).splitlines()
    assert lines[0].split()[:3] == ["layer", "type", "params"]
    assert len({len(line) for line in lines}) == 1  # every row as wide as the header
    assert lines[-1].startswith("total")
    doc = json.loads(json.dumps(table.to_dict()))
    assert doc["total"]["params"] == sum(p.numel() for p in tiny_cnn().parameters())
    assert len(doc["rows"]) == len(table) == 4


def test_without_example_input_the_flop_columns_are_empty():
    table = count(tiny_mlp())
    assert table.total.dense_flops is None and table["0"].sparse_flops is None
    assert "-" in str(table).splitlines()[-1]


def test_bad_masks_and_inputs_are_rejected():
    model = tiny_mlp()
    with pytest.raises(ValueError, match=r"masks='fc\.weight' is not allowed"):
        count(model, {"fc.weight": torch.ones(3, 4, dtype=torch.bool)})
    with pytest.raises(ShapeError, match=r"mask.shape=\(4, 3\)"):
        count(model, {"0.weight": torch.ones(4, 3, dtype=torch.bool)})
    with pytest.raises(ValueError, match="example_input"):
        count(model, example_input="x")
    with pytest.raises(ValueError, match="model="):
        count("model")
