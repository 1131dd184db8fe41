"""Discovery through the entry point, and the paper's claims on SmolLM2-135M (quick reproduction)."""

import pytest

import sparsehub_lord
from sparsehub.discovery import Plugins


def test_plugin_is_discovered_through_its_entry_point():
    found = Plugins.discover()
    assert "lord" in found.methods(), found.errors
    _, spec = found.methods()["lord"]
    assert spec.load() is sparsehub_lord.decompose
    assert spec.load_reproduce() is sparsehub_lord.reproduce
    assert spec.load_bench() is sparsehub_lord.bench


@pytest.mark.slow
def test_reproduce_quick_holds_every_claim_on_smollm2():
    pytest.importorskip("transformers")
    report = sparsehub_lord.reproduce(quick=True, seed=0)
    print(report.table(), report.notes)
    assert report.slug == "lord"
    assert len(report.claims) == 2
    report.assert_passed()
