"""The benchmark protocol: ours against the anchors, in one process, as ratios.

Absolute times on a shared 2-core CPU drift by up to 2x between runs; ratios measured
interleaved in one process do not. :func:`compare` sets the thread count of every runtime it
can reach (BLAS through threadpoolctl, torch, numba), warms every candidate up (numba compiles
there, never inside a timing), then times the candidates round-robin and reports medians and
``ratio[name] = median(name) / median(ours)``: above 1 means ours is faster.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import bad_value

__all__ = [
    "BenchResult",
    "Timing",
    "bandwidth_fraction",
    "compare",
    "copy_bandwidth",
    "format_results",
    "machine_info",
    "threads",
]


@dataclass
class Timing:
    """Seconds per call of one candidate: the median and minimum over repeats."""

    median: float
    minimum: float
    times: list[float]
    number: int  # calls per measured repeat (fast calls are looped to reach a measurable time)


@dataclass
class BenchResult:
    """One benchmark case: every candidate's timing and its ratio to ours."""

    case: str
    threads: int
    ours: str
    timings: dict[str, Timing]
    ratios: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)
    blas_threads_controlled: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def threads(n: int) -> Iterator[bool]:
    """Run the body with ``n`` threads in BLAS, torch and numba; yields whether BLAS was controlled.

    Runtimes are only adjusted when already imported (torch, numba) so that benchmarking never
    pays for an import it does not need.
    """
    if not isinstance(n, int) or n < 1:
        raise bad_value("threads", n, "a positive int")
    restore: list[Callable[[], None]] = []
    blas_controlled = False
    try:
        try:
            from threadpoolctl import threadpool_limits

            limiter = threadpool_limits(limits=n)
            restore.append(limiter.restore_original_limits)
            blas_controlled = True
        except ImportError:
            pass
        if "torch" in sys.modules:
            torch = sys.modules["torch"]
            old = torch.get_num_threads()
            torch.set_num_threads(n)
            restore.append(lambda: torch.set_num_threads(old))
        if "numba" in sys.modules:
            numba = sys.modules["numba"]
            old_nb = numba.get_num_threads()
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
            restore.append(lambda: numba.set_num_threads(old_nb))
        yield blas_controlled
    finally:
        for undo in reversed(restore):
            undo()


def _calibrate(fn: Callable[[], Any], min_time: float) -> int:
    """Calls per repeat so that one repeat takes at least ``min_time`` seconds."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time or number >= 1 << 20:
            return number
        number *= max(2, min(10, int(min_time / max(elapsed, 1e-9)) + 1))


def compare(
    case: str,
    candidates: dict[str, Callable[[], Any]],
    *,
    ours: str,
    threads: int = 1,
    repeats: int = 7,
    warmup: int = 2,
    min_time: float = 0.01,
    extra: dict[str, Any] | None = None,
) -> BenchResult:
    """Time ``candidates`` (zero-argument callables) interleaved and return medians and ratios.

    Each candidate is called ``warmup`` times first, then ``repeats`` rounds are run in a
    rotating order so that drift of the machine hits every candidate alike.
    """
    if ours not in candidates:
        raise bad_value("ours", ours, f"one of the candidate names {sorted(candidates)}")
    if repeats < 1 or warmup < 0:
        raise bad_value("repeats/warmup", (repeats, warmup), "repeats >= 1 and warmup >= 0")
    names = list(candidates)
    with _threads(threads) as blas_ok:
        for name in names:
            for _ in range(warmup):
                candidates[name]()
        numbers = {name: _calibrate(candidates[name], min_time) for name in names}
        samples: dict[str, list[float]] = {name: [] for name in names}
        for r in range(repeats):
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order:
                fn, number = candidates[name], numbers[name]
                start = time.perf_counter()
                for _ in range(number):
                    fn()
                samples[name].append((time.perf_counter() - start) / number)
    timings = {
        n: Timing(statistics.median(s), min(s), s, numbers[n]) for n, s in samples.items()
    }
    ratios = {n: timings[n].median / timings[ours].median for n in names if n != ours}
    return BenchResult(case, threads, ours, timings, ratios, dict(extra or {}), blas_ok)


_threads = threads  # `compare` shadows the name with its argument


_COPY_BANDWIDTH: dict[tuple[int, int], float] = {}


def copy_bandwidth(*, threads: int = 1, nbytes: int = 256 << 20, repeats: int = 5) -> float:
    """The machine's measured memory copy bandwidth in bytes/s (bytes read plus bytes written).

    Memory-bound kernels (SpMM, SpGEMM, sparse convolutions) are limited by how fast memory
    moves, not by arithmetic; a kernel's achieved bandwidth divided by this figure says how close
    it is to the physical limit. The buffer (``nbytes``, default 256 MiB) is far larger than any
    cache. numpy's copy runs on one thread, so with ``threads > 1`` the buffer is split into
    that many chunks copied by parallel threads (numpy releases the GIL while copying). The best
    of ``repeats`` is kept and cached per ``(threads, nbytes)`` for the process.
    """
    import numpy as np

    if not isinstance(threads, int) or threads < 1:
        raise bad_value("threads", threads, "a positive int")
    if not isinstance(nbytes, int) or nbytes < 1 << 20:
        raise bad_value("nbytes", nbytes, "an int of at least 1 MiB (1048576)")
    key = (threads, nbytes)
    if key in _COPY_BANDWIDTH:
        return _COPY_BANDWIDTH[key]
    n = nbytes // 8
    src = np.ones(n, dtype=np.float64)
    dst = np.empty_like(src)
    bounds = np.linspace(0, n, threads + 1).astype(np.int64)
    chunks = [(dst[lo:hi], src[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
    best = float("inf")
    if threads == 1:
        for _ in range(repeats):
            start = time.perf_counter()
            np.copyto(dst, src)
            best = min(best, time.perf_counter() - start)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            for _ in range(repeats):
                start = time.perf_counter()
                list(pool.map(lambda c: np.copyto(*c), chunks))
                best = min(best, time.perf_counter() - start)
    _COPY_BANDWIDTH[key] = 2 * src.nbytes / best
    return _COPY_BANDWIDTH[key]


def bandwidth_fraction(bytes_moved: float, seconds: float, *, threads: int = 1) -> dict[str, float]:
    """A kernel's achieved bandwidth and its fraction of :func:`copy_bandwidth` at ``threads``.

    ``bytes_moved`` is the kernel's compulsory traffic (every operand read once, the output
    written once). Returns ``{"achieved_GBps", "copy_GBps", "fraction_of_copy"}`` for a
    :class:`BenchResult`'s ``extra``.
    """
    if not seconds > 0:
        raise bad_value("seconds", seconds, "a positive time")
    if not bytes_moved >= 0:
        raise bad_value("bytes_moved", bytes_moved, "a non-negative byte count")
    achieved = bytes_moved / seconds
    copy = copy_bandwidth(threads=threads)
    return {
        "achieved_GBps": round(achieved / 1e9, 3),
        "copy_GBps": round(copy / 1e9, 3),
        "fraction_of_copy": round(achieved / copy, 4),
    }


def machine_info() -> dict[str, Any]:
    """What a benchmark result needs next to it to be read: CPU, cores and library versions."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    for mod in ("numpy", "scipy", "torch", "numba"):
        if mod in sys.modules:
            info[mod] = getattr(sys.modules[mod], "__version__", "?")
    return info


def format_results(results: list[BenchResult]) -> str:
    """A plain-text table: one line per case and candidate, medians and ratios to ours."""
    lines = []
    for res in results:
        note = "" if res.blas_threads_controlled else " (BLAS threads not controlled: no threadpoolctl)"
        lines.append(f"{res.case} — threads={res.threads}{note}")
        for name, t in sorted(res.timings.items(), key=lambda kv: kv[1].median):
            ratio = "ours" if name == res.ours else f"{res.ratios[name]:.2f}x ours"
            lines.append(f"  {name:<28} median {t.median * 1e3:10.3f} ms   min {t.minimum * 1e3:10.3f} ms   {ratio}")
        for key, value in res.extra.items():
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)


def dump_json(results: list[BenchResult], path: str) -> None:
    """Write results plus :func:`machine_info` to ``path``."""
    with open(path, "w") as fh:
        json.dump({"machine": machine_info(), "results": [r.to_dict() for r in results]}, fh, indent=2)
