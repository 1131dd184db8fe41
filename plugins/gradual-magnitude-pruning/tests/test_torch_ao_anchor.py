"""Anchor: torch.ao.pruning's CubicSL schedule and WeightNormSparsifier give the same sparsities and masks.

torch's pair is the reference implementation of paper 31 inside torch: ``CubicSL`` computes
s_t = s_f + (s_0 - s_f)(1 - (t - t_0)/(nΔt))^3 and ``WeightNormSparsifier`` with 1x1 blocks and
the L1 norm masks the smallest |W ⊙ M| of each layer. With the same data and initialisation the
two trainings are the same computation, so the masks must agree at every update step.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.ao.pruning import CubicSL, WeightNormSparsifier  # noqa: E402

from sparsehub.nn.schedule import PolynomialSchedule  # noqa: E402
from sparsehub_gradual_magnitude_pruning.gradual import GradualMagnitudePruner  # noqa: E402

T0, DT, N_UPDATES, FINAL = 5, 4, 10, 0.9


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 40), nn.ReLU(), nn.Linear(40, 30), nn.ReLU(), nn.Linear(30, 7))


@pytest.mark.parametrize("initial", [0.0, 0.3])
def test_polynomial_schedule_equals_cubic_sl_at_every_step(initial):
    model = _model()
    sparsifier = WeightNormSparsifier(sparsity_level=FINAL, sparse_block_shape=(1, 1), zeros_per_block=1)
    sparsifier.prepare(model, [{"tensor_fqn": "2.weight"}])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns that sparsifier.step() never ran
        scheduler = CubicSL(sparsifier, init_sl=initial, init_t=T0, delta_t=DT, total_t=N_UPDATES)
        ours = PolynomialSchedule(
            FINAL, initial=initial, begin_step=T0, end_step=T0 + N_UPDATES * DT, frequency=DT
        )
        for t in range(0, T0 + N_UPDATES * DT + 10):
            assert scheduler.last_epoch == t
            assert ours(t) == pytest.approx(scheduler.get_last_sl()[0], abs=1e-12), t
            scheduler.step()


def test_masks_equal_weight_norm_sparsifier_driven_by_cubic_sl_through_training():
    names = ["2.weight", "4.weight"]
    theirs_model, ours_model = _model(), _model()
    theirs_opt = torch.optim.SGD(theirs_model.parameters(), lr=0.1, momentum=0.9)
    ours_opt = torch.optim.SGD(ours_model.parameters(), lr=0.1, momentum=0.9)

    sparsifier = WeightNormSparsifier(
        sparsity_level=FINAL, sparse_block_shape=(1, 1), zeros_per_block=1, norm=1
    )
    sparsifier.prepare(theirs_model, [{"tensor_fqn": n} for n in names])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        scheduler = CubicSL(sparsifier, init_sl=0.0, init_t=T0, delta_t=DT, total_t=N_UPDATES)
    schedule = PolynomialSchedule(FINAL, begin_step=T0, end_step=T0 + N_UPDATES * DT, frequency=DT)
    pruner = GradualMagnitudePruner(schedule).attach(ours_model, ours_opt)
    assert list(pruner.names) == names

    gen = torch.Generator().manual_seed(1)
    compared = 0
    for t in range(T0 + N_UPDATES * DT + 5):
        x = torch.randn(32, 10, generator=gen)
        y = torch.randint(0, 7, (32,), generator=gen)
        for model, opt in ((theirs_model, theirs_opt), (ours_model, ours_opt)):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        pruner.step(t)
        if schedule.is_update_step(t):
            sparsifier.step()  # masks at CubicSL's level for step t (scheduler.last_epoch == t)
            ours_masks = pruner.masking_.mask_tensors()
            for name in names:
                module = theirs_model.get_submodule(name.split(".")[0])
                their_mask = module.parametrizations.weight[0].mask.bool()
                assert torch.equal(ours_masks[name], their_mask), (t, name)
            compared += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            scheduler.step()
    assert compared == N_UPDATES + 1
    sparsifier.squash_mask()
    for name in names:  # the kept weights trained identically
        torch.testing.assert_close(
            dict(ours_model.named_parameters())[name],
            dict(theirs_model.named_parameters())[name],
            rtol=1e-5,
            atol=1e-6,
        )
