"""The pluggy hookimpl that announces backend ``"numba"``; importing it imports no numba."""

from __future__ import annotations

import importlib.util

from sparsehub.backend import Backend
from sparsehub.hookspecs import hookimpl


class NumbaBackend(Backend):
    """Parallel CPU kernels compiled by numba (``prange`` over rows, one thread pool).

    Thread count: ``numba.set_num_threads(n)`` or ``NUMBA_NUM_THREADS``.
    """

    name = "numba"
    device = "cpu"
    priority = 10
    bench = "sparsehub_numba.bench:bench"

    def available(self) -> bool:
        return importlib.util.find_spec("numba") is not None

    def ops(self) -> dict[str, str]:
        return {op: f"sparsehub_numba.kernels:{op}" for op in ("spmm", "nm_matmul", "sddmm")}


@hookimpl
def sparsehub_backends() -> list[Backend]:
    return [NumbaBackend()]
