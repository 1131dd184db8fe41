"""Backends and op dispatch: which implementation of an op runs where.

A :class:`Backend` is a named execution engine (the numpy/scipy reference in core, ``numba`` and
``cuda`` from the hardware packages) with a device, a priority and a default implementation of
each op it supports. Kernel plugins add further implementations of an op on a backend under an
algorithm name (:class:`~sparsehub.method.KernelImpl`). :func:`resolve` turns
``(op, backend, algorithm)`` into one :class:`KernelImpl`: by default the highest-priority
available backend that implements the op, the reference backend last.

Kernels are called by :mod:`sparsehub.ops` after validation, on plain arrays; the calling
convention of each op is documented in :mod:`sparsehub.reference`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .discovery import plugins as _plugins
from .errors import BackendError, bad_value
from .method import OPS, KernelImpl

__all__ = ["Backend", "ReferenceBackend", "backend", "backends", "kernels", "resolve"]

DEFAULT_ALGORITHM = "default"


class Backend:
    """A named execution engine and the default implementation of each op it supports.

    Subclass it and set the class attributes; a hardware package returns an instance from its
    ``sparsehub_backends`` hook. Discovery only instantiates the class and reads these
    attributes, so neither ``__init__`` nor :meth:`ops` may import heavy modules: name kernels
    as ``"module:function"`` strings, imported on first call.

    Attributes:
        name: the backend's name (``backend="numba"``).
        device: where it computes (``"cpu"``, ``"cuda"``).
        priority: higher wins when ``backend=None``; the reference backend has -100.
        bench: optional ``"module:function"`` run by ``sparsehub bench <name>``.
    """

    name: str = ""
    device: str = "cpu"
    priority: int = 0
    bench: str | None = None

    def available(self) -> bool:
        """Whether the backend can run on this machine now (its libraries and device are present).

        Called on every dispatch without a named backend, so it must be cheap: cache a probe
        that is not.
        """
        return True

    def ops(self) -> dict[str, Callable[..., Any] | str]:
        """The default implementation of each op it supports: ``op -> callable or "module:object"``."""
        return {}

    def describe(self) -> str:
        """One line for ``sparsehub doctor``: name, device, priority, ops and availability."""
        state = "available" if self.available() else "not available"
        ops = ", ".join(sorted(self.ops())) or "no ops"
        return f"{self.name} ({self.device}, priority {self.priority}, {state}): {ops}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} device={self.device!r} priority={self.priority}>"


class ReferenceBackend(Backend):
    """numpy/scipy (and torch for torch inputs) implementations of every op: the oracle.

    Always available; scipy is used when installed and numpy otherwise. Every other backend is
    tested against it.
    """

    name = "reference"
    device = "cpu"
    priority = -100

    def ops(self) -> dict[str, Callable[..., Any] | str]:
        return {op: f"sparsehub.reference:{op}" for op in OPS}


_REFERENCE = ReferenceBackend()


def backends() -> dict[str, Backend]:
    """Every installed backend by name, available or not: the reference plus the plugins' ones.

    A plugin backend whose name is already taken is skipped and reported in
    ``sparsehub.discovery.plugins().errors``.
    """
    found: dict[str, Backend] = {_REFERENCE.name: _REFERENCE}
    registry = _plugins()
    for b in registry.backends():
        if not isinstance(b.name, str) or not b.name:
            registry.errors[f"backend {b!r}"] = "ignored: its name is not a non-empty string"
        elif b.name in found:
            registry.errors[f"backend {b.name}"] = (
                f"ignored {type(b).__module__}.{type(b).__qualname__}: the name is already taken by "
                f"{type(found[b.name]).__module__}.{type(found[b.name]).__qualname__}"
            )
        else:
            found[b.name] = b
    return found


def backend(name: str) -> Backend:
    """The installed backend called ``name``; :class:`BackendError` listing the known names otherwise."""
    known = backends()
    if name not in known:
        raise bad_value(
            "backend", name, f"one of the installed backends: {', '.join(sorted(known))}", BackendError
        )
    return known[name]


def _check_op(op: str) -> None:
    if op not in OPS:
        raise bad_value("op", op, f"one of {', '.join(OPS)}", BackendError)


def kernels(op: str | None = None) -> list[KernelImpl]:
    """Every implementation of ``op`` (all ops when None) on every installed backend.

    Each backend's :meth:`Backend.ops` entries appear with algorithm ``"default"`` and the
    backend's priority; kernel plugins' records follow. Availability is not checked here.
    """
    if op is not None:
        _check_op(op)
    out: list[KernelImpl] = []
    for b in backends().values():
        for kop, fn in b.ops().items():
            if op is None or kop == op:
                out.append(
                    KernelImpl(kop, b.name, DEFAULT_ALGORITHM, fn, f"{b.name} default {kop}", b.priority)
                )
    out.extend(k for k in _plugins().kernels() if op is None or k.op == op)
    return out


def _by_backend(op: str) -> dict[str, list[KernelImpl]]:
    """Implementations of ``op`` on installed backends, grouped by backend name."""
    known = backends()
    grouped: dict[str, list[KernelImpl]] = {}
    for k in kernels(op):
        if k.backend in known:
            grouped.setdefault(k.backend, []).append(k)
    return grouped


def _available(b: Backend) -> bool:
    """``b.available()``, where a probe that raises means unavailable (and is reported, not raised)."""
    try:
        return bool(b.available())
    except Exception as exc:
        _plugins().errors[f"backend {b.name}"] = f"available() raised {type(exc).__name__}: {exc}"
        return False


def _pick_algorithm(impls: list[KernelImpl]) -> KernelImpl:
    for k in impls:
        if k.algorithm == DEFAULT_ALGORITHM:
            return k
    return max(impls, key=lambda k: (k.priority, k.algorithm))


def resolve(op: str, backend: str | None = None, algorithm: str | None = None) -> KernelImpl:
    """The implementation of ``op`` that runs for these choices.

    ``backend=None`` picks the highest-priority available backend implementing ``op`` (the
    reference backend last); ``algorithm=None`` picks that backend's ``"default"``, else its
    highest-priority kernel. With ``backend=None`` and an ``algorithm``, the highest-priority
    available backend offering that algorithm is used. An unknown or unavailable choice raises
    :class:`BackendError` naming the argument, the value and the choices allowed for ``op``.
    """
    _check_op(op)
    known = backends()
    grouped = _by_backend(op)
    if backend is not None:
        # probe only the named backend: naming one must not import another's runtime
        if backend not in grouped or not _available(known[backend]):
            usable = sorted(name for name in grouped if _available(known[name]))
            allowed = f"an available backend implementing {op}: {', '.join(usable)}"
            if backend in grouped:
                allowed += f" ({backend!r} is installed but not available on this machine)"
            elif backend in known:
                allowed += f" ({backend!r} does not implement {op})"
            raise bad_value("backend", backend, allowed, BackendError)
        name = backend
    else:
        by_priority = sorted(grouped, key=lambda n: (-known[n].priority, n))
        offering = [
            n for n in by_priority if algorithm is None or any(k.algorithm == algorithm for k in grouped[n])
        ]
        name = next((n for n in offering if _available(known[n])), None)
        if name is None:  # only an algorithm can empty the list: the reference implements every op
            usable = [n for n in by_priority if _available(known[n])]
            offered = sorted({k.algorithm for n in usable for k in grouped[n]})
            raise bad_value(
                "algorithm",
                algorithm,
                f"an algorithm of {op} on an available backend: {', '.join(offered)}",
                BackendError,
            )
    chosen = grouped[name]
    if algorithm is None:
        return _pick_algorithm(chosen)
    for k in chosen:
        if k.algorithm == algorithm:
            return k
    offered = ", ".join(sorted(k.algorithm for k in chosen))
    raise bad_value(
        "algorithm", algorithm, f"an algorithm of {op} on backend {name!r}: {offered}", BackendError
    )
