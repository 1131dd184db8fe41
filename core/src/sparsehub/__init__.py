"""sparsehub: the sparsity research of 57 papers behind one registry.

Look methods up with :func:`find` and :func:`get`; build sparse data with :class:`SparseTensor`
and :class:`Mask`; run sparse ops through :mod:`sparsehub.ops`. The names below are imported on
first use so that ``import sparsehub`` stays cheap (numpy and pluggy only).
"""

from __future__ import annotations

from .lazy import attach

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "SparseTensor": ".tensor",
        "FORMATS": ".tensor",
        "Mask": ".mask",
        "Pattern": ".mask",
        "Unstructured": ".mask",
        "NM": ".mask",
        "Block": ".mask",
        "Channel": ".mask",
        "Group": ".mask",
        "pruned_count": ".mask",
        "save_masks": ".mask",
        "load_masks": ".mask",
        "Backend": ".backend",
        "backend": None,
        "backends": ".backend",
        "get": ".registry",
        "load": ".registry",
        "find": ".registry",
        "methods": ".registry",
        "catalog": ".registry",
        "MethodEntry": ".registry",
        "MethodSpec": ".method",
        "KernelImpl": ".method",
        "FormatSpec": ".method",
        "SolverResult": ".solver",
        "Claim": ".repro",
        "Report": ".repro",
        "ops": None,
        "errors": None,
        "nn": None,
    },
)
