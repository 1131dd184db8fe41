"""Fixtures for the cross-package contract tests."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

from sparsehub import discovery


def write_fake_distribution(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Install a distribution the way pip would leave it: a ``.dist-info`` with entry_points.txt.

    ``modules`` maps a dotted module name to its source. ``root`` must be put on ``sys.path``.
    """
    info = root / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    lines = ["[sparsehub]"] + [f"{name} = {target}" for name, target in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for dotted, source in modules.items():
        parts = dotted.split(".")
        pkg_dir = root.joinpath(*parts[:-1])
        pkg_dir.mkdir(parents=True, exist_ok=True)
        for i in range(1, len(parts)):
            init = root.joinpath(*parts[:i], "__init__.py")
            if not init.exists():
                init.write_text("")
        (pkg_dir / f"{parts[-1]}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    """A temporary site directory on sys.path; plugins discovered afresh before and after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    discovery.reset()
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("sparsehub_fake"):
            del sys.modules[name]
    discovery.reset()
