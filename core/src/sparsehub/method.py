"""What a plugin announces: methods, kernels and formats, plus the category protocols.

These are plain, frozen records holding strings; the objects they name (``"module:object"``)
are imported only when :meth:`MethodSpec.load` or :meth:`KernelImpl.load` is called, so that
discovering every installed plugin imports no torch and compiles no numba.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .errors import PluginLoadError, bad_value

__all__ = [
    "CATEGORIES",
    "OPS",
    "FormatSpec",
    "KernelImpl",
    "MethodSpec",
    "Pruner",
    "Reproducible",
    "Solver",
    "Sparsifier",
    "load_object",
]

#: The method families of ARCHITECTURE.md (plus the few the catalog needs beyond them).
CATEGORIES = (
    "solver",
    "pruner",
    "sparse-training",
    "layer",
    "attention",
    "autoencoder",
    "kernel",
    "analysis",
    "quantization",
    "retrieval",
    "memory",
)

#: The ops a backend may implement; ``sparsehub.ops`` dispatches each of them.
OPS = ("spmm", "spgemm", "sddmm", "nm_matmul", "masked_matmul")


def load_object(ref: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the object it names."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise bad_value("ref", ref, "a string 'module:object'")
    module_name, _, attr_path = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for attr in attr_path.split("."):
            obj = getattr(obj, attr)
    except (ImportError, AttributeError) as exc:
        raise PluginLoadError(f"cannot load {ref!r}: {type(exc).__name__}: {exc}") from exc
    return obj


def _check_ref(name: str, ref: str | None) -> None:
    if ref is not None and (not isinstance(ref, str) or ref.count(":") != 1):
        raise bad_value(name, ref, "a string 'module:object'")


@dataclass(frozen=True)
class MethodSpec:
    """One paper's method as an installed plugin announces it.

    ``entry`` names the public object (a function, class or module) and ``reproduce`` the
    ``reproduce(quick=True, seed=0) -> Report`` function, both as ``"module:object"``.
    ``bench`` optionally names a ``bench(quick=True, threads=(1, 2)) -> list[BenchResult]``.
    """

    slug: str
    title: str
    paper: str
    category: str
    summary: str
    entry: str
    reproduce: str
    tags: tuple[str, ...] = ()
    structures: tuple[str, ...] = ()
    anchors: tuple[str, ...] = ()
    bench: str | None = None

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise bad_value("category", self.category, f"one of {', '.join(CATEGORIES)}")
        for name in ("entry", "reproduce", "bench"):
            _check_ref(name, getattr(self, name))
        for name in ("tags", "structures", "anchors"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def load(self) -> Any:
        """Import and return the method's public object."""
        return load_object(self.entry)

    def load_reproduce(self) -> Callable[..., Any]:
        """Import and return the plugin's ``reproduce`` function."""
        return load_object(self.reproduce)

    def load_bench(self) -> Callable[..., Any] | None:
        """Import and return the plugin's ``bench`` function, or None when it has none."""
        return load_object(self.bench) if self.bench else None


@dataclass(frozen=True)
class KernelImpl:
    """An implementation of ``op`` on ``backend`` under the name ``algorithm``.

    ``fn`` is either a callable or a ``"module:object"`` string imported on first use, so a
    numba kernel is compiled only when it is called.
    """

    op: str
    backend: str
    algorithm: str
    fn: Callable[..., Any] | str
    description: str = ""
    priority: int = 0
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise bad_value("op", self.op, f"one of {', '.join(OPS)}")
        if isinstance(self.fn, str):
            _check_ref("fn", self.fn)
        elif not callable(self.fn):
            raise bad_value("fn", self.fn, "a callable or a 'module:object' string")

    def load(self) -> Callable[..., Any]:
        """Return the callable, importing it on first use."""
        if not isinstance(self.fn, str):
            return self.fn
        if "fn" not in self._cache:
            self._cache["fn"] = load_object(self.fn)
        return self._cache["fn"]


@dataclass(frozen=True)
class FormatSpec:
    """A sparse format contributed by a plugin (e.g. Flash-LLM's Tiled-CSL).

    ``from_csr`` and ``to_csr`` convert between the format's own object and a CSR
    :class:`sparsehub.SparseTensor`; both are ``"module:object"`` strings or callables.
    """

    name: str
    description: str
    from_csr: Callable[..., Any] | str
    to_csr: Callable[..., Any] | str

    def converters(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        """Return ``(from_csr, to_csr)`` as callables."""
        return tuple(f if callable(f) else load_object(f) for f in (self.from_csr, self.to_csr))  # type: ignore[return-value]


@runtime_checkable
class Reproducible(Protocol):
    """A plugin module: ``reproduce(quick=True, seed=0) -> Report``."""

    def reproduce(self, quick: bool = True, seed: int = 0) -> Any: ...


@runtime_checkable
class Solver(Protocol):
    """The solver idiom (scipy.optimize): ``solve(problem, **opts) -> Result``."""

    def solve(self, *args: Any, **opts: Any) -> Any: ...


@runtime_checkable
class Pruner(Protocol):
    """The one-shot pruner idiom: ``prune(model, sparsity=..., pattern=..., calibration=None) -> dict[str, Mask]``."""

    def prune(self, model: Any, sparsity: float, **opts: Any) -> dict: ...


@runtime_checkable
class Sparsifier(Protocol):
    """The sparse-training idiom (torch.ao.pruning): attach, step, state_dict, remove."""

    def attach(self, model: Any, optimizer: Any = None) -> Any: ...

    def step(self) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def remove(self) -> Any: ...
