"""The reproduction protocol decides pass/fail from the numbers, never by fiat."""

from __future__ import annotations

import json
import math

import pytest

from sparsehub.repro import Claim, Figure, Report


@pytest.mark.parametrize(
    ("ours", "baseline", "op", "scale", "margin", "passed"),
    [
        (0.9, 0.8, ">=", 1.0, 0.0, True),
        (0.8, 0.8, ">", 1.0, 0.0, False),
        (0.85, 0.8, ">=", 1.0, 0.1, False),
        (10.0, 60.0, "<=", 0.2, 0.0, True),
        (13.0, 60.0, "<=", 0.2, 0.0, False),
        (math.nan, 1.0, "<=", 1.0, 0.0, False),
    ],
)
def test_compare_applies_the_stated_criterion(ours, baseline, op, scale, margin, passed):
    claim = Claim.compare("s", "m", ours, baseline, baseline_name="b", op=op, scale=scale, margin=margin)
    assert claim.passed is passed
    assert claim.criterion.startswith(f"ours {op}")


def test_check_is_an_absolute_bound_and_rejects_unknown_ops():
    assert Claim.check("err small", "rel err", 1e-9, op="<=", bound=1e-6).passed
    assert not Claim.check("err small", "rel err", 1e-3, op="<=", bound=1e-6).passed
    with pytest.raises(ValueError, match=r"op='=='"):
        Claim.check("x", "m", 1.0, op="==", bound=1.0)


def test_report_passes_only_when_every_claim_holds_and_there_is_one():
    good = Claim.check("a", "m", 1.0, op=">=", bound=0.0)
    bad = Claim.check("b", "m", -1.0, op=">=", bound=0.0)
    assert not Report("x").passed
    assert Report("x", [good]).passed
    report = Report("x", [good, bad])
    assert not report.passed
    with pytest.raises(AssertionError, match="1 of 2 claims failed"):
        report.assert_passed()


def test_table_and_json_carry_the_numbers():
    claim = Claim.compare("beats dense", "accuracy", 0.91, 0.88, baseline_name="dense", op=">=")
    report = Report("demo", [claim])
    table = report.table()
    assert "| claim | metric | ours | baseline | criterion | status |" in table
    assert "0.91" in table and "0.88 (dense)" in table and "pass" in table
    data = json.loads(report.to_json())
    assert data["passed"] is True and data["claims"][0]["ours"] == 0.91


def test_plot_writes_one_png_per_figure(tmp_path):
    pytest.importorskip("matplotlib")
    report = Report("demo", [], figures=[Figure("curve", lambda ax: ax.plot([0, 1], [1, 0]))])
    paths = report.plot(str(tmp_path))
    assert [p.endswith("demo-curve.png") for p in paths] == [True]
    assert (tmp_path / "demo-curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_claim_finds_the_one_claim_that_mentions_the_text_and_refuses_ambiguity():
    report = Report("x")
    wanted = report.add(Claim.compare("60 %: DSnoT beats Wanda", "ppl", 1.0, 2.0, baseline_name="Wanda", op="<"))
    report.add(Claim.compare("2:4: DSnoT beats Wanda", "ppl", 1.0, 2.0, baseline_name="Wanda", op="<"))
    assert report.claim("60 %") is wanted
    with pytest.raises(LookupError, match="2 claims of 'x' contain 'DSnoT'"):
        report.claim("DSnoT")
    with pytest.raises(LookupError, match="0 claims"):
        report.claim("SparseGPT")
