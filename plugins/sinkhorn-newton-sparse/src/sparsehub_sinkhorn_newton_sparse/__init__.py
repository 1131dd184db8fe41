"""Accelerating Sinkhorn Algorithm with Sparse Newton Iterations (Tang et al., ICLR 2024).

Sinkhorn-Newton-Sparse (SNS) for entropic optimal transport: a few Sinkhorn matrix-scaling
iterations, then Newton steps on the Lyapunov potential whose Hessian is sparsified to its
largest entries and solved by conjugate gradient, with a backtracking line search, all in the
log domain. :func:`sinkhorn_newton_sparse` follows POT (``reg`` = 1/eta, plan and optional log),
:func:`sns_solve` returns the core's :class:`~sparsehub.solver.SolverResult`;
:func:`sinkhorn_log_domain` is the plain Sinkhorn baseline and ``problems`` the paper's kinds
of test problems.

Distribution ``sparsehub-sinkhorn-newton-sparse``; paper: https://arxiv.org/abs/2401.12253

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "sinkhorn_newton_sparse": ".sns",
        "sns_solve": ".sns",
        "sinkhorn_log_domain": ".sns",
        "entries_kept": ".sns",
        "random_assignment": ".problems",
        "gaussian_mixture_clouds": ".problems",
        "grid_densities": ".problems",
        "marginal_error": ".potentials",
        "reproduce": ".reproduction",
        "bench": ".benchmarks",
    },
)
