"""Backend "numba" is discovered cheaply, chosen by dispatch, and benchmarked without timing asserts."""

from __future__ import annotations

import importlib.metadata as metadata
import subprocess
import sys

import numpy as np
import pytest

from sparsehub import backend as backend_mod
from sparsehub import ops
from sparsehub.discovery import Plugins, plugins
from sparsehub.tensor import SparseTensor
from sparsehub_numba import plugin
from sparsehub_numba.bench import bench, random_csr, random_nm


@pytest.fixture
def only_numba(monkeypatch):
    """Dispatch sees the reference backend and this package's plugin, whatever else is installed."""
    found = Plugins.discover(group="sparsehub-tests-no-such-group")
    found.register(plugin, name="numba")
    monkeypatch.setattr(backend_mod, "_plugins", lambda: found)
    return found


def test_discovery_imports_no_numba():
    code = (
        "import sys, sparsehub_numba.plugin as p\n"
        "b = p.sparsehub_backends()[0]\n"
        "assert b.available() and set(b.ops()) == {'spmm', 'nm_matmul', 'sddmm'}\n"
        "b.describe()\n"
        "print(sorted(m for m in sys.modules if m == 'numba' or m.startswith('numba.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_op_names_a_kernel_that_loads():
    from sparsehub_numba import kernels

    for op, ref in plugin.NumbaBackend().ops().items():
        module, _, name = ref.partition(":")
        assert module == "sparsehub_numba.kernels" and getattr(kernels, name) is not None, op


def test_dispatch_prefers_numba_over_reference_for_its_ops(only_numba):
    assert backend_mod.resolve("spmm").backend == "numba"
    assert backend_mod.resolve("nm_matmul").backend == "numba"
    assert backend_mod.resolve("sddmm").backend == "numba"
    assert backend_mod.resolve("spgemm").backend == "reference"  # numba does not implement it


def test_default_dispatch_result_equals_the_reference(only_numba):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20, 30)) * (rng.random((20, 30)) < 0.2)
    A, B = SparseTensor.from_dense(a.astype(np.float32)), rng.standard_normal((30, 8)).astype(np.float32)
    np.testing.assert_allclose(ops.spmm(A, B), ops.spmm(A, B, backend="reference"), rtol=1e-5, atol=1e-5)


def test_installed_entry_point_registers_the_numba_backend():
    eps = {ep.name: ep.value for ep in metadata.entry_points(group="sparsehub")}
    if "numba" not in eps:
        pytest.skip("sparsehub-numba is not installed (tests run from a source tree)")
    assert eps["numba"] == "sparsehub_numba.plugin"
    assert any(isinstance(b, plugin.NumbaBackend) for b in plugins().backends())


def test_random_csr_has_exactly_the_density_with_sorted_distinct_columns():
    indptr, indices, values = random_csr(50, 40, 0.1, seed=3)
    assert np.diff(indptr).tolist() == [4] * 50 and values.dtype == np.float32
    rows = indices.reshape(50, 4)
    assert (np.diff(rows, axis=1) > 0).all() and rows.max() < 40


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_random_nm_keeps_n_distinct_sorted_slots_per_group():
    values, idx = random_nm(6, 16, 2, 4, seed=1)
    assert values.shape == idx.shape == (6, 8) and idx.dtype == np.uint8
    groups = idx.reshape(6, 4, 2)
    assert (groups < 4).all() and (np.diff(groups, axis=-1) > 0).all()


def test_bench_reports_a_ratio_for_every_anchor_at_each_thread_count():
    results = bench(quick=True, threads=(1,))
    assert [(r.threads, r.ours) for r in results] == [(1, "numba spmm"), (1, "numba nm_matmul")]
    for res in results:
        assert "scipy csr @ dense" in res.ratios and "dense matmul (numpy BLAS)" in res.ratios
        assert set(res.ratios) == set(res.timings) - {res.ours}
        assert all(np.isfinite(r) and r > 0 for r in res.ratios.values())
    assert results[0].extra["nnz"] == 1024 * round(0.1 * 1024)
