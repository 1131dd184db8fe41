"""Lazy public APIs: a package exposes names whose modules are imported on first access.

Plugins are imported at discovery time through their entry point, which imports the plugin
package's ``__init__``; that import must not pull in torch or compile numba. A package writes::

    from sparsehub.lazy import attach
    __getattr__, __dir__, __all__ = attach(__name__, {"prune": ".pruning", "reproduce": ".reproduction"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["attach"]


def attach(package: str, names: dict[str, str | None]) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Return ``(__getattr__, __dir__, __all__)`` for ``package``.

    ``names`` maps each public name to the module that defines it: relative (``".pruning"``) or
    absolute; ``None`` means the name is itself a submodule of ``package``.
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = names[name]
        if target is None:
            value = importlib.import_module(f"{package}.{name}")
        else:
            value = getattr(importlib.import_module(target, package), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__, sorted(names)
