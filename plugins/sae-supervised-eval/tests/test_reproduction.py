"""The quick toy-IOI reproduction, run once per module; one test per claim.

The brief's claim "the best SAE's edit success within 2 edits is at least 0.2 below the supervised
dictionary's" does NOT hold on the additive toy: the wide TopK SAE edits IO within 2 latents on
0.98 of the pairs (supervised 1.00). It is kept with its real criterion as xfail(strict=True).
"""

from __future__ import annotations

import pytest

from sparsehub.testing import assert_discovered, torch_threads


@pytest.fixture(scope="module")
def report():
    from sparsehub_sae_supervised_eval import reproduce

    with torch_threads(1):
        return reproduce(quick=True, seed=0)


def test_plugin_is_discovered_through_its_entry_point():
    import sparsehub_sae_supervised_eval as pkg

    assert_discovered("sae-supervised-eval", pkg.SupervisedDictionary, pkg.reproduce)


@pytest.mark.parametrize(
    "start",
    [
        "supervised reconstructions patched",
        "editing IO with the supervised dictionary",
        "editing S with the supervised dictionary",
        "SAEs find interpretable features",
        "feature occlusion",
        "over-splitting",
        "occlusion costs control",
    ],
)
def test_claim_holds(report, start):
    c = report.claim(start)
    assert c.passed, (c.ours, c.baseline, c.criterion)


def test_occlusion_is_detected_for_small_k_only(report):
    details = report.claim("feature occlusion").details
    assert details["detected"] and details["occluded_by"] == "IO" and details["not_fired_k3"]


@pytest.mark.xfail(
    strict=True,
    reason="on the additive toy the wide TopK SAE edits IO within 2 latents "
    "(0.98 vs 1.00 supervised); the paper's GPT-2 gap is not reproduced, see README",
)
def test_best_sae_is_weaker_at_control(report):
    from sparsehub_sae_supervised_eval.reproduction import GAP_CLAIM

    c = report.claim(GAP_CLAIM)
    assert c.passed, (c.ours, c.baseline)


def test_reproduce_refuses_a_bad_seed():
    from sparsehub_sae_supervised_eval import reproduce

    with pytest.raises(ValueError, match="seed"):
        reproduce(seed=-1)
