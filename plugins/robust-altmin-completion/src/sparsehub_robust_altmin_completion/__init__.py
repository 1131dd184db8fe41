"""Low Rank Matrix Completion via Robust Alternating Minimization in Nearly Linear Time (arXiv:2302.11068).

Completes a low-rank matrix from observed entries Ω by alternating least squares whose per-row
solves are approximate — warm-started CG or the paper's sketch-preconditioned solver, O(|Ω| k) per
half-step — while keeping the linear rate of exact AltMin. Exact AltMin and SoftImpute are the
baselines.

    altmin_complete(X_obs, rank, solver="cg"|"sketched"|"exact") -> SolverResult, x = (U, V)
    AltMinCompletion(rank=...).fit(X_obs).predict(rows, cols)
    soft_impute(X_obs, lam) -> SolverResult;  lambda_max(X_obs)
    row_least_squares(X_obs, F)  — the batched per-row regression of one half-step
    predict_entries(U, V, rows, cols), to_dense(U, V), factor_distance(U, V, A, B)
    random_low_rank_problem(m, n, rank, ...) — incoherent test problems

Distribution ``sparsehub-robust-altmin-completion``; paper: https://arxiv.org/abs/2302.11068

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no scipy or sklearn and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "altmin_complete": ".altmin",
        "AltMinCompletion": ".estimator",
        "soft_impute": ".softimpute",
        "lambda_max": ".softimpute",
        "row_least_squares": ".least_squares",
        "predict_entries": ".factors",
        "to_dense": ".factors",
        "factor_distance": ".factors",
        "random_low_rank_problem": ".problems",
        "CompletionProblem": ".problems",
        "reproduce": ".reproduction",
    },
)
