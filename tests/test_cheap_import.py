"""Importing sparsehub and discovering every installed plugin imports no torch and compiles no numba."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "numba", "scipy", "matplotlib")


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_sparsehub_is_cheap():
    assert _imported_after("import sparsehub") == set()


def test_discovering_all_plugins_imports_nothing_heavy():
    code = (
        "import sparsehub\n"
        "from sparsehub import discovery\n"
        "p = discovery.plugins()\n"
        "p.methods(); p.kernels(); p.formats(); p.backends()\n"
        "sparsehub.find(); sparsehub.methods()\n"
        "from sparsehub.backend import backends, kernels\n"
        "backends(); kernels()\n"
    )
    assert _imported_after(code) == set()
