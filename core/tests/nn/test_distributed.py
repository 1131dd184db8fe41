"""Under DDP every rank holds identical masks after every pruning step, even when ranks score differently.

The two-rank test runs this file as a script (``python test_distributed.py --worker RANK PORT OUT``)
in two subprocesses: gloo on 127.0.0.1, timeouts on the rendezvous and on the wait, so a failure
ends the test instead of hanging it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from sparsehub.errors import ShapeError  # noqa: E402
from sparsehub.mask import Mask  # noqa: E402
from sparsehub.nn.distributed import broadcast_masks, is_distributed, sync_masks  # noqa: E402
from sparsehub.nn.local_ranks import init_local_group, run_local_ranks  # noqa: E402
from sparsehub.nn.masking import attach  # noqa: E402

WORLD = 2
STEPS = 8
PRUNE_EVERY = 2
DEADLINE_S = 30.0  # never reached in a passing run (5-10 s on 2 busy cores); bounds a broken one


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def _worker(rank: int, port: int, out: Path) -> None:
    """One rank: DDP training with a pruning step every PRUNE_EVERY steps whose scores differ per rank."""
    init_local_group(rank, WORLD, port, timeout_s=20)
    try:
        model = _model()
        masking = attach(model)
        ddp = nn.parallel.DistributedDataParallel(model)
        optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        masking.register_optimizer(optimizer)
        data = torch.Generator().manual_seed(100 + rank)  # each rank sees its own shard
        scoring = torch.Generator().manual_seed(200 + rank)  # and would prune its own entries
        records = []
        for step in range(STEPS):
            x = torch.randn(8, 6, generator=data)
            y = torch.randint(0, 3, (8,), generator=data)
            optimizer.zero_grad()
            F.cross_entropy(ddp(x), y).backward()
            optimizer.step()
            record: dict = {"weights": {n: p.detach().clone() for n, p in model.named_parameters()}}
            if step % PRUNE_EVERY == PRUNE_EVERY - 1:
                shapes = {n: p.shape for n, p in model.named_parameters() if n in masking.names}
                scores = {n: torch.rand(shape, generator=scoring) for n, shape in shapes.items()}
                local = Mask.from_scores(scores, sparsity=0.3 + 0.05 * step)
                if (step // PRUNE_EVERY) % 2 == 0:
                    masking.update(local)  # prune locally, then copy rank 0's state everywhere
                    assert sync_masks(masking)
                else:
                    masking.update(broadcast_masks(local))  # agree first, then prune
                masks = masking.mask_tensors()
                for name, mask in masks.items():  # the in-process check: all-gather and compare
                    gathered = [torch.empty(mask.shape, dtype=torch.uint8) for _ in range(WORLD)]
                    dist.all_gather(gathered, mask.to(torch.uint8))
                    assert all(torch.equal(gathered[0], g) for g in gathered), (step, name)
                record["local"] = {n: m.to_torch() for n, m in local.items()}
                record["masks"] = {n: m.clone() for n, m in masks.items()}
                record["pruned_weights"] = {n: p.detach().clone() for n, p in model.named_parameters()}
                record["momentum"] = {
                    n: optimizer.state[p]["momentum_buffer"].clone()
                    for n, p in model.named_parameters()
                    if n in masks
                }
            records.append(record)
        # ranks that disagree on what they hold must all raise, not hang in a broadcast
        try:
            broadcast_masks({f"only on rank {rank}": torch.ones(3, dtype=torch.bool)})
            records.append({"mismatch_raised": False})
        except ShapeError:
            records.append({"mismatch_raised": True})
        torch.save(records, out / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _run_ranks(out: Path) -> None:
    run_local_ranks(__file__, str(out), world_size=WORLD, deadline_s=DEADLINE_S)


def test_two_ddp_ranks_hold_identical_masks_after_every_pruning_step(tmp_path):
    _run_ranks(tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    assert [r[-1]["mismatch_raised"] for r in ranks] == [True] * WORLD
    ranks = [r[:-1] for r in ranks]
    prunes = [i for i, record in enumerate(ranks[0]) if "masks" in record]
    assert len(prunes) == STEPS // PRUNE_EVERY
    local_differed = False
    for i in range(STEPS):
        for name, weight in ranks[0][i]["weights"].items():  # DDP keeps replicas equal
            assert torch.equal(weight, ranks[1][i]["weights"][name]), (i, name)
    for i in prunes:
        zero, one = ranks[0][i], ranks[1][i]
        for name, mask in zero["masks"].items():
            assert torch.equal(mask, one["masks"][name]), (i, name)
            assert torch.equal(mask, zero["local"][name])  # the masks are rank 0's
            local_differed |= not torch.equal(zero["local"][name], one["local"][name])
            assert torch.equal(zero["pruned_weights"][name], one["pruned_weights"][name])
            assert torch.count_nonzero(zero["pruned_weights"][name][~mask]) == 0
            assert torch.equal(zero["momentum"][name], one["momentum"][name])
    assert local_differed, "the ranks' own scores must disagree, else the test shows nothing"


def test_syncing_is_a_no_op_without_a_process_group():
    assert not is_distributed()
    model = _model()
    masking = attach(model)
    keep = torch.rand(16, 6, generator=torch.Generator().manual_seed(0)) > 0.5
    masking.update({"0.weight": keep})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert sync_masks(masking) is False
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert torch.equal(broadcast_masks({"0.weight": keep})["0.weight"].to_torch(), keep)


def test_sync_masks_rejects_what_is_not_a_masking():
    with pytest.raises(ValueError, match="masking"):
        sync_masks(_model())


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    _worker(int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
