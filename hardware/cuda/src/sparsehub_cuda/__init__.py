"""sparsehub-cuda: GPU kernels (numba.cuda) registered as the sparsehub backend ``"cuda"``.

On a machine with a CUDA GPU, :mod:`sparsehub.ops` picks it over the CPU backends
(``backend="cuda"`` names it); elsewhere it reports itself unavailable and is skipped. The
kernels live in :mod:`sparsehub_cuda.kernels`, imported and compiled on first call.
"""

from .plugin import CudaBackend

__all__ = ["CudaBackend"]
__version__ = "0.1.0"
