"""Uninstall sparsehub distributions that this checkout no longer (or not yet) contains.

CI reuses one Python environment across checkouts, so a plugin installed from another
working tree (an unfinished one, say) stays registered through its entry point and makes
discovery report a plugin that cannot be imported.  Run before installing the checkout.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def checkout_distributions() -> set[str]:
    """Names of every package this checkout builds (core, plugins, hardware backends)."""
    projects = [ROOT / "core", *sorted(ROOT.glob("plugins/*")), *sorted(ROOT.glob("hardware/*"))]
    names = set()
    for folder in projects:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            names.add(_normalise(tomllib.loads(pyproject.read_text())["project"]["name"]))
    return names


def stale_distributions() -> list[str]:
    """Installed ``sparsehub`` distributions that this checkout does not build."""
    known = checkout_distributions()
    installed = {_normalise(d.metadata["Name"]) for d in metadata.distributions() if d.metadata["Name"]}
    return sorted(n for n in installed if n.startswith("sparsehub") and n not in known)


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def main() -> int:
    stale = stale_distributions()
    if not stale:
        return 0
    print("uninstalling sparsehub packages this checkout does not contain:", ", ".join(stale))
    return subprocess.call([sys.executable, "-m", "pip", "uninstall", "--yes", *stale])


if __name__ == "__main__":
    raise SystemExit(main())
