"""``sparsehub bench smash-spgemm``: row-wise hash SpGEMM against scipy, torch and the other dataflows.

Case 1 (issue target): C = A @ A for a uniform random 20,000 x 20,000 float64 matrix with 8
non-zeros per row (5,000 x 5,000 when quick): ours (one-pass hash, rows in first-insertion
order, like scipy's unsorted output) against ``scipy.sparse`` (SMMP, single-threaded),
``torch.sparse.mm`` on CSR x CSR, the outer-product dataflow, and, as context, our two-pass and
sorted variants and the dense-accumulator (SPA) row-wise kernel. Case 2: the inner-product
dataflow at 4,000 x 4,000 (1,000 quick): it attempts all m * n dot products, so at 20,000 it
would take minutes per call. Each case runs at every thread count, all candidates in one process
(:func:`sparsehub.bench.compare`), with results checked against scipy before timing. Extras:
achieved bandwidth of ours over the machine's copy bandwidth, for the model's row-wise traffic
(A once, one B row per stored a_ik, C once) and for the compulsory traffic (A, B, C once each).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from sparsehub.bench import BenchResult, bandwidth_fraction, compare, format_results

__all__ = ["bench", "random_csr"]


def random_csr(n: int, per_row: int, seed: int = 0, dtype: Any = np.float64) -> Any:
    """A uniform random (n, n) scipy CSR array with ``per_row`` distinct sorted columns per row, int32 indices."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    cols = np.sort(rng.integers(0, n, (n, per_row), dtype=np.int32), axis=1)
    while True:  # redraw the (few) rows that drew a column twice
        dup = (np.diff(cols, axis=1) == 0).any(axis=1)
        if not dup.any():
            break
        cols[dup] = np.sort(rng.integers(0, n, (int(dup.sum()), per_row), dtype=np.int32), axis=1)
    indptr = (np.arange(n + 1) * per_row).astype(np.int32)
    values = rng.standard_normal(n * per_row).astype(dtype)
    return sp.csr_array((values, cols.reshape(-1), indptr), shape=(n, n))


def _torch_csr(A: Any) -> Any:
    import torch

    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(A.indptr.astype(np.int64)),
            torch.from_numpy(A.indices.astype(np.int64)),
            torch.from_numpy(A.data),
            size=A.shape,
        )


def _sorted_csr(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple) -> Any:
    import scipy.sparse as sp

    C = sp.csr_array((values, indices, indptr), shape=shape)
    C.sort_indices()
    return C


def _check(candidates: dict[str, Callable[[], Any]], A: Any) -> None:
    """Every candidate's product equals scipy's (exactly for ours, to rounding for torch)."""
    ref = (A @ A).tocsr()
    ref.sort_indices()
    for name, fn in candidates.items():
        out = fn()
        if hasattr(out, "crow_indices"):  # torch CSR
            got = _sorted_csr(out.crow_indices().numpy(), out.col_indices().numpy(), out.values().numpy(), A.shape)
            ok = np.array_equal(got.indices, ref.indices) and np.allclose(got.data, ref.data, rtol=1e-12)
        elif isinstance(out, tuple):
            got = _sorted_csr(*out, A.shape)
            ok = np.array_equal(got.indptr, ref.indptr) and np.array_equal(got.indices, ref.indices) \
                and np.array_equal(got.data, ref.data)
        else:
            continue  # scipy itself
        if not ok:
            raise AssertionError(f"bench candidate {name!r} does not reproduce scipy's product")


def _candidates(A: Any, inner: bool) -> dict[str, Callable[[], Any]]:
    from . import dataflows, rowwise

    args = (A.indptr, A.indices, A.data, A.shape, A.indptr, A.indices, A.data, A.shape)
    found: dict[str, Callable[[], Any]] = {
        "smash hash (1 pass)": lambda: rowwise.hash_spgemm(*args, sort_indices=False),
        "scipy.sparse A @ A": lambda: A @ A,
    }
    if inner:
        found["inner product"] = lambda: dataflows.inner_spgemm(*args)
        return found
    found["outer product"] = lambda: dataflows.outer_spgemm(*args)
    try:
        import torch

        At = _torch_csr(A)
        found["torch.sparse.mm (CSR)"] = lambda: torch.sparse.mm(At, At)
    except ImportError:
        pass
    found["smash hash (2 pass)"] = lambda: rowwise.hash_spgemm(*args, passes=2, sort_indices=False)
    found["smash hash (1 pass, sorted rows)"] = lambda: rowwise.hash_spgemm(*args, sort_indices=True)
    found["dense accumulator (SPA)"] = lambda: rowwise.spa_spgemm(*args, sort_indices=False)
    return found


def _case(n: int, per_row: int, inner: bool, threads: int, repeats: int) -> BenchResult:
    from .traffic import traffic_model

    A = random_csr(n, per_row)
    candidates = _candidates(A, inner)
    _check(candidates, A)
    model = traffic_model(A, A, "hash")
    entry = A.indices.itemsize + A.data.itemsize
    compulsory = 2 * (A.nnz * entry + (n + 1) * 4) + model["bytes_C"]
    title = "inner-product dataflow" if inner else "A @ A"
    result = compare(
        f"spgemm {title}: {n}x{n}, {per_row} nnz/row, float64",
        candidates,
        ours="smash hash (1 pass)",
        threads=threads,
        repeats=repeats,
        warmup=1,
        min_time=0.01,
        extra={"flops": model["flops"], "nnz_C": model["nnz_C"], "hash probes": model["probes"]},
    )
    seconds = result.timings["smash hash (1 pass)"].median
    row_wise = bandwidth_fraction(model["bytes_total"], seconds, threads=threads)
    result.extra.update({f"row-wise traffic {k}": v for k, v in row_wise.items()})
    once = bandwidth_fraction(compulsory, seconds, threads=threads)
    result.extra.update({f"compulsory traffic {k}": v for k, v in once.items()})
    return result


def bench(quick: bool = True, threads: tuple[int, ...] = (1, 2)) -> list[BenchResult]:
    """Time SMASH's hash SpGEMM against scipy, torch.sparse.mm, outer and inner product, per thread count."""
    from sparsehub.progress import progress

    n, n_inner = (5_000, 1_000) if quick else (20_000, 4_000)
    repeats = 5 if quick else 7
    cases = [(t, inner) for t in threads for inner in (False, True)]
    return [
        _case(n_inner if inner else n, 8, inner, t, 3 if inner else repeats)
        for t, inner in progress(cases, desc="smash-spgemm bench", label=lambda c: f"{c[0]} thread(s)")
    ]


if __name__ == "__main__":
    import sys

    print(format_results(bench(quick="--full" not in sys.argv)))
