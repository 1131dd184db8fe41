"""Discovery through the entry point and the paper's reproduction (every claim asserted)."""

import sparsehub_gradient_sae
from sparsehub.discovery import Plugins


def test_plugin_is_discovered_through_its_entry_point():
    found = Plugins.discover()
    assert "gradient-sae" in found.methods(), found.errors
    _, spec = found.methods()["gradient-sae"]
    assert spec.load() is sparsehub_gradient_sae.GradientTopKSAE
    assert spec.load_reproduce() is sparsehub_gradient_sae.reproduce


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_gradient_sae.reproduce(quick=True, seed=0)
    assert report.slug == "gradient-sae"
    assert len(report.claims) == 4
    assert report.passed, report.table()
