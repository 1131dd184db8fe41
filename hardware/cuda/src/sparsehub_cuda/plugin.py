"""The pluggy hookimpl that announces backend ``"cuda"``; importing it imports no numba."""

from __future__ import annotations

import importlib.util
import os
import sys

from sparsehub.backend import Backend
from sparsehub.hookspecs import hookimpl


def simulator_enabled() -> bool:
    """Whether numba's CUDA simulator is (or will be, once numba.cuda is imported) in use."""
    numba = sys.modules.get("numba")
    if numba is not None and getattr(numba.config, "ENABLE_CUDASIM", 0):
        return True
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0").strip() not in ("", "0")


def cuda_gpu_present() -> bool:
    """Whether numba.cuda sees a real GPU: numba installed, simulator off, a driver and a device.

    Imports ``numba.cuda`` (about 0.1 s), so callers cache the answer.
    """
    if simulator_enabled() or importlib.util.find_spec("numba") is None:
        return False
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # a broken driver or toolkit means "not available", never a crash in dispatch
        return False


class CudaBackend(Backend):
    """numba.cuda kernels on the first GPU; numpy in, numpy out (the transfers are part of the op).

    ``available()`` is False without a CUDA GPU and under ``NUMBA_ENABLE_CUDASIM=1``: the
    simulator runs the kernels correctly but thousands of times slower than the CPU backends.
    """

    name = "cuda"
    device = "cuda"
    priority = 20  # above "numba" (10): a GPU, when there is one, wins
    bench = "sparsehub_cuda.bench:bench"

    def __init__(self) -> None:
        self._available: bool | None = None

    def available(self) -> bool:
        if self._available is None:
            self._available = cuda_gpu_present()
        return self._available

    def ops(self) -> dict[str, str]:
        return {"spmm": "sparsehub_cuda.kernels:spmm"}


@hookimpl
def sparsehub_backends() -> list[Backend]:
    return [CudaBackend()]
