"""Discovery through the entry point, and the paper's claims on SmolLM2-135M and MiniLM (quick run).

The quick reproduction runs once per module; one test per claim. The paper's headline (a
parameter reduction within +1 % perplexity) does NOT hold on SmolLM2-135M: any reduction of
the MLP needs rank < 419 of 576, and the mildest one (keep = 0.99, rank 414) already doubles the
perplexity. It is kept with its real criterion as xfail(strict=True).
"""

import pytest

import sparsehub_lord
from sparsehub.testing import assert_discovered, torch_threads


@pytest.fixture(scope="module")
def report():
    """One quick run on one torch thread: on a shared 2-core machine, two threads made it slower
    (LAPACK and small ops stall on busy cores); on a quiet one it takes about a minute either way."""
    pytest.importorskip("transformers")
    with torch_threads(1):
        return sparsehub_lord.reproduce(quick=True, seed=0)


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("lord", sparsehub_lord.decompose, sparsehub_lord.reproduce, sparsehub_lord.bench)


@pytest.mark.slow
@pytest.mark.parametrize("start", ["At equal rank", "Each factorised layer", "MiniLM"])
def test_claim_holds(report, start):
    c = report.claim(start)
    print(c)
    assert c.passed, (c.ours, c.baseline, c.criterion)


@pytest.mark.slow
def test_curve_is_measured_and_drawn(report, tmp_path):
    pytest.importorskip("matplotlib")
    from sparsehub_lord.reproduction import ONE_PERCENT_CLAIM

    details = report.claim(ONE_PERCENT_CLAIM).details
    reductions = [r for r, _ in details["curve"]]
    assert reductions[0] == 0.0 and len(reductions) == 3 and reductions == sorted(reductions)
    assert all(0 < r < 0.1 for r in reductions[1:])  # keep 0.99 and rank 384 remove under 10 % of the MLP
    paths = report.plot(str(tmp_path))
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["lord-lord_params_vs_ppl.png"]


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="SmolLM2-135M: the mildest MLP reduction (keep 0.99, rank 414/576) "
    "already costs about +100% perplexity; the paper's 1% point is a 16B-model property, see README",
)
def test_some_reduction_stays_within_one_percent(report):
    from sparsehub_lord.reproduction import ONE_PERCENT_CLAIM

    c = report.claim(ONE_PERCENT_CLAIM)
    assert c.passed, (c.ours, c.details["mildest"])


def test_reproduce_rejects_a_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        sparsehub_lord.reproduce(seed=-1)
