"""The quick reproduction on SmolLM2-135M (the brief's GPL-3 setting), run once per module; one test per claim.

The same 60 % claim does not hold on ``corpus("pydoc")`` (calibration windows spread over topics
unrelated to the held-out ones: Wanda 82.0, DSnoT 94.6 with 8 x 128 tokens, README diagnosis); it
is kept with its real criterion as a strict xfail, run once with the quick settings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

if not Path("/usr/share/common-licenses/GPL-3").is_file():
    pytest.skip(
        "the reproduction's text /usr/share/common-licenses/GPL-3 is absent on this system",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def report(smollm2_pair):
    from sparsehub_dsnot import reproduce

    return reproduce(quick=True, seed=0)


def test_dsnot_from_wanda_beats_wanda_by_the_briefs_margin(report):
    c = report.claim("DSnoT from Wanda has lower held-out perplexity")
    assert c.criterion == "ours <= 0.92 * baseline"
    assert c.passed, (c.ours, c.baseline)


def test_wanda_beats_magnitude(report):
    c = report.claim("Wanda beats magnitude")
    assert c.passed, (c.ours, c.baseline)


def test_dsnot_halves_the_reconstruction_error(report):
    c = report.claim("reconstruction error")
    assert c.passed, (c.ours, c.baseline)
    assert c.details["swaps"] > 0


@pytest.fixture(scope="module")
def pydoc_claims(smollm2_pair):
    from sparsehub.repro import Report
    from sparsehub_dsnot.reproduction import _data, _setting

    model, tok = smollm2_pair
    calib, held = _data(tok, "pydoc", 8, 8, 0)
    report = Report("dsnot", [], quick=True, seed=0)
    _setting(report, model, calib, held, 0.6, "unstructured", "pydoc", quick=True)
    return report


@pytest.mark.xfail(
    strict=True,
    reason="does not hold on pydoc (calibration text unrelated to the held-out text): Wanda 82.0, "
    "DSnoT 94.6 at 60 %; DSnoT cancels the calibration mean, which does not transfer (README)",
)
def test_dsnot_from_wanda_beats_wanda_on_pydoc(pydoc_claims):
    c = pydoc_claims.claim("DSnoT from Wanda has lower held-out perplexity")
    assert c.passed, (c.ours, c.baseline)
