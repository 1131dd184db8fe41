"""sparsehub-linf-sketch-regression: discovery through its entry point and the paper's reproduction."""

import sparsehub_linf_sketch_regression
from sparsehub.testing import assert_discovered


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("linf-sketch-regression", sparsehub_linf_sketch_regression.sketch_lstsq, sparsehub_linf_sketch_regression.reproduce)


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_linf_sketch_regression.reproduce(quick=True, seed=0)
    assert report.slug == "linf-sketch-regression"
    report.assert_passed()
