"""PointwisePruner: the core's cubic schedule and masks, applied to the 1x1 convolutions only."""

import pytest
import torch
from torch import nn

from sparsehub.nn.fixtures import train
from sparsehub.nn.schedule import PolynomialSchedule
from sparsehub_fast_sparse_convnets import PointwisePruner, tiny_mobilenet


def test_prunes_only_pointwise_convs_to_the_scheduled_sparsity_with_shrinking_masks():
    model = tiny_mobilenet(0.5, seed=0)
    schedule = PolynomialSchedule(final=0.9, begin_step=0, end_step=8, frequency=2)
    pruner = PointwisePruner(schedule).attach(model)
    assert pruner.names_ == ("6.weight", "12.weight", "18.weight", "24.weight")
    X, y = torch.randn(48, 1, 16, 16), torch.randint(0, 10, (48,))
    previous = {n: m.array.copy() for n, m in pruner.masks().items()}
    seen = []

    def step(t):
        pruner(t)
        masks = pruner.masks()
        for n, m in masks.items():
            assert not (m.array & ~previous[n]).any()  # never regrown
            previous[n] = m.array.copy()
        seen.append(pruner.sparsity["6.weight"])

    train(model, (X, y), epochs=3, lr=0.05, batch_size=16, seed=0, masking=step)  # 9 steps
    assert seen == sorted(seen) and all(abs(s - 0.9) < 0.01 for s in pruner.sparsity.values())
    masks = pruner.remove()
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            zeros = float((module.weight == 0).float().mean())
            if name + ".weight" in masks:
                assert abs(zeros - 0.9) < 0.01
            else:
                assert zeros == 0.0  # stem and depthwise convs stay dense


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="schedule"):
        PointwisePruner(0.9)
    pruner = PointwisePruner(PolynomialSchedule(final=0.5, end_step=10))
    with pytest.raises(ValueError, match="1x1 Conv2d"):
        pruner.attach(nn.Sequential(nn.Conv2d(1, 2, 3)))
    with pytest.raises(RuntimeError, match="not attached"):
        pruner.step(0)
