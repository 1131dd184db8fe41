"""sparsehub-kronecker-sbl: discovery through its entry point and the paper's reproduction."""

import sparsehub_kronecker_sbl
from sparsehub.testing import assert_discovered
from sparsehub_kronecker_sbl.benchmarks import bench as _bench


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("kronecker-sbl", sparsehub_kronecker_sbl.kron_sbl, sparsehub_kronecker_sbl.reproduce, _bench)


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_kronecker_sbl.reproduce(quick=True, seed=0)
    assert report.slug == "kronecker-sbl"
    report.assert_passed()
    assert report.figures and report.figures[0].name == "nmse-vs-measurements"
