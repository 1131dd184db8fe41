"""Small array utilities that compiled kernels share."""

from __future__ import annotations

import numpy as np

__all__ = ["readonly"]


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (no copy; ``a`` itself when it already is read-only).

    numba compiles a separate specialisation for writable and read-only arrays. SparseTensor
    arrays are read-only, so kernels that view every input this way compile once per dtype
    combination instead of twice, and cannot write into a caller's operand by mistake.
    """
    if not a.flags.writeable:
        return a
    view = a.view()
    view.flags.writeable = False
    return view
