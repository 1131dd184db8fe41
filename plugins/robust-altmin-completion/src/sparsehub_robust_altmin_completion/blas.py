"""One BLAS thread while a solver runs: its only dense work is thin m x k QRs and small products.

Those products are far too small for threads to help, and on a busy machine OpenBLAS threads that
spin while waiting make them 10-100x slower (measured here: an 800 x 10 QR took 22 ms instead of
0.2 ms at load 8 on 2 cores; a whole AltMin run 20x slower at 2 threads than at 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["single_blas_thread"]


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Limit every loaded BLAS to one thread for the ``with`` body (a no-op without threadpoolctl)."""
    import scipy.sparse.linalg  # noqa: F401  (loads scipy's own BLAS first, so that the limit reaches it)

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
