"""Every installed plugin obeys the plugin contract (ARCHITECTURE.md, "Testing").

The tests are parametrised over what is installed in this environment and over the plugin
folders of the repository, so a new plugin is checked the moment it exists.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sparsehub import discovery, registry

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIRS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists()) \
    if (ROOT / "plugins").exists() else []
INSTALLED = sorted(discovery.plugins().methods())
CLAIMS_HEADER = re.compile(r"\|\s*claim\s*\|\s*metric\s*\|\s*ours\s*\|\s*baseline\s*\|", re.I)


def test_no_installed_plugin_failed_to_load():
    assert discovery.plugins().errors == {}


@pytest.mark.parametrize("plugin_dir", PLUGIN_DIRS, ids=lambda p: p.name)
def test_plugin_folder_is_a_catalogued_implemented_method(plugin_dir):
    slug = plugin_dir.name
    entry = registry.catalog().get(slug)
    assert entry is not None, f"plugins/{slug} is not a slug of registry.toml"
    assert entry.status == "implemented", f"registry.toml should mark {slug} implemented"
    project = tomllib.loads((plugin_dir / "pyproject.toml").read_text())["project"]
    assert project["name"] == entry.package
    assert project["entry-points"]["sparsehub"] == {slug: f"{entry.module}.plugin"}
    deps = project.get("dependencies", [])
    other = [d for d in deps if d.startswith("sparsehub-") and not d.startswith("sparsehub-numba")]
    assert not other, f"{slug} depends on other plugins: {other} (shared code belongs in the core)"
    readme = (plugin_dir / "README.md").read_text()
    assert CLAIMS_HEADER.search(readme), f"plugins/{slug}/README.md has no reproduced-claims table"
    assert (plugin_dir / "tests").is_dir()


@pytest.mark.parametrize("slug", INSTALLED)
def test_spec_matches_the_catalog(slug):
    method = registry.get(slug)
    e, s = method.entry, method.spec
    assert (s.title, s.paper, s.category) == (e.title, e.paper, e.category)
    assert (tuple(s.tags), tuple(s.structures)) == (e.tags, e.structures)


@pytest.mark.parametrize("slug", INSTALLED)
def test_reproduce_exists_with_the_protocol_signature(slug):
    fn = registry.get(slug).spec.load_reproduce()
    params = inspect.signature(fn).parameters
    assert params["quick"].default is True
    assert params["seed"].default == 0


@pytest.mark.parametrize("slug", INSTALLED)
def test_public_api_is_documented(slug):
    method = registry.get(slug)
    module = sys.modules.get(method.entry.module) or __import__(method.entry.module)
    assert module.__doc__, f"{method.entry.module} has no module docstring"
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if callable(obj):
            assert inspect.getdoc(obj), f"{method.entry.module}.{name} has no docstring"


@pytest.mark.parametrize("slug", INSTALLED)
def test_plugin_import_is_cheap(slug):
    module = registry.get(slug).plugin
    plugin_module = discovery.plugins().loaded[module].module.partition(":")[0]
    code = f"import {plugin_module}, sys; print(' '.join(m for m in ('torch', 'numba') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [], f"importing {plugin_module} imported {out.stdout.split()}"
