"""Discovery through the entry point and the paper's reproduction (every claim asserted)."""

import sparsehub_gradient_sae
from sparsehub.testing import assert_discovered


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("gradient-sae", sparsehub_gradient_sae.GradientTopKSAE, sparsehub_gradient_sae.reproduce)


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_gradient_sae.reproduce(quick=True, seed=0)
    assert report.slug == "gradient-sae"
    assert len(report.claims) == 4
    assert report.passed, report.table()
