"""Products with a Kronecker matrix ``A_1 ⊗ A_2 ⊗ … ⊗ A_I`` without forming it.

With the C-order (row-major) vectorisation that numpy's ``reshape`` uses,
``(A_1 ⊗ A_2) vec(X) = vec(A_1 X A_2ᵀ)``; for I factors the product is the multilinear
(mode-i) product of the tensor ``X`` (shape ``N_1 × … × N_I``) with every ``A_i``. Applying the
factors one mode at a time costs ``O(N Σ_i M_i)`` instead of ``O(M N)`` for the dense matrix
(``M = Π M_i``, ``N = Π N_i``). This is the same order as ``np.kron(A_1, np.kron(A_2, A_3))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

import numpy as np

__all__ = ["kron_matvec", "kron_outer", "kron_rmatvec", "mode_products"]


def mode_products(tensor: np.ndarray, matrices: Sequence[np.ndarray | None]) -> np.ndarray:
    """Multiply ``tensor`` along each mode i by ``matrices[i]`` (skipped where None).

    ``T ×_1 B_1 ×_2 B_2 … ×_I B_I``: axis i of length ``c_i`` becomes ``r_i`` for ``B_i`` of shape
    ``r_i × c_i``. In vectorised form this is ``(B_1 ⊗ … ⊗ B_I) vec(T)`` (C order).
    """
    out = tensor
    for axis, mat in enumerate(matrices):
        if mat is None:
            continue
        # tensordot puts the new axis first; move it back to where the contracted one was.
        out = np.moveaxis(np.tensordot(mat, out, axes=([1], [axis])), 0, axis)
    return out


def kron_matvec(factors: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
    """``(A_1 ⊗ … ⊗ A_I) x`` without forming the Kronecker matrix.

    factors: ``A_i`` of shape ``M_i × N_i``; x: shape ``(Π N_i,)`` or ``(Π N_i, K)`` (K right-hand
    sides). Returns shape ``(Π M_i,)`` or ``(Π M_i, K)``.
    """
    n_shape = tuple(a.shape[1] for a in factors)
    extra = x.shape[1:]
    tensor = np.reshape(x, n_shape + extra)
    out = mode_products(tensor, list(factors) + [None] * len(extra))
    return out.reshape((-1, *extra))


def kron_rmatvec(factors: Sequence[np.ndarray], y: np.ndarray) -> np.ndarray:
    """``(A_1 ⊗ … ⊗ A_I)ᴴ y``: the adjoint product (conjugate transpose for complex factors).

    factors: ``A_i`` of shape ``M_i × N_i``; y: shape ``(Π M_i,)`` or ``(Π M_i, K)``.
    """
    return kron_matvec([a.conj().T for a in factors], y)


def kron_outer(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """``v_1 ⊗ … ⊗ v_I`` as a tensor of shape ``(len(v_1), …, len(v_I))`` (flatten it for the vector)."""
    return reduce(np.multiply.outer, vectors)
