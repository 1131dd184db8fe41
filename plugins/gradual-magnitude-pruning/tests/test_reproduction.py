"""sparsehub-gradual-magnitude-pruning: discovery through its entry point and the paper's reproduction."""

import pytest

import sparsehub_gradual_magnitude_pruning
from sparsehub.testing import assert_discovered


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("gradual-magnitude-pruning", sparsehub_gradual_magnitude_pruning.GradualMagnitudePruner, sparsehub_gradual_magnitude_pruning.reproduce, sparsehub_gradual_magnitude_pruning.bench)


def test_equal_nonzero_width_is_the_brief_small_dense_model():
    from sparsehub_gradual_magnitude_pruning.reproduction import _gmp_nonzeros, equal_nonzero_width

    assert _gmp_nonzeros(0.95) == 33_843  # 40*512 dense + 13 107 + 256 kept
    assert equal_nonzero_width(33_843) == 160  # 40*160 + 160^2 + 160*10 = 33 600 <= 33 843 < 33 971 at 161


@pytest.mark.slow
def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_gradual_magnitude_pruning.reproduce(quick=True, seed=0)
    assert report.slug == "gradual-magnitude-pruning"
    assert len(report.claims) == 4
    report.assert_passed()
