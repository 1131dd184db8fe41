"""The exception hierarchy of sparsehub.

Every error raised at a public boundary derives from :class:`SparsehubError`, and the built-in
type a user would naturally catch (``ValueError``, ``KeyError``, ``ImportError``) is kept as a
second base, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConvergenceWarning",
    "FormatError",
    "MethodNotFound",
    "MethodNotInstalled",
    "PatternError",
    "PluginLoadError",
    "RegistryError",
    "ShapeError",
    "Shown",
    "SparsehubError",
    "bad_value",
    "describe",
]


class SparsehubError(Exception):
    """Base class of every sparsehub error."""


class MethodNotFound(SparsehubError, KeyError):
    """A slug that the catalog does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MethodNotInstalled(SparsehubError, ImportError):
    """A slug the catalog knows whose plugin package is not installed.

    The message is the exact ``pip install`` line that fixes it.
    """


class PluginLoadError(SparsehubError, ImportError):
    """A plugin entry point that could not be imported or that returned a bad hook result."""


class PatternError(SparsehubError, ValueError):
    """A sparsity pattern that is invalid or that a tensor does not obey (N > M, M not dividing an axis, ...)."""


class ShapeError(SparsehubError, ValueError):
    """Shapes that do not match or are not allowed."""


class FormatError(SparsehubError, ValueError):
    """An unknown sparse format or arrays that do not form a valid one."""


class BackendError(SparsehubError, ValueError):
    """An unknown backend or algorithm, or one that is not available on this machine."""


class RegistryError(SparsehubError, ValueError):
    """A malformed ``registry.toml``."""


class ConvergenceWarning(UserWarning):
    """An iterative method stopped before reaching its tolerance."""


def bad_value(name: str, value: object, allowed: str, error: type[Exception] = ValueError) -> Exception:
    """Build the standard message: the argument, what was given and what is allowed.

    >>> str(bad_value("sparsity", 1.5, "a float in [0, 1)"))
    'sparsity=1.5 is not allowed: expected a float in [0, 1)'
    """
    return error(f"{name}={value!r} is not allowed: expected {allowed}")


class Shown(str):
    """A value description that :func:`bad_value` prints without quotes (``A=<list> ...``).

    Wrap a description of an object whose ``repr`` is too long or uninformative to quote (an
    array, a module): ``bad_value("A", Shown("<ndarray shape=(3, 4)>"), ...)``.
    """

    def __repr__(self) -> str:
        return str(self)


def describe(x: object) -> Shown:
    """``<TypeName shape=(...)>`` for an error message: the type and, when it has one, the shape.

    >>> import numpy as np
    >>> describe(np.zeros((2, 3)))
    <ndarray shape=(2, 3)>
    """
    shape = getattr(x, "shape", None)
    return Shown(f"<{type(x).__name__}{'' if shape is None else ' shape=' + str(tuple(shape))}>")
