"""sparsehub-numba: parallel CPU kernels (numba) registered as the sparsehub backend ``"numba"``.

Use it through :mod:`sparsehub.ops` (``sparsehub.ops.spmm(A, B)`` picks it when installed, or
``backend="numba"``); the kernels themselves live in :mod:`sparsehub_numba.kernels`, compiled on
first call.
"""

from .plugin import NumbaBackend

__all__ = ["NumbaBackend"]
__version__ = "0.1.0"
