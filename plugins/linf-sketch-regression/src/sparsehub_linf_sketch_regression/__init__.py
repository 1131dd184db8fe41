"""A Nearly-Optimal Bound for Fast Regression with l_infinity Guarantee (Song, Ye, Yin & Zhang, ICML 2023).

Sketch-and-solve least squares x' = argmin ||S A x - S b|| with the dense sketches that give the
l_infinity guarantee ||x' - x*||_inf <= eps / sqrt(d) ||A x* - b|| ||A^+|| (Gaussian, and the SRHT
applied in O(n d log n) with a fast Walsh-Hadamard transform), beside the sparse sketches that do
not (CountSketch, OSNAP) and the exact solve. :func:`sketch_lstsq` is the solver,
:func:`make_sketch` draws a sketch, :func:`linf_rows` is the paper's row count and
:func:`linf_error` measures a solution against the guarantee.

Distribution ``sparsehub-linf-sketch-regression``; paper: https://arxiv.org/abs/2302.00248

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no numba and compiles nothing.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "sketch_lstsq": ".regression",
        "linf_error": ".regression",
        "linf_reference": ".regression",
        "LinfReference": ".regression",
        "RankDeficiencyWarning": ".regression",
        "make_sketch": ".sketches",
        "Sketch": ".sketches",
        "KINDS": ".sketches",
        "linf_rows": ".rows",
        "linf_epsilon": ".rows",
        "default_rows": ".rows",
        "fwht": ".hadamard",
        "coherent_spike_problem": ".designs",
        "gaussian_problem": ".designs",
        "reproduce": ".reproduction",
        "bench": ".benchmarks",
    },
)
