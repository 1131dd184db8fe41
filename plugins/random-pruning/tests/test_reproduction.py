"""sparsehub-random-pruning: discovery through its entry point and the paper's reproduction."""

import sparsehub_random_pruning
from sparsehub.testing import assert_discovered


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("random-pruning", sparsehub_random_pruning.RandomPruner, sparsehub_random_pruning.reproduce)


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_random_pruning.reproduce(quick=True, seed=0)
    assert report.slug == "random-pruning"
    report.assert_passed()
    assert {f.name for f in report.figures} == {"accuracy-vs-width"}
