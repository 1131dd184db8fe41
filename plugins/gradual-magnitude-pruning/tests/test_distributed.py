"""Under DDP (2 gloo ranks on 127.0.0.1) every rank holds rank 0's masks after every GMP pruning step.

DDP keeps replicas equal, so to show that the pruner itself syncs, rank 1 perturbs its own copy of
the weights right before each update step: its local magnitudes, and so its local masks, differ,
and only the sync after the pruning step makes them agree. The test runs this file as a script
(``python test_distributed.py --worker RANK PORT OUT``) with timeouts, so a failure cannot hang it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from sparsehub.nn.local_ranks import init_local_group, run_local_ranks  # noqa: E402

WORLD = 2
STEPS = 14
DEADLINE_S = 90.0  # never reached in a passing run (a few seconds); bounds a broken one


def _worker(rank: int, port: int, out: Path) -> None:
    from sparsehub.nn.schedule import PolynomialSchedule
    from sparsehub_gradual_magnitude_pruning.gradual import GradualMagnitudePruner

    init_local_group(rank, WORLD, port, timeout_s=30)
    try:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))
        schedule = PolynomialSchedule(0.8, begin_step=1, end_step=12, frequency=3)
        pruner = GradualMagnitudePruner(schedule)
        ddp = nn.parallel.DistributedDataParallel(model)
        optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
        pruner.attach(model, optimizer)
        data = torch.Generator().manual_seed(100 + rank)  # each rank its own shard
        noise = torch.Generator().manual_seed(7)
        records = []
        for step in range(STEPS):
            x, y = torch.randn(8, 6, generator=data), torch.randint(0, 3, (8,), generator=data)
            optimizer.zero_grad()
            F.cross_entropy(ddp(x), y).backward()
            optimizer.step()
            due = schedule.is_update_step(step)
            if (
                due and schedule(step) > 0 and rank == 1
            ):  # a rank that drifted: its own magnitudes rank the weights differently
                with torch.no_grad():
                    for name in pruner.names:
                        weight = dict(model.named_parameters())[name]
                        weight.mul_(torch.rand(weight.shape, generator=noise) + 0.5)
            local = {
                name: dict(model.named_parameters())[name].detach().abs().clone() for name in pruner.names
            }
            pruner.step(step)
            if due:
                records.append(
                    {
                        "step": step,
                        "masks": {n: m.clone() for n, m in pruner.masking_.mask_tensors().items()},
                        "weights": {n: p.detach().clone() for n, p in model.named_parameters()},
                        "local_scores": local,
                    }
                )
        torch.save(records, out / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _run_ranks(out: Path) -> None:
    run_local_ranks(__file__, str(out), world_size=WORLD, deadline_s=DEADLINE_S)


def test_two_ddp_ranks_hold_rank_zeros_masks_and_weights_after_every_pruning_step(tmp_path):
    from sparsehub.mask import Mask

    _run_ranks(tmp_path)
    zero, one = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD))
    assert [r["step"] for r in zero] == [1, 4, 7, 10, 12]
    local_masks_differed = False
    for a, b in zip(zero, one):
        for name, mask in a["masks"].items():
            assert torch.equal(mask, b["masks"][name]), (a["step"], name)
            # the masks are what rank 0's own magnitudes select (same count, exact top-k)
            n_kept = int(mask.count_nonzero())
            if n_kept < mask.numel():
                own = Mask.from_scores(a["local_scores"][name], sparsity=1 - n_kept / mask.numel())
                theirs = Mask.from_scores(b["local_scores"][name], sparsity=1 - n_kept / mask.numel())
                assert torch.equal(mask, own.to_torch()), (a["step"], name)
                local_masks_differed |= not torch.equal(own.to_torch(), theirs.to_torch())
        for name, weight in a["weights"].items():
            assert torch.equal(weight, b["weights"][name]), (a["step"], name)
    assert local_masks_differed, "rank 1's own magnitudes must disagree, else the test shows nothing"


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "--worker":
    _worker(int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
