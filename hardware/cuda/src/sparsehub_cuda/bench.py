"""``sparsehub bench cuda``: the numba.cuda CSR spmm against torch.sparse.mm on the GPU and scipy on the CPU.

Every candidate takes host (numpy) operands and returns a host result, so each timing includes
the transfers, as :func:`sparsehub.ops.spmm` on this backend does. One case: a 90%-sparse float32
(4096 x 4096; 1024 x 1024 when quick) matrix times a dense (k x 64) matrix. Ratios above 1 mean
the cuda kernel is faster. Needs a CUDA GPU; raises BackendError otherwise.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from sparsehub.bench import BenchResult, compare, format_results
from sparsehub.errors import BackendError

from .plugin import cuda_gpu_present

__all__ = ["bench", "candidates"]


def _random_csr(m: int, k: int, density: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    per_row = round(density * k)
    cols = np.sort(rng.random((m, k)).argsort(axis=1)[:, :per_row], axis=1).astype(np.int32)
    return (
        (np.arange(m + 1) * per_row).astype(np.int32),
        cols.reshape(-1),
        rng.standard_normal(m * per_row).astype(np.float32),
    )


def candidates(m: int, k: int, n: int, density: float) -> tuple[dict[str, Callable[[], object]], dict]:
    """Zero-argument callables computing the same (m, k) @ (k, n) product, checked against each other."""
    from . import kernels

    indptr, indices, values = _random_csr(m, k, density)
    B = np.random.default_rng(1).standard_normal((k, n)).astype(np.float32)
    shape = (m, k)
    found: dict[str, Callable[[], object]] = {
        "cuda spmm": lambda: kernels.spmm(indptr, indices, values, shape, B)
    }
    try:
        import scipy.sparse as sp

        A = sp.csr_array((values, indices, indptr), shape=shape)
        found["scipy csr @ dense (CPU)"] = lambda: A @ B
    except ImportError:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                At = torch.sparse_csr_tensor(
                    torch.from_numpy(indptr.astype(np.int64)),
                    torch.from_numpy(indices.astype(np.int64)),
                    torch.from_numpy(values),
                    size=shape,
                    check_invariants=True,
                )

            def torch_sparse_mm() -> object:
                return torch.sparse.mm(At.cuda(), torch.from_numpy(B).cuda()).cpu()

            found["torch.sparse.mm (CSR, cuda)"] = torch_sparse_mm
    except ImportError:
        pass
    reference = found["cuda spmm"]()
    for name, fn in found.items():
        out = fn()
        out = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
        np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-3, err_msg=name)
    return found, {
        "shape": f"({m}x{k}) @ ({k}x{n})",
        "density": density,
        "nnz": int(indices.size),
        "dtype": "float32",
    }


def bench(quick: bool = True, threads: tuple[int, ...] = (1,)) -> list[BenchResult]:
    """Time the cuda spmm against torch.sparse.mm (cuda) and scipy; ``threads`` sets the CPU side."""
    if not cuda_gpu_present():
        raise BackendError("sparsehub bench cuda needs a CUDA GPU: numba.cuda.is_available() is False here")
    m = k = 1024 if quick else 4096
    found, extra = candidates(m, k, 64, 0.1)
    return [
        compare(
            f"spmm 90% sparse float32 {extra['shape']} (host to host)",
            found,
            ours="cuda spmm",
            threads=t,
            repeats=5 if quick else 9,
            extra=extra,
        )
        for t in threads
    ]


if __name__ == "__main__":
    import sys

    print(format_results(bench(quick="--full" not in sys.argv)))
