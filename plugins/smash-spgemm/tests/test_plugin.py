"""sparsehub-smash-spgemm: discovery, cheap import, kernel registration and the paper's reproduction."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import sparsehub_smash_spgemm
from sparsehub.testing import assert_discovered
from sparsehub_smash_spgemm import plugin


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("smash-spgemm", sparsehub_smash_spgemm.spgemm, sparsehub_smash_spgemm.reproduce)


def test_importing_the_package_and_its_hooks_loads_no_numba_scipy_or_torch():
    code = (
        "import sys, sparsehub_smash_spgemm as m, sparsehub_smash_spgemm.plugin as p; m.__all__; "
        "p.sparsehub_kernels(); p.sparsehub_methods(); "
        "print(' '.join(x for x in ('numba', 'torch', 'scipy') if x in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_kernels_are_registered_for_spgemm_on_numba_and_cuda_and_load():
    kernels = {(k.backend, k.algorithm): k for k in plugin.sparsehub_kernels()}
    assert set(kernels) == {
        ("numba", "hash"), ("numba", "hash-2pass"), ("numba", "spa"), ("numba", "outer"), ("numba", "inner"),
        ("cuda", "hash"),
    }
    assert all(k.op == "spgemm" for k in kernels.values())
    numba_kernels = [k for k in kernels.values() if k.backend == "numba"]
    assert max(numba_kernels, key=lambda k: k.priority).algorithm == "hash"
    for (backend, _), k in kernels.items():
        if backend == "numba":
            assert callable(k.load())


def test_sparsehub_ops_spgemm_runs_our_kernels_when_sparsehub_numba_is_installed(pair):
    pytest.importorskip("sparsehub_numba", reason="backend 'numba' comes with the optional sparsehub-numba")
    from sparsehub import ops
    from sparsehub.backend import resolve

    A, B = pair
    assert resolve("spgemm", "numba").fn == "sparsehub_smash_spgemm.rowwise:hash_spgemm"
    ref = ops.spgemm(A, B, backend="reference")
    for algorithm in ("hash", "hash-2pass", "spa", "outer", "inner"):
        C = ops.spgemm(A, B, backend="numba", algorithm=algorithm)
        np.testing.assert_array_equal(C.arrays["indices"], ref.arrays["indices"])
        np.testing.assert_array_equal(C.arrays["values"], ref.arrays["values"])


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_smash_spgemm.reproduce(quick=True, seed=0)
    assert report.slug == "smash-spgemm"
    report.assert_passed()
    assert len(report.claims) == 5 and "not asserted" in report.notes


def test_bench_cases_return_ratios_against_every_anchor():
    from sparsehub_smash_spgemm import benchmarks

    results = [benchmarks._case(600, 4, False, 1, 1), benchmarks._case(150, 4, True, 1, 1)]
    names = set(results[0].timings)
    assert {"scipy.sparse A @ A", "outer product", "smash hash (2 pass)", "dense accumulator (SPA)"} <= names
    assert "inner product" in results[1].timings
    for r in results:
        assert r.ours == "smash hash (1 pass)" and r.threads == 1
        assert r.extra["row-wise traffic fraction_of_copy"] > 0
