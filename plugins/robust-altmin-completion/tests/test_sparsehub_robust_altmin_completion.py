"""sparsehub-robust-altmin-completion: discovery through its entry point and the paper's reproduction."""

import sparsehub_robust_altmin_completion
from sparsehub.testing import assert_discovered


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("robust-altmin-completion", sparsehub_robust_altmin_completion.altmin_complete, sparsehub_robust_altmin_completion.reproduce)


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_robust_altmin_completion.reproduce(quick=True, seed=0)
    assert report.slug == "robust-altmin-completion"
    assert report.passed, report.table()
