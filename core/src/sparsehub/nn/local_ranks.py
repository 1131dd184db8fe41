"""Run a few torch.distributed ranks on this machine, for tests of DDP behaviour.

A test file doubles as the rank's script: :func:`run_local_ranks` starts
``python SCRIPT --worker RANK PORT *args`` once per rank, the script's ``__main__`` calls its
worker, which calls :func:`init_local_group` first. Every connection stays on 127.0.0.1 and every
wait is bounded, so a broken rank fails the test instead of hanging it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

__all__ = ["free_port", "init_local_group", "run_local_ranks"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_local_group(rank: int, world_size: int, port: int, timeout_s: float = 30.0) -> None:
    """Join the gloo process group of :func:`run_local_ranks` (one torch thread per rank)."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size, timeout=timedelta(seconds=timeout_s))


def run_local_ranks(script: str | Path, *args: str, world_size: int = 2, deadline_s: float = 60.0) -> None:
    """Run ``script --worker RANK PORT *args`` for every rank; raise RuntimeError with their logs on failure.

    A rank that exits non-zero, or the deadline passing, stops every rank at once.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"  # keep gloo's pairwise connections on the loopback device
    port = free_port()
    procs = [
        subprocess.Popen([sys.executable, str(script), "--worker", str(rank), str(port), *args],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for rank in range(world_size)
    ]
    deadline = time.monotonic() + deadline_s
    try:
        while any(p.poll() is None for p in procs):
            if any(p.returncode not in (None, 0) for p in procs) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        logs = [p.communicate(timeout=10)[0].decode(errors="replace") for p in procs]
    codes = [p.returncode for p in procs]
    if codes != [0] * world_size:
        report = "\n".join(f"--- rank {r} exited {c}:\n{log[-3000:]}" for r, (c, log) in enumerate(zip(codes, logs)))
        raise RuntimeError(f"a rank failed or the {deadline_s:.0f} s deadline passed:\n{report}")
