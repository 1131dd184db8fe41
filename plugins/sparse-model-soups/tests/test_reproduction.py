"""sparsehub-sparse-model-soups: discovery through its entry point and the paper's reproduction."""

import sparsehub_sparse_model_soups
from sparsehub.testing import assert_discovered


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("sparse-model-soups", sparsehub_sparse_model_soups.SparseModelSoup, sparsehub_sparse_model_soups.reproduce)


def test_reproduce_quick_holds_every_mechanism_claim_of_the_paper():
    report = sparsehub_sparse_model_soups.reproduce(quick=True, seed=0)
    assert report.slug == "sparse-model-soups"
    assert len(report.claims) == 5
    report.assert_passed()
    assert report.figures
