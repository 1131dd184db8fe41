"""A dependency-free progress bar for long runs (``sparsehub repro --all``, training loops).

On a terminal it redraws one line; elsewhere (CI logs, pipes) it prints one line per step so
logs stay readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

__all__ = ["progress"]


def progress(
    items: Iterable[T],
    *,
    total: int | None = None,
    desc: str = "",
    stream: TextIO | None = None,
    width: int = 24,
    label=str,
) -> Iterator[T]:
    """Yield ``items`` while drawing ``desc [#####-----] i/total elapsed label(item)`` on ``stream``."""
    stream = stream or sys.stderr
    if total is None:
        total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    tty = hasattr(stream, "isatty") and stream.isatty()
    start = time.perf_counter()
    done = 0
    for item in items:
        _draw(stream, tty, desc, done, total, width, time.perf_counter() - start, label(item))
        yield item
        done += 1
    _draw(stream, tty, desc, done, total, width, time.perf_counter() - start, "done")
    if tty:
        stream.write("\n")
    stream.flush()


def _draw(stream: TextIO, tty: bool, desc: str, done: int, total: int | None, width: int,
          elapsed: float, what: str) -> None:
    if total:
        filled = int(width * done / total)
        bar = f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total}"
    else:
        bar = f"{done}"
    line = f"{desc} {bar} {elapsed:6.1f}s {what}".strip()
    if tty:
        stream.write("\r\x1b[2K" + line)
    else:
        stream.write(line + "\n")
    stream.flush()
