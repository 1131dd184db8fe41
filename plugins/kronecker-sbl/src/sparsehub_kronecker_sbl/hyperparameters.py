"""The M-step of KroSBL: fit Kronecker-structured prior variances ``γ = γ_1 ⊗ … ⊗ γ_I`` to the posterior.

With ``D = diag(Σ) + |μ|²`` reshaped to an ``n_1 × … × n_I`` tensor, the EM objective in γ is
``Q(γ) = −Σ_j [log γ_j + D_j / γ_j]`` (paper, eq. (8)). Unconstrained, ``γ = D`` (classical SBL);
under the Kronecker constraint the paper gives two updates (Sec. IV-B, IV-C):

- :func:`alternating_minimisation` (KroSBL-AM): block coordinate ascent on Q, each factor in closed
  form ``γ_i[j] = mean over the other modes of D / (⊗_{k≠i} γ_k)``, looped until ``⊗γ`` settles;
- :func:`rank_one_fit` (KroSBL-SVD): a sequential rank-1 approximation of D, the leading singular
  vectors of its unfoldings taken in absolute value (D ≥ 0, so they can be chosen non-negative).

Both fix the scale ambiguity ``γ_1 ⊗ γ_2 = (cγ_1) ⊗ (γ_2/c)`` by giving every factor but the last
unit norm. :func:`couple` is the block-sparse (pattern-coupled) extension of the IRS application
(paper, Sec. VI): each entry's effective variance is ``γ_j + β (γ_{j−1} + γ_{j+1})``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import op_counts
from .kronecker import kron_outer

__all__ = ["alternating_minimisation", "couple", "coupling_matrix", "normalise", "rank_one_fit"]

#: Floor, relative to a factor's maximum, for divisions by γ inside the AM loop: an entry driven to
#: zero there is pruned at the next outer iteration; until then it must not produce inf.
_DIVISION_FLOOR = 1e-15


def normalise(gammas: list[np.ndarray]) -> list[np.ndarray]:
    """Give every factor but the last unit norm, the last one carrying the scale (``⊗γ`` unchanged)."""
    out = list(gammas)
    carry = 1.0
    for i in range(len(out) - 1):
        norm = float(np.linalg.norm(out[i]))
        if norm > 0:
            out[i] = out[i] / norm
            carry *= norm
    out[-1] = out[-1] * carry
    return out


def coupling_matrix(active: np.ndarray, beta: float) -> np.ndarray:
    """``C[j, k] = 1`` on the diagonal and ``β`` between entries that are neighbours in the full index.

    active: sorted original indices of the entries still in the model; restricting the full
    tridiagonal matrix to them keeps only the original neighbourhoods (pruned gaps uncouple).
    """
    diff = np.abs(active[:, None] - active[None, :])
    return np.where(diff == 0, 1.0, np.where(diff == 1, beta, 0.0))


def couple(target: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, float]:
    """Project a fitted variance vector onto the pattern-coupled cone ``{C g : g ≥ 0}``.

    ``g = argmin_{g ≥ 0} ‖C g − target‖`` (non-negative least squares, as the official PC-KroSBL
    code does), returns ``(C g, flops)``.
    """
    from scipy.optimize import nnls

    base, _ = nnls(matrix, target)
    n = matrix.shape[0]
    return matrix @ base, 2.0 * n**3


def _contract_except(tensor: np.ndarray, vectors: Sequence[np.ndarray], keep: int) -> np.ndarray:
    """Contract every axis of ``tensor`` except ``keep`` with the matching vector."""
    out = tensor
    # Highest axis first, so the axes still to contract keep their positions.
    for axis in range(tensor.ndim - 1, -1, -1):
        if axis != keep:
            out = np.tensordot(out, vectors[axis], axes=([axis], [0]))
    return out


def alternating_minimisation(d: np.ndarray, gammas: Sequence[np.ndarray], *, inner_tol: float,
                             max_inner: int, couplings: Sequence[np.ndarray | None] | None = None,
                             ) -> tuple[list[np.ndarray], int, float]:
    """KroSBL-AM M-step: cyclic closed-form factor updates until ``‖⊗γ − ⊗γ_prev‖ / ‖⊗γ_prev‖ < inner_tol``.

    d: tensor ``D`` (shape ``n_1 × … × n_I``, non-negative); gammas: the current factors (warm
    start); couplings: per factor a coupling matrix (see :func:`coupling_matrix`) or None.
    Returns ``(gammas, inner iterations, flops)``.
    """
    gammas = [np.asarray(g, dtype=float).copy() for g in gammas]
    couplings = couplings or [None] * len(gammas)
    size = d.size
    flops = 0.0
    iterations = 0
    while iterations < max_inner:
        iterations += 1
        old = kron_outer(gammas)
        for i in range(len(gammas)):
            recip = [1.0 / np.maximum(g, _DIVISION_FLOOR * g.max()) for g in gammas]
            update = _contract_except(d, recip, i) * (gammas[i].size / size)
            flops += 2.0 * size
            if couplings[i] is not None:
                update, extra = couple(update, couplings[i])
                flops += extra
            gammas[i] = update
        gammas = normalise(gammas)
        new = kron_outer(gammas)
        flops += 4.0 * size
        change = np.linalg.norm(new - old) / max(np.linalg.norm(old), np.finfo(float).tiny)
        if change < inner_tol:
            break
    return gammas, iterations, flops


def rank_one_fit(d: np.ndarray, couplings: Sequence[np.ndarray | None] | None = None,
                 ) -> tuple[list[np.ndarray], float]:
    """KroSBL-SVD M-step: sequential rank-1 fit ``D ≈ γ_1 ⊗ … ⊗ γ_I`` by leading singular vectors.

    Unfold D to ``n_1 × (n_2 ⋯ n_I)``, take the top triplet ``(s, u, v)``: ``γ_1 = |u|``; continue
    with ``s |v|`` reshaped to ``n_2 × (n_3 ⋯ n_I)``; the last factor is ``s |v|`` of the last
    unfolding. d: non-negative tensor; returns ``(gammas, flops)``.
    """
    couplings = couplings or [None] * d.ndim
    gammas: list[np.ndarray] = []
    rest = d
    flops = 0.0
    for i in range(d.ndim - 1):
        mat = rest.reshape(d.shape[i], -1)
        u, s, vh = np.linalg.svd(mat, full_matrices=False)
        flops += op_counts.svd(*mat.shape)
        gammas.append(np.abs(u[:, 0]))
        rest = s[0] * np.abs(vh[0])
    gammas.append(np.array(rest, dtype=float).reshape(-1))
    for i, mat in enumerate(couplings):
        if mat is not None:
            gammas[i], extra = couple(gammas[i], mat)
            flops += extra
    return normalise(gammas), flops
