"""Workflows over the whole monorepo (the per-package test matrix lives in tox.ini).

    nox -s demo                  install everything, take the tour of the `sparsehub` command
    nox -s tests                 requirements-dev.txt in one env, then pytest over every package
    nox -s repro                 every installed plugin's reproduction: JSON + figures in repro-out/
    nox -s bench                 every plugin/backend benchmark: JSON in bench-out/
    nox -s lint                  ruff check .
    nox -s build                 a wheel per package in wheelhouse/, each installed alone and imported
    nox -s new_plugin -- SLUG    plugins/SLUG/ from the catalog, then the generated files

Sessions reuse their virtualenvs (uv when available). uv reads none of pip's configuration, so the
local CPU torch wheel directory (SPARSEHUB_WHEELS, default /opt/wheels) and the torch pin of
constraints/tox.txt are handed to it here, as in tox.ini.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests"]

ROOT = Path(__file__).resolve().parent
WHEELS = os.environ.get("SPARSEHUB_WHEELS", "/opt/wheels")
CONSTRAINTS = ROOT / "constraints" / "tox.txt"
WHEELHOUSE = ROOT / "wheelhouse"


def _installer_env() -> dict[str, str]:
    env = {"UV_CONSTRAINT": str(CONSTRAINTS)}
    if Path(WHEELS).is_dir():  # uv fails on a find-links directory that does not exist
        env["UV_FIND_LINKS"] = WHEELS
        env["PIP_FIND_LINKS"] = WHEELS
    return env


def _install(session: nox.Session, *args: str) -> None:
    session.install(*args, env=_installer_env())


def _install_workspace(session: nox.Session, requirements: str) -> None:
    """Install a requirements file, then drop sparsehub packages whose folder no longer exists.

    A reused venv keeps a plugin that was renamed or deleted; its entry point would still load.
    """
    _install(session, "-r", requirements)
    code = "import importlib.metadata as m; print(' '.join(d.metadata['Name'] for d in m.distributions()))"
    installed = str(session.run("python", "-c", code, silent=True)).split()
    local = {_distribution_name(d) for d in _package_dirs()}
    stale = sorted({_normalize(n) for n in installed if _normalize(n).startswith("sparsehub")} - local)
    if not stale:
        return
    session.log(f"removing sparsehub packages that are no longer in the workspace: {', '.join(stale)}")
    if session.venv_backend == "uv":
        session.run("uv", "pip", "uninstall", "--python", str(Path(session.bin) / "python"), *stale,
                    external=True)
    else:
        session.run("python", "-m", "pip", "uninstall", "--yes", *stale)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution_name(folder: Path) -> str:
    with open(folder / "pyproject.toml", "rb") as fh:
        return _normalize(tomllib.load(fh)["project"]["name"])


def _package_dirs() -> list[Path]:
    """core, hardware/*, plugins/*: every folder with a pyproject.toml, in a stable order."""
    dirs = [ROOT / "core"]
    for group in ("hardware", "plugins"):
        dirs += sorted(p.parent for p in (ROOT / group).glob("*/pyproject.toml"))
    return dirs


@nox.session
def demo(session: nox.Session) -> None:
    """Install everything and take the short tour: list, info, doctor, repro --all."""
    _install_workspace(session, "requirements.txt")
    slug = session.posargs[0] if session.posargs else _first_installed_slug(session)
    session.run("sparsehub", "list")
    session.run("sparsehub", "info", slug)
    session.run("sparsehub", "doctor")
    session.run("sparsehub", "repro", "--all")


def _first_installed_slug(session: nox.Session) -> str:
    code = (
        "from sparsehub.registry import catalog\n"
        "from sparsehub.discovery import plugins\n"
        "installed = [s for s in catalog() if s in plugins().methods()]\n"
        "print((installed or list(catalog()))[0])\n"
    )
    return str(session.run("python", "-c", code, silent=True)).strip().splitlines()[-1]


@nox.session
def tests(session: nox.Session) -> None:
    """Everything in one environment (requirements-dev.txt), then pytest over every package."""
    _install_workspace(session, "requirements-dev.txt")
    session.run("pytest", *session.posargs)


@nox.session
def repro(session: nox.Session) -> None:
    """Every installed plugin's reproduction: repro-out/repro.json and the figures as PNG."""
    _install_workspace(session, "requirements.txt")
    out = ROOT / "repro-out"
    out.mkdir(exist_ok=True)
    session.run("sparsehub", "repro", "--all", "--json", str(out / "repro.json"), "--plot", str(out),
                *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """`sparsehub bench` for every installed plugin and backend that has one: bench-out/<name>.json."""
    _install_workspace(session, "requirements.txt")
    code = (
        "from sparsehub.backend import backends\n"
        "from sparsehub.discovery import plugins\n"
        "names = sorted(s for s, (_, spec) in plugins().methods().items() if spec.bench)\n"
        "names += sorted(n for n, b in backends().items() if getattr(b, 'bench', None))\n"
        "print(' '.join(names))\n"
    )
    names = str(session.run("python", "-c", code, silent=True)).strip().splitlines()[-1:]
    names = names[0].split() if names else []
    if not names:
        session.skip("no installed plugin or backend provides a benchmark")
    out = ROOT / "bench-out"
    out.mkdir(exist_ok=True)
    for name in names:
        session.run("sparsehub", "bench", name, "--json", str(out / f"{name}.json"), *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole repository (settings in the root pyproject.toml)."""
    _install(session, "ruff")
    session.run("ruff", "check", ".", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """A wheel per package into wheelhouse/, then each wheel installed alone into a fresh venv.

    "Alone" means that wheel plus what its metadata declares, resolved from the wheelhouse (the
    sibling sparsehub wheels), the local torch wheels and the index: a missing dependency or a
    file left out of the wheel (e.g. the packaged catalog) fails the import check.
    """
    if WHEELHOUSE.exists():
        shutil.rmtree(WHEELHOUSE)
    WHEELHOUSE.mkdir()
    for folder in _package_dirs():
        session.run("uv", "build", "--wheel", "--out-dir", str(WHEELHOUSE), str(folder), external=True)
    env = _installer_env()
    venvs = Path(session.create_tmp()) / "alone"
    shutil.rmtree(venvs, ignore_errors=True)
    for wheel in sorted(WHEELHOUSE.glob("*.whl")):
        dist = wheel.name.split("-")[0]  # sparsehub_dsnot-0.1.0-py3-none-any.whl -> sparsehub_dsnot
        venv = venvs / dist
        session.run("uv", "venv", "--quiet", "--python", sys.executable, str(venv), external=True)
        python = str(venv / "bin" / "python")
        session.run("uv", "pip", "install", "--quiet", "--python", python, "--find-links", str(WHEELHOUSE),
                    str(wheel), env=env, external=True)
        session.run(python, "-c", _import_check(dist), external=True)


def _import_check(dist: str) -> str:
    """Python code that imports the distribution's package and checks what it registers."""
    if dist == "sparsehub":
        # the catalog must have been packaged into the core wheel
        return "import sparsehub.registry as r; n = len(r.catalog()); assert n > 0; print('sparsehub:', n, 'methods')"
    # every hook is called, so a plugin.py whose spec cannot be built fails here too
    return (
        f"import {dist}; from sparsehub.discovery import plugins; p = plugins(); "
        "p.methods(); p.backends(); p.kernels(); p.formats(); assert not p.errors, p.errors; "
        f"print({dist!r}, 'imports; plugins:', sorted(p.loaded))"
    )


@nox.session(python=False)
def new_plugin(session: nox.Session) -> None:
    """`nox -s new_plugin -- SLUG`: write plugins/SLUG/ from the catalog, then regenerate."""
    if len(session.posargs) != 1:
        session.error("usage: nox -s new_plugin -- SLUG   (a slug of registry.toml)")
    session.run(sys.executable, str(ROOT / "scripts" / "new_plugin.py"), session.posargs[0], external=True)
    session.run(sys.executable, str(ROOT / "scripts" / "generate.py"), external=True)
