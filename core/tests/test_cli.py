"""The command line: list, info, repro, bench and doctor."""

from __future__ import annotations

import json

import pytest

from sparsehub import registry
from sparsehub.cli import main


def test_list_shows_all_57_methods(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for entry in registry.methods():
        assert entry.slug in out
    assert "57 methods listed" in out


def test_list_filters_and_prints_json(capsys):
    assert main(["list", "--category", "solver", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["category"] for r in rows} == {"solver"}
    assert {"slug", "status", "installed", "paper"} <= set(rows[0])


def test_info_of_an_uninstalled_method_gives_the_pip_line(capsys):
    entry = next(e for e in registry.methods() if not e.installed)
    assert main(["info", entry.slug]) == 0
    out = capsys.readouterr().out
    assert entry.title in out and f"pip install sparsehub-{entry.slug}" in out


def test_info_of_an_unknown_slug_fails_with_suggestions(capsys):
    assert main(["info", "sinkhorn-newton-sparce"]) == 2
    assert "sinkhorn-newton-sparse" in capsys.readouterr().err


def test_repro_of_an_uninstalled_method_fails_with_the_pip_line(capsys):
    entry = next(e for e in registry.methods() if not e.installed)
    assert main(["repro", entry.slug]) == 2
    assert f"pip install sparsehub-{entry.slug}" in capsys.readouterr().err


def test_doctor_reports_backends_and_formats(capsys):
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert "reference" in out and "formats: coo, csr, bsr, nm, bitmap" in out
    assert ("no plugin load errors" in out) == (code == 0)


def test_bench_rejects_bad_thread_lists(capsys):
    assert main(["bench", "reference", "--threads", "0"]) == 2
    assert "--threads='0'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--version"], []])
def test_version_and_help_exit_cleanly(argv, capsys):
    try:
        assert main(argv) == 0
    except SystemExit as exc:
        assert exc.code == 0
