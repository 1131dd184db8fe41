"""The pluggy hook specifications every sparsehub plugin may implement.

A plugin is a module exposed through the ``sparsehub`` entry-point group whose functions are
decorated with :data:`hookimpl`. Each hook returns a list; the manager concatenates the lists of
all plugins. Implementations must stay cheap: no torch import and no numba compilation when a hook
is called — heavy objects are named by ``"module:object"`` strings and loaded on use.
"""

from __future__ import annotations

import pluggy

PROJECT = "sparsehub"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def sparsehub_methods() -> list:
    """Return the :class:`sparsehub.method.MethodSpec` objects this plugin implements."""


@hookspec
def sparsehub_backends() -> list:
    """Return :class:`sparsehub.backend.Backend` instances (hardware packages)."""


@hookspec
def sparsehub_kernels() -> list:
    """Return :class:`sparsehub.method.KernelImpl` objects: extra implementations of an op on a backend."""


@hookspec
def sparsehub_formats() -> list:
    """Return :class:`sparsehub.method.FormatSpec` objects: sparse formats beyond the built-in ones."""
