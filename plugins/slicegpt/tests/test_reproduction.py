"""The paper's claims on the tiny LM and on SmolLM2-135M (quick reproduction, asserted)."""

import sparsehub_slicegpt


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_slicegpt.reproduce(quick=True, seed=0)
    assert report.slug == "slicegpt"
    assert len(report.claims) == 6
    assert report.passed, report.table()
