"""sparsehub-kronecker-sbl: discovery through its entry point and the paper's reproduction."""

import sparsehub_kronecker_sbl
from sparsehub.discovery import Plugins


def test_plugin_is_discovered_through_its_entry_point():
    found = Plugins.discover()
    assert "kronecker-sbl" in found.methods(), found.errors
    _, spec = found.methods()["kronecker-sbl"]
    assert spec.load() is sparsehub_kronecker_sbl.kron_sbl
    assert spec.load_reproduce() is sparsehub_kronecker_sbl.reproduce
    assert spec.load_bench() is not None


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_kronecker_sbl.reproduce(quick=True, seed=0)
    assert report.slug == "kronecker-sbl"
    report.assert_passed()
    assert report.figures and report.figures[0].name == "nmse-vs-measurements"
