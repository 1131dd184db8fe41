"""``sparsehub bench kronecker-sbl``: KroSBL against classical SBL, OMP and ARD, as ratios in one process.

The target of the project's issue is the two-factor case with ``A_1, A_2`` of 64 × 128 (M = 4096,
N = 16384): KroSBL at least 10x faster than classical SBL at equal NMSE, 1 thread against 1 thread.
Classical SBL needs the dense 4096 × 16384 dictionary (512 MB) and ``O(M² N)`` per iteration, so
that case runs only with ``--full``; the quick run uses 32 × 64 factors and the paper's
three-factor problem. Each case reports every candidate's NMSE (from one untimed run) in ``extra``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sparsehub.bench import BenchResult, compare
from sparsehub.errors import ConvergenceWarning

from .classical import classical_sbl
from .krosbl import kron_sbl
from .problems import KroneckerProblem, kronecker_sparse_problem, nmse

__all__ = ["bench"]


def _candidates(pb: KroneckerProblem, *, ard: bool) -> dict[str, Callable[[], np.ndarray]]:
    from sklearn.linear_model import ARDRegression, OrthogonalMatchingPursuit

    dense = pb.dense()
    k = int(np.prod([s.size for s in pb.supports]))
    out: dict[str, Callable[[], np.ndarray]] = {
        "KroSBL-SVD": lambda: kron_sbl(pb.y, *pb.factors, method="svd", noise_var=pb.noise_var).x,
        "KroSBL-AM": lambda: kron_sbl(pb.y, *pb.factors, method="am", noise_var=pb.noise_var).x,
        "classical SBL": lambda: classical_sbl(pb.y, dense, noise_var=pb.noise_var).x,
        "sklearn OMP (oracle K)": lambda: OrthogonalMatchingPursuit(
            n_nonzero_coefs=k, fit_intercept=False).fit(dense, pb.y).coef_,
    }
    if ard:  # same model as classical SBL, σ² estimated, no pruning control: a sanity anchor
        out["sklearn ARDRegression"] = lambda: ARDRegression(fit_intercept=False).fit(dense, pb.y).coef_
    return out


def _case(title: str, pb: KroneckerProblem, threads: Sequence[int], *, ard: bool, repeats: int,
          warmup: int) -> list[BenchResult]:
    candidates = _candidates(pb, ard=ard)
    extra: dict[str, Any] = {"M x N": f"{pb.y.size} x {pb.x.size}", "non-zeros": int(np.count_nonzero(pb.x))}
    for name, solve in candidates.items():
        extra[f"NMSE {name}"] = round(nmse(solve(), pb.x), 6)
    return [compare(title, candidates, ours="KroSBL-SVD", threads=n, repeats=repeats, warmup=warmup,
                    min_time=0.0, extra=extra) for n in threads]


def bench(quick: bool = True, threads: Sequence[int] = (1,)) -> list[BenchResult]:
    """Time KroSBL-SVD/AM, classical SBL and sklearn's OMP (and ARD) on Kronecker-sparse problems.

    quick: the paper's three-factor problem (N = 1000, M = 640) and two 32 × 64 factors; full adds
    ARD on the paper's problem and the 64 × 128 target case (classical SBL: minutes per solve).
    """
    import scipy.linalg  # noqa: F401  (loaded before the thread limit so that it covers scipy's BLAS)
    import sklearn.linear_model  # noqa: F401

    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        paper = kronecker_sparse_problem([(8, 10), (8, 10), (10, 10)], 3, snr_db=15.0, seed=0)
        results += _case("paper Sec. VII: 3 factors 8x10, 8x10, 10x10, K=3 per factor, 15 dB", paper, threads,
                         ard=not quick, repeats=3 if quick else 5, warmup=1)
        two = kronecker_sparse_problem([(32, 64), (32, 64)], 4, snr_db=15.0, seed=0)
        results += _case("2 factors 32x64 (M=1024, N=4096), K=4 per factor, 15 dB", two, threads,
                         ard=False, repeats=3, warmup=1)
        if not quick:
            big = kronecker_sparse_problem([(64, 128), (64, 128)], 5, snr_db=15.0, seed=0)
            results += _case("target: 2 factors 64x128 (M=4096, N=16384), K=5 per factor, 15 dB", big,
                             threads, ard=False, repeats=1, warmup=0)
    return results
