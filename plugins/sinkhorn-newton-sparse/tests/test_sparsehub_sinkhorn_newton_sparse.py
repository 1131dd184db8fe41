"""sparsehub-sinkhorn-newton-sparse: discovery through its entry point and the paper's reproduction."""

import sparsehub_sinkhorn_newton_sparse
from sparsehub.testing import assert_discovered


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("sinkhorn-newton-sparse", sparsehub_sinkhorn_newton_sparse.sinkhorn_newton_sparse, sparsehub_sinkhorn_newton_sparse.reproduce)


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_sinkhorn_newton_sparse.reproduce(quick=True, seed=0)
    assert report.slug == "sinkhorn-newton-sparse"
    assert report.passed, report.table()
    assert len(report.claims) == 9
