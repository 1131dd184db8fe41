"""The benchmark protocol: ratios from interleaved medians, thread counts applied and restored."""

from __future__ import annotations

import pytest

from sparsehub import bench


def test_ratio_is_anchor_median_over_ours():
    calls = {"ours": 0, "anchor": 0}

    def ours():
        calls["ours"] += 1

    def anchor():
        calls["anchor"] += 1

    res = bench.compare("noop", {"ours": ours, "anchor": anchor}, ours="ours", repeats=3, warmup=1, min_time=0.0)
    assert res.ratios["anchor"] == pytest.approx(res.timings["anchor"].median / res.timings["ours"].median)
    assert set(res.timings) == {"ours", "anchor"} and "ours" not in res.ratios
    assert calls["ours"] >= 1 + 3 and calls["anchor"] >= 1 + 3  # warm-up plus every repeat
    assert len(res.timings["ours"].times) == 3


def test_thread_count_is_applied_and_restored():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    seen = []
    bench.compare("t", {"a": lambda: seen.append(torch.get_num_threads())}, ours="a", threads=1, repeats=1,
                  warmup=0, min_time=0.0)
    assert set(seen) == {1}
    assert torch.get_num_threads() == before


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"ours='x'"):
        bench.compare("c", {"a": lambda: None}, ours="x")
    with pytest.raises(ValueError, match=r"threads=0"):
        bench.compare("c", {"a": lambda: None}, ours="a", threads=0)


def test_format_results_lists_every_candidate_with_its_ratio():
    res = bench.compare("c", {"a": lambda: None, "b": lambda: None}, ours="a", repeats=1, warmup=0, min_time=0.0)
    text = bench.format_results([res])
    assert "threads=1" in text and "ours" in text and "x ours" in text


def test_copy_bandwidth_is_positive_cached_and_checks_arguments():
    first = bench.copy_bandwidth(nbytes=4 << 20, repeats=2)
    assert 1e8 < first < 1e13  # between 0.1 GB/s and 10 TB/s: a plausible memory system
    assert bench.copy_bandwidth(nbytes=4 << 20, repeats=2) == first  # cached per process
    assert bench.copy_bandwidth(threads=2, nbytes=4 << 20, repeats=2) > 1e8
    with pytest.raises(ValueError, match="threads"):
        bench.copy_bandwidth(threads=0)
    with pytest.raises(ValueError, match="nbytes"):
        bench.copy_bandwidth(nbytes=10)


def test_bandwidth_fraction_divides_by_the_copy_bandwidth():
    copy = bench.copy_bandwidth(threads=1)
    out = bench.bandwidth_fraction(copy, 1.0)
    assert out["fraction_of_copy"] == pytest.approx(1.0)
    assert out["achieved_GBps"] == pytest.approx(copy / 1e9, rel=1e-3)
    with pytest.raises(ValueError, match="seconds"):
        bench.bandwidth_fraction(1.0, 0.0)
