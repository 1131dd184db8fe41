"""The registry: the catalog of every known method joined with the installed plugins.

``registry.toml`` lists all 57 papers, implemented or not. Installed plugins announce
:class:`~sparsehub.method.MethodSpec` objects through the ``sparsehub_methods`` hook. Lookups:

>>> import sparsehub
>>> [m.slug for m in sparsehub.find("sparse-*", category="pruner")]   # doctest: +SKIP
['sparse-model-soups', 'sparse-then-prune-vit', 'sparse-unlearning']
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .discovery import plugins
from .errors import MethodNotFound, MethodNotInstalled, RegistryError, bad_value
from .method import CATEGORIES, MethodSpec

__all__ = [
    "STATUSES",
    "Method",
    "MethodEntry",
    "catalog",
    "find",
    "get",
    "load",
    "load_catalog",
    "methods",
    "spec_from_catalog",
]

STATUSES = ("planned", "implemented")
SCHEMA_VERSION = 1
_TOKEN = re.compile(r"^[a-z0-9][a-z0-9:\-]*$")
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_STR_KEYS = ("slug", "title", "paper", "category", "package", "module", "status", "summary", "brief")
_LIST_KEYS = ("tags", "structures", "anchors")


@dataclass(frozen=True)
class MethodEntry:
    """One paper as the catalog describes it (installed or not)."""

    number: int
    slug: str
    title: str
    paper: str
    category: str
    package: str
    module: str
    status: str
    summary: str
    tags: tuple[str, ...]
    structures: tuple[str, ...]
    anchors: tuple[str, ...]
    brief: str

    @property
    def pip_install(self) -> str:
        """The exact command that installs this method's plugin."""
        return f"pip install {self.package}"

    @property
    def url(self) -> str:
        """A link to the paper (arXiv abstract page when the id is an arXiv id)."""
        if self.paper.startswith("arXiv:"):
            return f"https://arxiv.org/abs/{self.paper.removeprefix('arXiv:')}"
        return self.paper

    @property
    def installed(self) -> bool:
        return self.slug in plugins().methods()


@dataclass(frozen=True)
class Method:
    """An installed method: its catalog entry plus the spec its plugin announced."""

    entry: MethodEntry
    spec: MethodSpec
    plugin: str

    def __getattr__(self, name: str) -> Any:  # slug, title, category, ... come from the entry
        return getattr(self.entry, name)

    @property
    def api(self) -> Any:
        """The method's public object (module, function or class), imported on first access."""
        return self.spec.load()

    def reproduce(self, quick: bool = True, seed: int = 0) -> Any:
        """Run the plugin's reproduction and return its :class:`~sparsehub.repro.Report`."""
        return self.spec.load_reproduce()(quick=quick, seed=seed)

    def bench(self, **kwargs: Any) -> Any:
        fn = self.spec.load_bench()
        if fn is None:
            raise MethodNotInstalled(f"method {self.slug!r} ({self.plugin}) provides no benchmark")
        return fn(**kwargs)


# -- catalog ---------------------------------------------------------------------------------


def load_catalog(path: str | Path) -> dict[str, MethodEntry]:
    """Parse and validate a ``registry.toml``; every problem raises :class:`RegistryError`."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: not valid TOML: {exc}") from exc
    return parse_catalog(data, source=str(path))


def parse_catalog(data: dict[str, Any], source: str = "registry.toml") -> dict[str, MethodEntry]:
    """Validate the parsed TOML ``data`` and return the entries by slug, in catalog order."""
    if data.get("schema") != SCHEMA_VERSION:
        raise RegistryError(f"{source}: schema={data.get('schema')!r} is not allowed: expected {SCHEMA_VERSION}")
    raw = data.get("method")
    if not isinstance(raw, list) or not raw:
        raise RegistryError(f"{source}: expected a non-empty list of [[method]] tables")
    entries: dict[str, MethodEntry] = {}
    numbers: set[int] = set()
    for i, item in enumerate(raw):
        entry = _parse_entry(item, f"{source}: [[method]] #{i + 1} ({item.get('slug', '?')!r})")
        if entry.slug in entries:
            raise RegistryError(f"{source}: slug {entry.slug!r} appears twice")
        if entry.number in numbers:
            raise RegistryError(f"{source}: number {entry.number} appears twice")
        numbers.add(entry.number)
        entries[entry.slug] = entry
    return entries


def _parse_entry(item: Any, where: str) -> MethodEntry:
    def fail(key: str, allowed: str) -> RegistryError:
        return RegistryError(f"{where}: {key}={item.get(key)!r} is not allowed: expected {allowed}")

    if not isinstance(item, dict):
        raise RegistryError(f"{where}: expected a table")
    if not isinstance(item.get("number"), int) or item["number"] < 1:
        raise fail("number", "a positive int")
    for key in _STR_KEYS:
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise fail(key, "a non-empty string")
    for key in _LIST_KEYS:
        value = item.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(key, "a list of non-empty strings")
    extra = set(item) - {"number", *_STR_KEYS, *_LIST_KEYS}
    if extra:
        raise RegistryError(f"{where}: unknown keys {sorted(extra)}")
    slug = item["slug"]
    if not _SLUG.match(slug):
        raise fail("slug", "lowercase words joined by '-'")
    if item["category"] not in CATEGORIES:
        raise fail("category", f"one of {', '.join(CATEGORIES)}")
    if item["status"] not in STATUSES:
        raise fail("status", f"one of {', '.join(STATUSES)}")
    if item["package"] != f"sparsehub-{slug}":
        raise fail("package", f"'sparsehub-{slug}'")
    if item["module"] != "sparsehub_" + slug.replace("-", "_"):
        raise fail("module", f"'sparsehub_{slug.replace('-', '_')}'")
    for key in ("tags", "structures"):
        bad = [t for t in item[key] if not _TOKEN.match(t)]
        if bad:
            raise fail(key, f"lowercase tokens of [a-z0-9:-] (bad: {bad})")
    return MethodEntry(
        number=item["number"],
        **{k: item[k] for k in _STR_KEYS},
        **{k: tuple(item[k]) for k in _LIST_KEYS},
    )


@functools.cache
def catalog() -> dict[str, MethodEntry]:
    """The catalog packaged with the core (a generated copy of the repository's registry.toml)."""
    with resources.as_file(resources.files("sparsehub") / "registry.toml") as path:
        return load_catalog(path)


# -- lookups ---------------------------------------------------------------------------------


def _entry(slug: str, *, include_installed: bool = True) -> MethodEntry:
    entries = catalog()
    if not isinstance(slug, str):
        raise bad_value("slug", slug, "a method slug string such as 'dsnot'", MethodNotFound)
    if slug in entries:
        return entries[slug]
    if include_installed:  # a plugin for a method the catalog does not list
        installed = plugins().methods()
        if slug in installed:
            return _entry_from_spec(installed[slug][1])
    close = difflib.get_close_matches(slug, list(entries), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise MethodNotFound(f"unknown method slug {slug!r}{hint} (`sparsehub list` shows all {len(entries)})")


def _entry_from_spec(spec: MethodSpec) -> MethodEntry:
    return MethodEntry(0, spec.slug, spec.title, spec.paper, spec.category, f"sparsehub-{spec.slug}",
                       "sparsehub_" + spec.slug.replace("-", "_"), "implemented", spec.summary,
                       spec.tags, spec.structures, spec.anchors, "")


def get(slug: str) -> Method:
    """The installed method ``slug``.

    Raises :class:`MethodNotFound` (with close matches) for a slug nobody knows and
    :class:`MethodNotInstalled`, whose message is the exact ``pip install`` line, for a known
    method whose plugin is not installed.
    """
    entry = _entry(slug)
    installed = plugins().methods()
    if slug not in installed:
        broken = plugins().errors.get(slug)
        reason = f" (the plugin is installed but failed to load: {broken})" if broken else ""
        raise MethodNotInstalled(f"{entry.pip_install}{reason}")
    plugin, spec = installed[slug]
    return Method(entry=entry, spec=spec, plugin=plugin)


def load(slug: str) -> Any:
    """The public object of the installed method ``slug`` (shortcut for ``get(slug).api``)."""
    return get(slug).api


def methods() -> list[MethodEntry]:
    """Every catalog entry, in catalog order."""
    return list(catalog().values())


def find(
    pattern: str | None = None,
    *,
    category: str | None = None,
    tag: str | None = None,
    structure: str | None = None,
    status: str | None = None,
    installed: bool | None = None,
) -> list[MethodEntry]:
    """Catalog entries matching every given filter.

    ``pattern`` is a shell wildcard on the slug (``"*sae*"``); ``tag`` and ``structure`` match one
    element of the entry's lists (wildcards allowed); ``installed`` filters on the plugin being
    importable here.
    """
    if category is not None and category not in CATEGORIES:
        raise bad_value("category", category, f"one of {', '.join(CATEGORIES)}")
    if status is not None and status not in STATUSES:
        raise bad_value("status", status, f"one of {', '.join(STATUSES)}")
    installed_slugs = set(plugins().methods()) if installed is not None else set()
    out = []
    for entry in catalog().values():
        if pattern is not None and not fnmatch.fnmatchcase(entry.slug, pattern):
            continue
        if category is not None and entry.category != category:
            continue
        if tag is not None and not fnmatch.filter(entry.tags, tag):
            continue
        if structure is not None and not fnmatch.filter(entry.structures, structure):
            continue
        if status is not None and entry.status != status:
            continue
        if installed is not None and (entry.slug in installed_slugs) != installed:
            continue
        out.append(entry)
    return out


def spec_from_catalog(slug: str, *, entry: str, reproduce: str, bench: str | None = None) -> MethodSpec:
    """Build a plugin's :class:`MethodSpec` from its catalog entry, so the metadata lives in one place.

    A plugin's ``plugin.py`` calls this in its ``sparsehub_methods`` hook.
    """
    e = _entry(slug, include_installed=False)  # called from inside the hooks: never rediscover
    return MethodSpec(slug=e.slug, title=e.title, paper=e.paper, category=e.category, summary=e.summary,
                      entry=entry, reproduce=reproduce, tags=e.tags, structures=e.structures,
                      anchors=e.anchors, bench=bench)
