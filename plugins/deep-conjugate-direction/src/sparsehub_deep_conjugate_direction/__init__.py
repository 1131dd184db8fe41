"""A Deep Conjugate Direction Method for Iteratively Solving Linear Systems (Kaneda et al., ICML 2023).

Sparse SPD systems from discretised Poisson equations (:func:`poisson_matrix`, scipy.sparse) solved
by a conjugate-direction iteration (:func:`dcdm`) whose search directions come from a small
convolutional network (:class:`DCDMNet`) that approximates A⁻¹ up to a scale, trained without
solutions by the paper's loss on Ritz-vector right-hand sides (:func:`train_dcdm`).

Distribution ``sparsehub-deep-conjugate-direction``; paper: https://arxiv.org/abs/2205.10763

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "dcdm": ".iteration",
        "conjugate_directions": ".iteration",
        "DCDMNet": ".network",
        "train_dcdm": ".training",
        "dcdm_loss": ".training",
        "ritz_training_set": ".ritz",
        "lanczos_ritz": ".ritz",
        "poisson_matrix": ".poisson",
        "poisson_null_space": ".poisson",
        "jacobi_preconditioner": ".preconditioners",
        "ichol0_preconditioner": ".preconditioners",
        "reproduce": ".reproduction",
        "bench": ".benchmarks",
    },
)
