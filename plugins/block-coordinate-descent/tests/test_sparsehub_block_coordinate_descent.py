"""sparsehub-block-coordinate-descent: discovery through its entry point and the paper's reproduction."""

import subprocess
import sys

import sparsehub_block_coordinate_descent
from sparsehub.testing import assert_discovered


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("block-coordinate-descent", sparsehub_block_coordinate_descent.bcd_minimize, sparsehub_block_coordinate_descent.reproduce)


def test_importing_the_package_loads_neither_numba_nor_sklearn():
    code = (
        "import sys, sparsehub_block_coordinate_descent as m; m.__all__; "
        "print(' '.join(x for x in ('numba', 'sklearn', 'torch', 'scipy') if x in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_block_coordinate_descent.reproduce(quick=True, seed=0)
    assert report.slug == "block-coordinate-descent"
    report.assert_passed()
    assert {f.name for f in report.figures} >= {"least-squares", "lattice", "l1-active-set"}
