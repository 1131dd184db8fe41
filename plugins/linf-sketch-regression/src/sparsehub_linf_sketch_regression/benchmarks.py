"""``sparsehub bench linf-sketch-regression``: sketch-and-solve against the exact solvers, as time ratios.

Cases:

1. The issue's target: least squares on a 100,000 x 50 Gaussian A, ``sketch_lstsq`` with the SRHT
   (default m = 4 d ceil(log2 n) = 3,400 rows) against ``numpy.linalg.lstsq`` (LAPACK gelsd),
   with ``scipy.linalg.lstsq`` (gelsy), the same solve with CountSketch and scipy's
   ``clarkson_woodruff_transform`` beside it; the accuracy each sketch reached is reported.
2. The sketch alone, S [A b] for n = 16,384, d = 20, m = 400 (the reproduction's size): the SRHT
   against the Gaussian sketch by BLAS (brief target: SRHT <= 0.15x Gaussian) and CountSketch.
3. Full run only: the SRHT of a 2^20 x 50 matrix (brief target: under 2 s).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sparsehub.bench import BenchResult, compare

__all__ = ["bench"]


def _solve_case(n: int, d: int, threads: int, repeats: int) -> BenchResult:
    import scipy.linalg

    from .regression import linf_reference, sketch_lstsq
    from .rows import default_rows

    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, d))
    b = A @ rng.standard_normal(d) + rng.standard_normal(n)
    m = default_rows(n, d)
    ref = linf_reference(A, b)

    def cwt_solve() -> np.ndarray:
        SAb = scipy.linalg.clarkson_woodruff_transform(np.column_stack([A, b]), m, seed=1)
        return np.linalg.lstsq(SAb[:, :d], SAb[:, d], rcond=None)[0]

    extra = {"m": m}
    for kind in ("srht", "countsketch"):
        err = ref.error(sketch_lstsq(A, b, m, kind, random_state=1).x)
        extra[f"{kind}: eps_eff / cost ratio"] = f"{err['eps_eff']:.3f} / {err['cost_ratio']:.5f}"
    return compare(
        f"least squares {n}x{d}: sketch-and-solve (m = {m}) vs exact",
        {
            "sketch_lstsq srht": lambda: sketch_lstsq(A, b, m, "srht", random_state=1),
            "numpy.linalg.lstsq": lambda: np.linalg.lstsq(A, b, rcond=None),
            "scipy.linalg.lstsq (gelsy)": lambda: scipy.linalg.lstsq(A, b, lapack_driver="gelsy"),
            "sketch_lstsq countsketch": lambda: sketch_lstsq(A, b, m, "countsketch", random_state=1),
            "clarkson_woodruff_transform + lstsq": cwt_solve,
        },
        ours="sketch_lstsq srht",
        threads=threads,
        repeats=repeats,
        warmup=1,
        min_time=0.0,
        extra=extra,
    )


def _sketch_case(n: int, d: int, m: int, threads: int, repeats: int, gaussian: bool = True) -> BenchResult:
    from .sketches import make_sketch

    rng = np.random.default_rng(0)
    Ab = rng.standard_normal((n, d + 1))
    sketches = {k: make_sketch(k, n=n, m=m, random_state=1) for k in ("srht", "gaussian", "countsketch")}
    if not gaussian:
        del sketches["gaussian"]
    candidates = {f"{k} S[A b]": (lambda s=s: s.apply(Ab)) for k, s in sketches.items()}
    return compare(
        f"sketch S [A b], n = {n}, d + 1 = {d + 1}, m = {m}",
        candidates,
        ours="srht S[A b]",
        threads=threads,
        repeats=repeats,
        warmup=1,
        min_time=0.0 if n > 100_000 else 0.05,
    )


def bench(quick: bool = True, threads: Sequence[int] = (1,)) -> list[BenchResult]:
    """Time sketch-and-solve against the exact solvers (1 thread vs 1 thread by default);
    ratios > 1: ours (the SRHT) is faster."""
    results = []
    for t in threads:
        results.append(_solve_case(100_000, 50, t, repeats=5 if quick else 9))
        results.append(_sketch_case(2**14, 20, 400, t, repeats=5 if quick else 9))
        if not quick:
            results.append(_sketch_case(2**20, 50, 4000, t, repeats=3, gaussian=False))
    return results
