"""Plugin discovery: the pluggy manager over the ``sparsehub`` entry-point group.

Each entry point (``name = "package.plugin"``) is imported and registered on its own; a plugin
that fails to import, or whose hook raises or returns something that is not a list of the right
records, is recorded in :attr:`Plugins.errors` under its name with the reason, and every other
plugin still loads. Nothing here imports torch or compiles numba: the records plugins return
only name their heavy objects.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import threading
import warnings
from dataclasses import dataclass, field

import pluggy

from . import hookspecs
from .method import FormatSpec, KernelImpl, MethodSpec

__all__ = ["ENTRY_POINT_GROUP", "LoadedPlugin", "Plugins", "plugins", "reset"]

ENTRY_POINT_GROUP = "sparsehub"

_HOOK_TYPES = {
    "sparsehub_methods": MethodSpec,
    "sparsehub_backends": None,  # checked against the Backend protocol below
    "sparsehub_kernels": KernelImpl,
    "sparsehub_formats": FormatSpec,
}


@dataclass(frozen=True)
class LoadedPlugin:
    """One registered plugin: its entry-point name, module and distribution."""

    name: str
    module: str
    distribution: str | None
    version: str | None


@dataclass
class Plugins:
    """The loaded plugins and what their hooks returned.

    ``errors`` maps a plugin name (or ``name.hook``) to the reason it could not be used.
    """

    manager: pluggy.PluginManager
    loaded: dict[str, LoadedPlugin] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _results: dict[str, list[tuple[str, object]]] = field(default_factory=dict)

    # -- loading -----------------------------------------------------------------------------
    @classmethod
    def discover(cls, group: str = ENTRY_POINT_GROUP) -> Plugins:
        """Load every entry point of ``group``; failures are recorded, never raised."""
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        found = cls(manager=pm)
        for ep in sorted(metadata.entry_points(group=group), key=lambda e: e.name):
            if ep.name in found.loaded:
                found.errors[ep.name] = (
                    f"entry point {ep.value!r} ignored: the name is already taken by "
                    f"{found.loaded[ep.name].module!r}"
                )
                continue
            try:
                module = importlib.import_module(ep.value.partition(":")[0])
                pm.register(module, name=ep.name)
            except Exception as exc:  # a broken plugin must not break the others
                found.errors[ep.name] = f"import of {ep.value!r} failed: {type(exc).__name__}: {exc}"
                continue
            dist = getattr(ep, "dist", None)
            found.loaded[ep.name] = LoadedPlugin(
                name=ep.name,
                module=ep.value,
                distribution=dist.metadata["Name"] if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
        return found

    def register(self, module: object, name: str) -> None:
        """Register an in-process plugin module (used by tests and notebooks)."""
        self.manager.register(module, name=name)
        self.loaded[name] = LoadedPlugin(name, getattr(module, "__name__", name), None, None)
        self._results.clear()

    # -- hook results --------------------------------------------------------------------------
    def results(self, hook_name: str) -> list[tuple[str, object]]:
        """``(plugin name, record)`` pairs from every plugin's ``hook_name``, bad ones dropped."""
        if hook_name in self._results:
            return self._results[hook_name]
        from .backend import Backend  # local: backend.py imports this module's consumers

        expected = _HOOK_TYPES[hook_name] or Backend
        out: list[tuple[str, object]] = []
        for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
            where = f"{impl.plugin_name}.{hook_name}"
            try:
                records = impl.function()
            except Exception as exc:
                self.errors[where] = f"raised {type(exc).__name__}: {exc}"
                continue
            if not isinstance(records, (list, tuple)):
                self.errors[where] = f"returned {type(records).__name__}, expected a list of {expected.__name__}"
                continue
            for record in records:
                if isinstance(record, expected):
                    out.append((impl.plugin_name, record))
                else:
                    self.errors[where] = f"returned a {type(record).__name__}, expected {expected.__name__}"
        self._results[hook_name] = out
        return out

    def methods(self) -> dict[str, tuple[str, MethodSpec]]:
        """Installed methods by slug: ``slug -> (plugin name, spec)``."""
        return {spec.slug: (name, spec) for name, spec in self.results("sparsehub_methods")}  # type: ignore[union-attr]

    def backends(self) -> list:
        return [b for _, b in self.results("sparsehub_backends")]

    def kernels(self) -> list[KernelImpl]:
        return [k for _, k in self.results("sparsehub_kernels")]  # type: ignore[misc]

    def formats(self) -> list[FormatSpec]:
        return [f for _, f in self.results("sparsehub_formats")]  # type: ignore[misc]

    def warn_errors(self) -> None:
        """Emit one warning per broken plugin (the CLI's ``doctor`` lists them too)."""
        for name, reason in self.errors.items():
            warnings.warn(f"sparsehub plugin {name!r} could not be used: {reason}", stacklevel=3)


_lock = threading.Lock()
_current: Plugins | None = None


def plugins() -> Plugins:
    """The process-wide plugin set, discovered on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = Plugins.discover()
        return _current


def reset() -> None:
    """Forget discovered plugins so the next :func:`plugins` call discovers again."""
    global _current
    with _lock:
        _current = None
