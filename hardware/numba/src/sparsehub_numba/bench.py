"""``sparsehub bench numba``: the numba kernels against scipy, torch.sparse and dense BLAS.

Two cases per thread count, each a float32 (4096 x 4096; 1024 x 1024 when quick) sparse matrix
times a dense (k x 64) matrix: ``spmm`` at 90% sparsity (unstructured), and ``nm_matmul`` on a
2:4 matrix (50% sparsity). Timed by :func:`sparsehub.bench.compare` in one process, interleaved,
with numba compiled during warm-up; ratios above 1 mean the numba kernel is faster. Every
candidate's result is checked against ours before timing. scipy's CSR product is
single-threaded whatever the thread count.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from sparsehub.bench import BenchResult, compare, format_results

__all__ = ["bench", "nm_case", "random_csr", "random_nm", "spmm_case"]


def random_csr(
    m: int, k: int, density: float, seed: int = 0, dtype: Any = np.float32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random CSR matrix with exactly ``round(density * k)`` entries per row at distinct columns.

    Shapes: -> indptr (m + 1,) int32, indices (nnz,) int32 sorted within rows, values (nnz,).
    """
    rng = np.random.default_rng(seed)
    per_row = round(density * k)
    cols = np.sort(rng.random((m, k)).argsort(axis=1)[:, :per_row], axis=1).astype(np.int32)
    indptr = (np.arange(m + 1) * per_row).astype(np.int32)
    values = rng.standard_normal(m * per_row).astype(dtype)
    return indptr, cols.reshape(-1), values


def random_nm(m: int, k: int, n: int, group: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random N:M float32 matrix, compressed: ``n`` values at distinct sorted slots of every ``group``.

    Shapes: -> values (m, k // group * n) float32, indices (m, k // group * n) uint8.
    """
    rng = np.random.default_rng(seed)
    slots = np.sort(rng.random((m, k // group, group)).argsort(axis=-1)[..., :n], axis=-1)
    values = rng.standard_normal((m, k // group * n)).astype(np.float32)
    return values, slots.reshape(m, -1).astype(np.uint8)


def _torch_csr(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> Any:
    import torch

    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(indptr.astype(np.int64)),
            torch.from_numpy(indices.astype(np.int64)),
            torch.from_numpy(values),
            size=shape,
            check_invariants=True,
        )


def _anchors(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, int], B: np.ndarray
) -> dict[str, Callable[[], object]]:
    """scipy CSR, dense BLAS and torch.sparse.mm (CSR) computing ``A @ B``, where installed."""
    found: dict[str, Callable[[], object]] = {}
    try:
        import scipy.sparse as sp

        A = sp.csr_array((values, indices, indptr), shape=shape)
        dense = A.toarray()
        found["scipy csr @ dense"] = lambda: A @ B
        found["dense matmul (numpy BLAS)"] = lambda: dense @ B
    except ImportError:
        pass
    try:
        import torch

        At, Bt = _torch_csr(indptr, indices, values, shape), torch.from_numpy(B)
        found["torch.sparse.mm (CSR)"] = lambda: torch.sparse.mm(At, Bt)
    except ImportError:
        pass
    return found


def _checked(candidates: dict[str, Callable[[], object]], ours: str) -> dict[str, Callable[[], object]]:
    """The candidates, after checking that each computes what ours computes."""
    expected = np.asarray(candidates[ours]())
    for name, fn in candidates.items():
        out = fn()
        out = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-3, err_msg=name)
    return candidates


def spmm_case(m: int, k: int, n: int, density: float) -> tuple[dict[str, Callable[[], object]], dict]:
    """Candidates for the CSR spmm case and its description."""
    from . import kernels

    indptr, indices, values = random_csr(m, k, density)
    B = np.random.default_rng(1).standard_normal((k, n)).astype(np.float32)
    shape = (m, k)
    ours = {"numba spmm": lambda: kernels.spmm(indptr, indices, values, shape, B)}
    candidates = _checked({**ours, **_anchors(indptr, indices, values, shape, B)}, "numba spmm")
    extra = {
        "shape": f"({m}x{k}) @ ({k}x{n})",
        "density": density,
        "nnz": int(indices.size),
        "dtype": "float32",
    }
    return candidates, extra


def nm_case(
    m: int, k: int, n_cols: int, n: int = 2, group: int = 4
) -> tuple[dict[str, Callable[[], object]], dict]:
    """Candidates for the N:M case: the compressed kernel against the same matrix as CSR and dense."""
    from sparsehub.reference import nm_columns

    from . import kernels

    values, idx = random_nm(m, k, n, group)
    B = np.random.default_rng(1).standard_normal((k, n_cols)).astype(np.float32)
    shape = (m, k)
    per_row = values.shape[1]
    indptr = (np.arange(m + 1) * per_row).astype(np.int32)
    indices = nm_columns(idx, n, group).astype(np.int32).reshape(-1)
    ours = {"numba nm_matmul": lambda: kernels.nm_matmul(values, idx, shape, n, group, B)}
    candidates = _checked(
        {**ours, **_anchors(indptr, indices, values.reshape(-1), shape, B)}, "numba nm_matmul"
    )
    extra = {"shape": f"({m}x{k}) @ ({k}x{n_cols})", "pattern": f"{n}:{group}", "dtype": "float32"}
    return candidates, extra


def bench(quick: bool = True, threads: tuple[int, ...] = (1, 2)) -> list[BenchResult]:
    """Time numba spmm and nm_matmul against scipy, torch.sparse.mm and dense BLAS, per thread count."""
    size = 1024 if quick else 4096
    cases = [
        ("spmm 90% sparse float32", "numba spmm", spmm_case(size, size, 64, 0.1)),
        ("nm_matmul 2:4 float32", "numba nm_matmul", nm_case(size, size, 64)),
    ]
    results = []
    for t in threads:
        for title, ours, (candidates, extra) in cases:
            results.append(
                compare(
                    f"{title} {extra['shape']}",
                    candidates,
                    ours=ours,
                    threads=t,
                    repeats=5 if quick else 9,
                    warmup=2,
                    extra=extra,
                )
            )
    return results


if __name__ == "__main__":
    import sys

    print(format_results(bench(quick="--full" not in sys.argv)))
