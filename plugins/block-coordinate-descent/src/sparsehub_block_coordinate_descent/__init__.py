"""Let's Make Block Coordinate Descent Converge Faster (Nutini, Laradji & Schmidt, JMLR 2022).

Block coordinate descent for f(x) + sum_i g_i(x_i) with the paper's three choices: the partition
(fixed blocks sorted or mixed by Lipschitz constants, or variable blocks), the selection rule
(cyclic, random, Lipschitz sampling, Gauss-Southwell, GS-Lipschitz, GSD, GSQ and its
approximations, greedy forests) and the update (Lipschitz gradient step, Hessian-bound matrix
step, block Newton, Lipschitz approximation, message passing on forest-structured blocks), plus
proximal updates for L1 / non-negativity with active-set identification. :func:`bcd_minimize`
is the general solver, :func:`bcd_lasso` the numba-accelerated Lasso, :class:`BCDLasso` and
:class:`BCDLogisticRegression` the scikit-learn estimators.

Distribution ``sparsehub-block-coordinate-descent``; paper: https://arxiv.org/abs/1712.08859

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "bcd_minimize": ".bcd",
        "bcd_lasso": ".lasso",
        "lasso_duality_gap": ".lasso",
        "LeastSquares": ".problems",
        "Logistic": ".problems",
        "Softmax": ".problems",
        "Quadratic": ".problems",
        "BCDLasso": ".estimators",
        "BCDLogisticRegression": ".estimators",
        "fixed_partition": ".partitions",
        "forest_partition": ".partitions",
        "red_black_partition": ".partitions",
        "lattice_red_black": ".partitions",
        "lattice_tree_partition": ".partitions",
        "is_forest": ".partitions",
        "least_squares_problem": ".datasets",
        "logistic_problem": ".datasets",
        "softmax_problem": ".datasets",
        "lattice_label_propagation": ".datasets",
        "reproduce": ".reproduction",
        "bench": ".benchmarks",
    },
)
