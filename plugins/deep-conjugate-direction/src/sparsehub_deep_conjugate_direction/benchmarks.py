"""``sparsehub bench deep-conjugate-direction``: DCDM against scipy's CG, Jacobi-PCG and IC(0)-PCG.

Issue target: fewer iterations than Jacobi-preconditioned CG, with the total time — network
forward passes included — stated honestly. One case per thread count: the 2-D Dirichlet Poisson
problem on a 64² grid (full run: 128²), a smooth right-hand side with 10 % noise, every solver to
‖r‖/‖b‖ ≤ 1e-6. The network is trained once before timing (16² grid, 1000 steps; full: 32²,
2000 steps) and its training time is reported, not timed per solve; the IC(0) factorisation is
likewise done once outside the timing. Iteration counts and the share of DCDM's time spent in the
network are in ``extra``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sparsehub.bench import BenchResult, compare

__all__ = ["bench"]


def bench(quick: bool = True, threads: Iterable[int] = (1, 2)) -> list[BenchResult]:
    """Time one solve to 1e-6 by DCDM and by the three CG anchors; ratios above 1 mean DCDM is faster."""
    import torch  # noqa: F401  (imported before ``threads`` so that it controls torch's thread count)
    from scipy.sparse.linalg import cg

    from sparsehub.bench import threads as thread_limit

    from .iteration import dcdm
    from .poisson import poisson_matrix
    from .preconditioners import ichol0_preconditioner, jacobi_preconditioner
    from .problems import sample_right_hand_sides
    from .reproduction import cg_iterations
    from .training import train_dcdm

    side, train_side, steps = (64, 16, 1000) if quick else (128, 32, 2000)
    with thread_limit(1):
        model = train_dcdm(poisson_matrix((train_side,) * 2), (train_side,) * 2, steps=steps, seed=0)
    shape = (side, side)
    A = poisson_matrix(shape)
    b = sample_right_hand_sides(shape)[0]
    M = {"Jacobi-PCG": jacobi_preconditioner(A), "IC(0)-PCG": ichol0_preconditioner(A)}
    cap = 20 * A.shape[0]

    def ours():  # the paper's iteration (no safeguard steps)
        return dcdm(A, b, model, grid_shape=shape, rtol=1e-6, maxiter=2000, safeguard=0.0)

    candidates = {
        "DCDM (ours, network included)": ours,
        "scipy cg": lambda: cg(A, b, rtol=1e-6, atol=0.0, maxiter=cap),
        **{name: (lambda m=m: cg(A, b, rtol=1e-6, atol=0.0, maxiter=cap, M=m)) for name, m in M.items()},
    }
    probe = ours()
    extra = {
        "iterations": {"DCDM": probe.n_iter, "scipy cg": cg_iterations(A, b)[0],
                       **{name: cg_iterations(A, b, m)[0] for name, m in M.items()}},
        "DCDM network share of its time": probe.info["network_seconds"] / probe.time,
        "training (once, not timed per solve)": f"{train_side}² grid, {steps} steps, "
                                                f"{model.train_seconds_:.1f} s on 1 thread",
        "target": "fewer iterations than Jacobi-PCG; total time stated (CPU, float32 network)",
    }
    return [compare(f"2-D Poisson {side}² (n = {side * side}), one solve to rtol 1e-6", candidates,
                    ours="DCDM (ours, network included)", threads=n, repeats=5 if quick else 7, warmup=1,
                    min_time=0.0, extra=extra) for n in threads]
