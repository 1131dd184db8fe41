"""Generated files are up to date, and the generator and the plugin skeleton writer do their job.

``scripts/generate.py`` writes the packaged catalog copy, the tox env block and the requirements
files; ``scripts/new_plugin.py`` writes a plugin skeleton. Both are exercised here on temporary
workspaces so the tests stay fast and never install anything.
"""

from __future__ import annotations

import configparser
import importlib.util
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIRS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
HARDWARE_DIRS = sorted(p.parent for p in (ROOT / "hardware").glob("*/pyproject.toml"))


def _load_script(name: str):
    module_name = f"sparsehub_scripts_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


generate = _load_script("generate")
new_plugin = _load_script("new_plugin")


def _tox_config(path: Path = ROOT / "tox.ini") -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None)
    config.read(path)
    return config


def _deps(config: configparser.ConfigParser, env: str) -> list[str]:
    return [line.strip() for line in config[f"testenv:{env}"]["deps"].splitlines() if line.strip()]


def _catalog_slugs() -> list[str]:
    with open(ROOT / "registry.toml", "rb") as fh:
        return [m["slug"] for m in tomllib.load(fh)["method"]]


@pytest.fixture
def workspace(tmp_path):
    """A copy of the files the generator reads (catalog, pyprojects, tox.ini), nothing else."""
    for relative in ["registry.toml", "tox.ini", "core/pyproject.toml"]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, tmp_path / relative)
    for folder in HARDWARE_DIRS + PLUGIN_DIRS:
        target = tmp_path / folder.relative_to(ROOT)
        target.mkdir(parents=True)
        shutil.copy(folder / "pyproject.toml", target / "pyproject.toml")
    (tmp_path / "core/src/sparsehub").mkdir(parents=True)
    (tmp_path / "plugins").mkdir(exist_ok=True)
    (tmp_path / "hardware").mkdir(exist_ok=True)
    generate.main(["--root", str(tmp_path)])
    return tmp_path


def _add_plugin(root: Path, slug: str, *, numba: bool, dependencies: tuple[str, ...] = ()) -> None:
    folder = root / "plugins" / slug
    folder.mkdir(parents=True)
    deps = ", ".join(f'"{d}"' for d in ("sparsehub>=0.1", *dependencies))
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "sparsehub-{slug}"\nversion = "0.1.0"\ndependencies = [{deps}]\n'
        f'[project.optional-dependencies]\ntest = ["zz-oracle>=1"]\n'
        f"[tool.sparsehub]\nnumba = {'true' if numba else 'false'}\n"
    )


# -- the checkout's generated files --------------------------------------------------------------


def test_generate_check_passes_on_this_checkout():
    result = subprocess.run([sys.executable, str(ROOT / "scripts/generate.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"stale generated files:\n{result.stdout}{result.stderr}"


def test_packaged_registry_is_a_byte_copy_of_the_root_catalog():
    packaged = ROOT / "core/src/sparsehub/registry.toml"
    assert packaged.read_bytes() == (ROOT / "registry.toml").read_bytes()


def test_every_package_folder_has_its_tox_env():
    config = _tox_config()
    expected = ["core"] + [d.name for d in HARDWARE_DIRS + PLUGIN_DIRS]
    missing = [env for env in expected if f"testenv:{env}" not in config]
    assert not missing, f"tox.ini has no env for {missing}: run scripts/generate.py"
    env_list = config["tox"]["env_list"].split()
    assert set(expected) <= set(env_list)


@pytest.mark.parametrize("plugin_dir", PLUGIN_DIRS, ids=lambda p: p.name)
def test_plugin_env_installs_only_the_core_and_that_plugin(plugin_dir):
    config = _tox_config()
    slug = plugin_dir.name
    deps = _deps(config, slug)
    assert deps[0].startswith("-e {tox_root}/core[")
    assert deps[-1].startswith(f"-e {{tox_root}}/plugins/{slug}")
    others = [d for d in deps[1:-1] if "/plugins/" in d]
    assert not others, f"the {slug} env installs other plugins: {others}"
    command = config[f"testenv:{slug}"]["commands"]
    assert f" plugins/{slug} " in command and "core/tests" not in command


def test_requirements_install_every_package_editable_with_torch_pinned():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    expected = {"-e ./core[all]"} | {f"-e ./{d.relative_to(ROOT).as_posix()}" for d in HARDWARE_DIRS + PLUGIN_DIRS}
    assert expected <= set(lines)
    assert generate.TORCH_PIN in lines
    dev = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.txt" in dev


# -- the generator on a temporary workspace ------------------------------------------------------


def test_check_lists_the_stale_catalog_copy_after_the_catalog_changes(workspace, capsys):
    assert generate.main(["--root", str(workspace), "--check"]) == 0
    with open(workspace / "registry.toml", "a") as fh:
        fh.write("# an edit\n")
    capsys.readouterr()
    assert generate.main(["--root", str(workspace), "--check"]) == 1
    assert capsys.readouterr().out.split() == ["stale:", "core/src/sparsehub/registry.toml"]


def test_new_plugin_gets_an_env_and_a_numba_env_when_it_asks_for_numba(workspace):
    _add_plugin(workspace, "zz-kernel-user", numba=True)
    _add_plugin(workspace, "zz-plain", numba=False)
    assert set(generate.stale_files(workspace)) == {workspace / "tox.ini", workspace / "requirements.txt",
                                                    workspace / "requirements-dev.txt"}
    generate.main(["--root", str(workspace)])
    config = _tox_config(workspace / "tox.ini")
    assert "testenv:zz-plain" in config and "testenv:zz-plain-numba" not in config
    numba_deps = _deps(config, "zz-kernel-user-numba")
    assert "-e {tox_root}/hardware/numba" in numba_deps
    assert numba_deps[-1] == "-e {tox_root}/plugins/zz-kernel-user[test]"
    assert "-e {tox_root}/hardware/numba" not in _deps(config, "zz-kernel-user")
    labels = dict(line.strip().split(" = ") for line in config["tox"]["labels"].strip().splitlines())
    assert {"zz-plain", "zz-kernel-user", "zz-kernel-user-numba"} <= set(labels["plugins"].split(", "))
    assert set(labels["all"].split(", ")) == set(config["tox"]["env_list"].split())
    assert "-e ./plugins/zz-plain" in (workspace / "requirements.txt").read_text().splitlines()
    assert "zz-oracle>=1" in (workspace / "requirements-dev.txt").read_text().splitlines()
    assert generate.stale_files(workspace) == []


def test_declared_local_dependency_is_installed_from_its_folder(workspace):
    _add_plugin(workspace, "zz-base", numba=False)
    _add_plugin(workspace, "zz-user", numba=False, dependencies=("sparsehub-zz-base>=0.1",))
    generate.main(["--root", str(workspace)])
    config = _tox_config(workspace / "tox.ini")
    assert "-e {tox_root}/plugins/zz-base" in _deps(config, "zz-user")
    assert not any("zz-user" in d for d in _deps(config, "zz-base"))


def test_generated_output_does_not_depend_on_folder_creation_order(workspace):
    _add_plugin(workspace, "zz-b", numba=False)
    _add_plugin(workspace, "zz-a", numba=False)
    generate.main(["--root", str(workspace)])
    env_list = _tox_config(workspace / "tox.ini")["tox"]["env_list"].split()
    assert env_list.index("zz-a") < env_list.index("zz-b")


# -- the plugin skeleton -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def skeleton(tmp_path_factory):
    slug = _catalog_slugs()[0]
    root = tmp_path_factory.mktemp("ws")
    assert new_plugin.main([slug, "--root", str(root)]) == 0
    return slug, root / "plugins" / slug


def test_skeleton_pyproject_names_the_package_and_its_entry_point(skeleton):
    slug, folder = skeleton
    module = "sparsehub_" + slug.replace("-", "_")
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    assert project["name"] == f"sparsehub-{slug}"
    assert project["version"] == "0.1.0"
    assert project["dependencies"] == ["sparsehub>=0.1"]
    assert project["entry-points"]["sparsehub"] == {slug: f"{module}.plugin"}
    assert (folder / "src" / module / "plugin.py").is_file()


def test_skeleton_python_files_compile_and_every_file_mentions_the_slug(skeleton):
    slug, folder = skeleton
    module = "sparsehub_" + slug.replace("-", "_")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert {p.relative_to(folder).as_posix() for p in files} >= {
        "pyproject.toml", "README.md", f"src/{module}/__init__.py", f"src/{module}/plugin.py",
        f"src/{module}/reproduction.py", f"tests/test_{module}.py"}
    for path in files:
        text = path.read_text()
        if path.suffix == ".py":
            compile(text, str(path), "exec")
        if path.name != "algorithm.py":  # the placeholder function names only the package
            assert slug in text or module in text, f"{path.name} does not mention {slug}"
    plugin_py = (folder / "src" / module / "plugin.py").read_text()
    assert f'spec_from_catalog("{slug}"' in plugin_py


def test_skeleton_readme_has_the_reproduced_claims_table(skeleton):
    _, folder = skeleton
    assert "| claim | metric | ours | baseline | criterion | status |" in (folder / "README.md").read_text()


def test_skeleton_reproduction_fails_until_it_is_written(skeleton):
    slug, folder = skeleton
    module = "sparsehub_" + slug.replace("-", "_")
    path = folder / "src" / module / "reproduction.py"
    spec = importlib.util.spec_from_file_location(f"skeleton_{module}_reproduction", path)
    reproduction = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reproduction)
    report = reproduction.reproduce(quick=True, seed=0)
    assert report.slug == slug
    assert report.claims and not report.passed


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed here")
def test_skeleton_passes_ruff(skeleton):
    _, folder = skeleton
    result = subprocess.run(["ruff", "check", "--config", str(ROOT / "pyproject.toml"), str(folder)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_new_plugin_refuses_an_unknown_slug_and_names_close_matches(tmp_path, capsys):
    slug = _catalog_slugs()[0]
    assert new_plugin.main([slug + "x", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert repr(slug) in err and "did you mean" in err
    assert not (tmp_path / "plugins").exists()


def test_new_plugin_refuses_to_overwrite_an_existing_plugin(tmp_path, capsys):
    slug = _catalog_slugs()[0]
    (tmp_path / "plugins" / slug).mkdir(parents=True)
    assert new_plugin.main([slug, "--root", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert list((tmp_path / "plugins" / slug).iterdir()) == []
