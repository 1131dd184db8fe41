"""sparsehub-sinkhorn-newton-sparse: discovery through its entry point and the paper's reproduction."""

import sparsehub_sinkhorn_newton_sparse
from sparsehub.discovery import Plugins


def test_plugin_is_discovered_through_its_entry_point():
    found = Plugins.discover()
    assert "sinkhorn-newton-sparse" in found.methods(), found.errors
    _, spec = found.methods()["sinkhorn-newton-sparse"]
    assert spec.load() is sparsehub_sinkhorn_newton_sparse.sinkhorn_newton_sparse
    assert spec.load_reproduce() is sparsehub_sinkhorn_newton_sparse.reproduce


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_sinkhorn_newton_sparse.reproduce(quick=True, seed=0)
    assert report.slug == "sinkhorn-newton-sparse"
    assert report.passed, report.table()
    assert len(report.claims) == 9
