"""Discovery goes through real installed entry points and survives broken plugins."""

from __future__ import annotations

import pytest

from sparsehub import discovery, registry
from sparsehub.errors import MethodNotInstalled

from .conftest import write_fake_distribution

GOOD_PLUGIN = """
from sparsehub.hookspecs import hookimpl
from sparsehub.method import MethodSpec

@hookimpl
def sparsehub_methods():
    return [MethodSpec(slug="fake-good", title="A fake method", paper="https://example.org",
                       category="solver", summary="test double",
                       entry="sparsehub_fakegood.api:solve",
                       reproduce="sparsehub_fakegood.api:reproduce")]
"""
GOOD_API = """
def solve(x):
    return 2 * x

def reproduce(quick=True, seed=0):
    from sparsehub.repro import Claim, Report
    return Report("fake-good", [Claim.check("doubling doubles", "value", solve(2), op=">=", bound=4)])
"""
BROKEN_PLUGIN = """
raise ImportError("this plugin needs a package that is not installed")
"""
RAISING_HOOK = """
from sparsehub.hookspecs import hookimpl

@hookimpl
def sparsehub_methods():
    raise RuntimeError("hook exploded")
"""
WRONG_TYPE_HOOK = """
from sparsehub.hookspecs import hookimpl

@hookimpl
def sparsehub_methods():
    return ["not a MethodSpec"]
"""


def test_installed_entry_point_is_discovered_and_usable(fake_site):
    write_fake_distribution(fake_site, "sparsehub-fake-good", {"fake-good": "sparsehub_fakegood.plugin"},
                            {"sparsehub_fakegood.plugin": GOOD_PLUGIN, "sparsehub_fakegood.api": GOOD_API})
    found = discovery.plugins()
    assert "fake-good" in found.loaded
    assert found.loaded["fake-good"].distribution == "sparsehub-fake-good"
    assert found.loaded["fake-good"].version == "0.0.1"
    method = registry.get("fake-good")
    assert method.api(21) == 42
    assert method.reproduce().passed


def test_broken_plugin_is_reported_by_name_and_others_still_load(fake_site):
    write_fake_distribution(fake_site, "sparsehub-fake-good", {"fake-good": "sparsehub_fakegood.plugin"},
                            {"sparsehub_fakegood.plugin": GOOD_PLUGIN, "sparsehub_fakegood.api": GOOD_API})
    write_fake_distribution(fake_site, "sparsehub-fake-broken", {"fake-broken": "sparsehub_fakebroken.plugin"},
                            {"sparsehub_fakebroken.plugin": BROKEN_PLUGIN})
    found = discovery.plugins()
    assert "fake-good" in found.methods()
    assert "fake-broken" not in found.loaded
    assert "needs a package that is not installed" in found.errors["fake-broken"]
    assert "ImportError" in found.errors["fake-broken"]


def test_hook_that_raises_or_returns_garbage_is_isolated(fake_site):
    write_fake_distribution(fake_site, "sparsehub-fake-good", {"fake-good": "sparsehub_fakegood.plugin"},
                            {"sparsehub_fakegood.plugin": GOOD_PLUGIN, "sparsehub_fakegood.api": GOOD_API})
    write_fake_distribution(fake_site, "sparsehub-fake-raise", {"fake-raise": "sparsehub_fakeraise.plugin"},
                            {"sparsehub_fakeraise.plugin": RAISING_HOOK})
    write_fake_distribution(fake_site, "sparsehub-fake-wrong", {"fake-wrong": "sparsehub_fakewrong.plugin"},
                            {"sparsehub_fakewrong.plugin": WRONG_TYPE_HOOK})
    found = discovery.plugins()
    assert set(found.methods()) >= {"fake-good"}
    assert "hook exploded" in found.errors["fake-raise.sparsehub_methods"]
    assert "expected MethodSpec" in found.errors["fake-wrong.sparsehub_methods"]


def test_known_slug_of_a_broken_plugin_says_why(fake_site):
    # A catalogued slug whose plugin fails to import: the pip line plus the load error.
    slug = next(iter(registry.catalog()))
    module = "sparsehub_fakecat"
    write_fake_distribution(fake_site, "sparsehub-fake-cat", {slug: f"{module}.plugin"},
                            {f"{module}.plugin": BROKEN_PLUGIN})
    with pytest.raises(MethodNotInstalled) as info:
        registry.get(slug)
    assert str(info.value).startswith(f"pip install sparsehub-{slug}")
    assert "failed to load" in str(info.value)
