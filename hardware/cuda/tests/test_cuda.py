"""Backend "cuda": off without a GPU, cheap to discover, and its kernel agrees with the reference
when run on numba's CUDA simulator (in a subprocess: the simulator must be enabled before
numba.cuda is first imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from sparsehub import backend as backend_mod
from sparsehub.discovery import Plugins
from sparsehub.errors import BackendError
from sparsehub_cuda import plugin

pytest.importorskip("numba")


def _gpu_visible() -> bool:
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0")


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_backend_is_unavailable_on_a_machine_without_a_gpu():
    if _gpu_visible():
        pytest.skip("this machine has an NVIDIA device")
    assert plugin.CudaBackend().available() is False


def test_backend_is_unavailable_under_the_simulator(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    assert plugin.simulator_enabled()
    assert plugin.CudaBackend().available() is False


def test_discovery_imports_no_numba():
    out = _run(
        """
        import sys, sparsehub_cuda.plugin as p
        b = p.sparsehub_backends()[0]
        assert b.name == "cuda" and b.device == "cuda" and b.ops() == {"spmm": "sparsehub_cuda.kernels:spmm"}
        print(sorted(m for m in sys.modules if m == "numba" or m.startswith("numba.")))
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_dispatch_prefers_cuda_over_numba_when_a_gpu_is_present(monkeypatch):
    numba_plugin = pytest.importorskip("sparsehub_numba.plugin")
    found = Plugins.discover(group="sparsehub-tests-no-such-group")
    found.register(plugin, name="cuda")
    found.register(numba_plugin, name="numba")
    monkeypatch.setattr(backend_mod, "_plugins", lambda: found)
    monkeypatch.setattr(plugin.CudaBackend, "available", lambda self: True)
    assert backend_mod.resolve("spmm").backend == "cuda"
    assert backend_mod.resolve("sddmm").backend == "numba"  # cuda does not implement it
    monkeypatch.setattr(plugin.CudaBackend, "available", lambda self: False)
    assert backend_mod.resolve("spmm").backend == "numba"


def test_bench_without_a_gpu_raises_a_backend_error():
    if _gpu_visible():
        pytest.skip("this machine has an NVIDIA device")
    from sparsehub_cuda.bench import bench

    with pytest.raises(BackendError, match="CUDA GPU"):
        bench()


SIMULATED_SPMM = """
import json
import numpy as np
from sparsehub import reference
from sparsehub.tensor import SparseTensor
from sparsehub_cuda import kernels

rng = np.random.default_rng(0)
cases = {
    "float32 tall": ((9, 5), 3, np.float32, np.int32, 0.4),
    "float64 wide": ((3, 11), 2, np.float64, np.int32, 0.4),
    "int64 indices, B wider than a warp": ((4, 6), 37, np.float64, np.int64, 0.5),
    "no entries": ((5, 4), 3, np.float64, np.int32, 0.0),
    "zero rows": ((0, 4), 3, np.float32, np.int32, 0.5),
}
errors = {}
for name, (shape, n, dtype, index_dtype, density) in cases.items():
    a = (rng.standard_normal(shape) * (rng.random(shape) < density)).astype(dtype)
    if shape[0]:
        a[0] = 0  # an empty row
    A = SparseTensor.from_dense(a, index_dtype=index_dtype)
    indptr, indices, values = (A.arrays[k] for k in ("indptr", "indices", "values"))
    B = rng.standard_normal((shape[1], n)).astype(dtype)
    out = kernels.spmm(indptr, indices, values, shape, B)
    expected = reference.spmm(indptr, indices, values, shape, B)
    assert out.dtype == dtype and out.shape == expected.shape, name
    errors[name] = float(np.abs(out - expected).max()) if out.size else 0.0
print(json.dumps(errors))
"""


def test_spmm_kernel_agrees_with_the_reference_on_the_simulator():
    out = _run(SIMULATED_SPMM, NUMBA_ENABLE_CUDASIM="1")
    assert out.returncode == 0, out.stderr
    errors = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(errors) == 5
    assert all(err <= 1e-5 for err in errors.values()), errors


@pytest.mark.parametrize(("m", "n"), [(1, 1), (7, 5), (100, 32), (3, 33), (1000, 64)])
def test_launch_shape_covers_every_output_element_with_at_most_a_warp_across(m, n):
    from sparsehub_cuda.kernels import launch_shape  # importing numba.cuda needs no GPU

    (bx, by), (tx, ty) = launch_shape(m, n)
    assert bx * tx >= n and by * ty >= m
    assert tx <= 32 and tx * ty <= 256
    assert (bx - 1) * tx < n and (by - 1) * ty < m  # no block lies wholly outside the output
