"""The catalog: 57 valid entries, lookups, and clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sparsehub
from sparsehub import registry
from sparsehub.errors import MethodNotFound, MethodNotInstalled, RegistryError

ROOT = Path(__file__).resolve().parents[2]
SHARED_CATALOG = ROOT.parent / "shared" / "papers" / "catalog.md"


def test_catalog_has_all_57_methods_numbered_in_order():
    entries = registry.methods()
    assert len(entries) == 57
    assert [e.number for e in entries] == list(range(1, 58))


@pytest.mark.skipif(not SHARED_CATALOG.exists(), reason="shared/papers/catalog.md not beside the checkout")
def test_catalog_agrees_with_the_papers_catalog():
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*`([^`]+)`\s*\|\s*([a-z-]+)\s*\|", SHARED_CATALOG.read_text(), re.M)
    expected = {slug: (int(num), cat) for num, slug, cat in rows}
    assert len(expected) == 57
    got = {e.slug: (e.number, e.category) for e in registry.methods()}
    assert got == expected


def test_packaged_catalog_is_identical_to_the_root_file():
    packaged = ROOT / "core" / "src" / "sparsehub" / "registry.toml"
    assert packaged.read_bytes() == (ROOT / "registry.toml").read_bytes(), "run: python scripts/generate.py"


def test_find_filters_by_category_tag_structure_and_wildcard():
    solvers = sparsehub.find(category="solver")
    assert solvers and all(e.category == "solver" for e in solvers)
    assert {e.slug for e in sparsehub.find("*sae*")} == {e.slug for e in registry.methods() if "sae" in e.slug}
    nm = sparsehub.find(structure="n:m")
    assert nm and all("n:m" in e.structures for e in nm)
    some_tag = registry.methods()[0].tags[0]
    assert all(some_tag in e.tags for e in sparsehub.find(tag=some_tag))
    both = sparsehub.find(category="pruner", structure="n:m")
    assert {e.slug for e in both} == {e.slug for e in nm if e.category == "pruner"}


def test_find_rejects_an_unknown_category_naming_the_allowed_ones():
    with pytest.raises(ValueError, match=r"category='prunr'.*pruner"):
        sparsehub.find(category="prunr")


def test_unknown_slug_names_the_closest_slugs():
    with pytest.raises(MethodNotFound, match=r"'dsnot'"):
        sparsehub.get("dsnott")


def test_known_uninstalled_slug_message_is_the_exact_pip_line():
    entry = next(e for e in registry.methods() if not e.installed)
    with pytest.raises(MethodNotInstalled) as info:
        sparsehub.get(entry.slug)
    assert str(info.value) == f"pip install sparsehub-{entry.slug}"


def test_spec_from_catalog_copies_the_metadata():
    e = registry.methods()[0]
    spec = registry.spec_from_catalog(e.slug, entry="x:y", reproduce="x:reproduce")
    assert (spec.slug, spec.title, spec.paper, spec.category, spec.tags) == (e.slug, e.title, e.paper, e.category, e.tags)


GOOD = """schema = 1
[[method]]
number = 1
slug = "demo-method"
title = "Demo"
paper = "arXiv:0000.00000"
category = "solver"
package = "sparsehub-demo-method"
module = "sparsehub_demo_method"
status = "planned"
summary = "A demo."
tags = ["demo"]
structures = ["unstructured"]
anchors = ["scipy"]
brief = "none.md"
"""


def test_a_valid_registry_file_parses(tmp_path):
    path = tmp_path / "registry.toml"
    path.write_text(GOOD)
    assert list(registry.load_catalog(path)) == ["demo-method"]


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ('category = "solver"', 'category = "magic"', r"category='magic'.*one of"),
        ('status = "planned"', 'status = "done"', r"status='done'"),
        ('package = "sparsehub-demo-method"', 'package = "demo"', r"package='demo'"),
        ('module = "sparsehub_demo_method"', 'module = "demo"', r"module='demo'"),
        ('tags = ["demo"]', 'tags = ["Not OK"]', r"tags"),
        ('tags = ["demo"]', 'tags = "demo"', r"tags='demo'.*list"),
        ('number = 1', 'number = 0', r"number=0"),
        ('slug = "demo-method"', 'slug = "Demo_Method"', r"slug='Demo_Method'"),
        ('schema = 1', 'schema = 2', r"schema=2"),
        ('brief = "none.md"', 'brief = "none.md"\ncolour = "red"', r"unknown keys \['colour'\]"),
        ('title = "Demo"', 'title = "Demo', r"not valid TOML"),
    ],
)
def test_a_malformed_registry_is_rejected_naming_the_key(tmp_path, old, new, match):
    path = tmp_path / "registry.toml"
    path.write_text(GOOD.replace(old, new))
    with pytest.raises(RegistryError, match=match):
        registry.load_catalog(path)


def test_duplicate_slugs_are_rejected(tmp_path):
    path = tmp_path / "registry.toml"
    path.write_text(GOOD + GOOD.split("\n", 1)[1].replace("number = 1", "number = 2"))
    with pytest.raises(RegistryError, match="appears twice"):
        registry.load_catalog(path)
