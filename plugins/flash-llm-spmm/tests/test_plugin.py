"""Discovery through the entry point (method, kernels, format) and the paper's reproduction."""

import subprocess
import sys

import sparsehub_flash_llm_spmm
from sparsehub.discovery import Plugins
from sparsehub.tensor import format_spec
from sparsehub.testing import assert_discovered


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("flash-llm-spmm", sparsehub_flash_llm_spmm.flash_llm_spmm, sparsehub_flash_llm_spmm.reproduce, sparsehub_flash_llm_spmm.bench)


def test_kernels_and_format_are_registered_and_loadable():
    kernels = {(k.backend, k.algorithm): k for k in Plugins.discover().kernels() if k.algorithm == "tiled-csl"}
    assert set(kernels) == {("numba", "tiled-csl"), ("cuda", "tiled-csl")}
    assert all(k.op == "spmm" and callable(k.load()) for k in kernels.values())
    from_csr, to_csr = format_spec("tiled-csl").converters()
    assert callable(from_csr) and callable(to_csr)


def test_import_compiles_no_numba_and_imports_no_torch():
    code = "import sparsehub_flash_llm_spmm.plugin, sys; print(sorted(m for m in ('torch', 'numba') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_flash_llm_spmm.reproduce(quick=True, seed=0)
    assert report.slug == "flash-llm-spmm"
    report.assert_passed()
