"""sparsehub-deep-conjugate-direction: discovery through its entry point and the paper's reproduction."""

import numpy as np
import pytest

import sparsehub_deep_conjugate_direction
from sparsehub.testing import assert_discovered
from sparsehub_deep_conjugate_direction.problems import sample_right_hand_sides


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("deep-conjugate-direction", sparsehub_deep_conjugate_direction.dcdm, sparsehub_deep_conjugate_direction.reproduce)


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_deep_conjugate_direction.reproduce(quick=True, seed=0)
    assert report.slug == "deep-conjugate-direction"
    assert len(report.claims) == 6
    report.assert_passed()


def test_reproduce_rejects_a_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        sparsehub_deep_conjugate_direction.reproduce(seed=-1)


def test_sample_right_hand_sides_are_unit_norm_on_2d_and_3d_grids():
    for shape in ((9, 7), (4, 5, 6)):
        rhs = sample_right_hand_sides(shape)
        assert len(rhs) == 3 and all(v.shape == (int(np.prod(shape)),) for v in rhs)
        np.testing.assert_allclose([np.linalg.norm(v) for v in rhs], 1.0)
