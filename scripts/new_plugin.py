"""Write the skeleton of plugins/<slug>/ from the slug's entry in registry.toml.

The skeleton is a complete, installable package: pyproject (hatchling, src layout, the
``sparsehub`` entry point), a README with the claims table, ``plugin.py`` announcing the method
through ``spec_from_catalog``, a placeholder public function, and a ``reproduce`` whose single
placeholder claim fails until the paper's claims are written — the skeleton never fakes a pass.

    python scripts/new_plugin.py dsnot            # then: python scripts/generate.py
    python scripts/new_plugin.py dsnot --root /tmp/ws

Reads the catalog with ``tomllib`` only, so it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import textwrap
import tomllib
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "templates" / "plugin"

#: The public entry point the skeleton stubs for each category, following the category's idiom
#: (ARCHITECTURE.md); the plugin author renames it to the paper's own vocabulary.
ENTRY_STUBS = {
    "solver": ("solve", "problem: Any, **opts: Any"),
    "pruner": ("prune", "model: Any, sparsity: float, *, pattern: Any = None, calibration: Any = None"),
    "sparse-training": ("attach", "model: Any, optimizer: Any = None, **opts: Any"),
    "layer": ("from_dense", "module: Any, **opts: Any"),
    "attention": ("attention", "q: Any, k: Any, v: Any, **opts: Any"),
    "autoencoder": ("fit", "x: Any, **opts: Any"),
    "kernel": ("matmul", "a: Any, b: Any, **opts: Any"),
    "analysis": ("analyze", "model: Any, **opts: Any"),
    "quantization": ("quantize", "model: Any, **opts: Any"),
}
DEFAULT_STUB = ("run", "*args: Any, **opts: Any")


class SkeletonError(Exception):
    """The skeleton cannot be written (unknown slug, existing folder, bad catalog)."""


def module_name(slug: str) -> str:
    return "sparsehub_" + slug.replace("-", "_")


def load_entry(catalog: Path, slug: str) -> dict:
    """The ``[[method]]`` table of ``slug``; an unknown slug names the closest known ones."""
    with open(catalog, "rb") as fh:
        methods = tomllib.load(fh).get("method", [])
    by_slug = {m.get("slug"): m for m in methods}
    if slug not in by_slug:
        close = difflib.get_close_matches(slug, [s for s in by_slug if s], n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise SkeletonError(f"slug={slug!r} is not allowed: it is not in {catalog}{hint}")
    return by_slug[slug]


def paper_url(paper: str) -> str:
    return f"https://arxiv.org/abs/{paper.removeprefix('arXiv:')}" if paper.startswith("arXiv:") else paper


def _docstring_text(text: str) -> str:
    """``text`` made safe inside a triple-quoted docstring."""
    return text.replace("\\", "\\\\").replace('"""', r"\"\"\"")


def template_values(entry: dict) -> dict[str, str]:
    slug = entry["slug"]
    name, args = ENTRY_STUBS.get(entry["category"], DEFAULT_STUB)
    anchors = entry.get("anchors") or []
    summary = entry.get("summary", "")
    return {
        "slug": slug,
        "package": f"sparsehub-{slug}",
        "module": module_name(slug),
        "number": str(entry.get("number", "?")),
        "title": entry.get("title", slug),
        "title_doc": _docstring_text(entry.get("title", slug).rstrip(".")),
        "paper": entry.get("paper", ""),
        "paper_url": paper_url(entry.get("paper", "")),
        "category": entry["category"],
        "summary": summary,
        "summary_doc": "\n".join(textwrap.wrap(_docstring_text(summary), width=96)),
        # JSON strings are valid TOML basic strings (same escapes), so any summary is safe here.
        "description": json.dumps(summary),
        "entry_name": name,
        "all_names": ", ".join(f'"{n}"' for n in sorted([name, "reproduce"])),
        "entry_args": args,
        "anchors": "\n".join(f"- {a}" for a in anchors) or "- TODO: the reference implementations compared against",
    }


def render(values: dict[str, str]) -> dict[Path, str]:
    """Relative output path -> file text, for every template."""
    out: dict[Path, str] = {}
    for template in sorted(TEMPLATES.rglob("*.tmpl")):
        relative = template.relative_to(TEMPLATES).with_suffix("")  # drop .tmpl
        relative = Path(str(relative).replace("__module__", values["module"]))
        out[relative] = Template(template.read_text()).substitute(values)
    return out


def write_skeleton(slug: str, root: Path = ROOT, catalog: Path | None = None) -> Path:
    """Write ``<root>/plugins/<slug>/`` and return it; refuses an existing folder."""
    catalog = catalog or ROOT / "registry.toml"
    entry = load_entry(catalog, slug)
    target = root / "plugins" / slug
    if target.exists():
        raise SkeletonError(f"{target} already exists: refusing to overwrite a plugin")
    files = render(template_values(entry))
    for relative, text in files.items():  # render everything first so a template error writes nothing
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slug", help="a slug of registry.toml, e.g. dsnot")
    parser.add_argument("--root", type=Path, default=ROOT, help="workspace root to write plugins/<slug>/ into")
    parser.add_argument("--catalog", type=Path, default=None,
                        help="the registry.toml to read (default: <this checkout>/registry.toml)")
    args = parser.parse_args(argv)
    try:
        target = write_skeleton(args.slug, args.root.resolve(), args.catalog)
    except SkeletonError as exc:
        print(f"new_plugin: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {target}")
    print("next: python scripts/generate.py   (adds its tox env and requirements line)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
