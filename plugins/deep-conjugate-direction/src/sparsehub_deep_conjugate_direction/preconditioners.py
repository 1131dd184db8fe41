"""The classical preconditioners DCDM is compared with: Jacobi and incomplete Cholesky IC(0).

Not part of the paper's method: the anchors of the reproduction and the benchmark (the paper
compares with incomplete-Cholesky PCG, "ICPCG"). scipy has no incomplete Cholesky, so IC(0) — the
Cholesky factor restricted to the sparsity pattern of tril(A) — is computed here. Both return a
``scipy.sparse.linalg.LinearOperator`` M ≈ A⁻¹ for ``scipy.sparse.linalg.cg(A, b, M=M)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, spsolve_triangular

from sparsehub.errors import ShapeError, bad_value

__all__ = ["ichol0", "ichol0_preconditioner", "jacobi_preconditioner"]


def _square_csr(A: Any) -> sp.csr_array:
    if not (sp.issparse(A) or isinstance(A, np.ndarray)) or A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise bad_value("A", getattr(A, "shape", type(A).__name__), "a square sparse matrix", ShapeError)
    return sp.csr_array(A, dtype=np.float64)


def jacobi_preconditioner(A: Any) -> LinearOperator:
    """M = diag(A)⁻¹ (raises when a diagonal entry is ≤ 0: then A is not SPD)."""
    A = _square_csr(A)
    d = A.diagonal()
    if np.any(d <= 0):
        raise bad_value("A", f"a matrix with {int(np.sum(d <= 0))} diagonal entries <= 0",
                        "a symmetric positive definite matrix")
    inv = 1.0 / d
    return LinearOperator(A.shape, matvec=lambda r: inv * np.ravel(r), dtype=np.float64)


def ichol0(A: Any) -> sp.csr_array:
    """The IC(0) factor L (lower triangular, pattern of tril(A)) with L Lᵀ ≈ A.

    Row by row: L[i, k] = (A[i, k] − Σ_j L[i, j] L[k, j]) / L[k, k] over the kept pattern, and
    L[i, i] = sqrt(A[i, i] − Σ_j L[i, j]²). A pivot ≤ 0 (possible for SPD matrices that are not
    M-matrices, impossible for the Poisson matrices here) raises a ValueError.
    """
    A = _square_csr(A)
    low = sp.csr_array(sp.tril(A, format="csr"))
    low.sort_indices()
    indptr, indices, data = low.indptr, low.indices, low.data.copy()
    rows: list[dict[int, float]] = []
    for i in range(A.shape[0]):
        cols = indices[indptr[i]: indptr[i + 1]]
        vals = data[indptr[i]: indptr[i + 1]]
        row: dict[int, float] = {}
        for k, a in zip(cols, vals):
            k = int(k)
            if k < i:
                other = rows[k]
                s = a - sum(v * other[j] for j, v in row.items() if j in other and j < k)
                row[k] = s / other[k]
            elif k == i:
                pivot = a - sum(v * v for v in row.values())
                if pivot <= 0:
                    raise bad_value("A", f"a matrix whose IC(0) pivot {i} is {pivot:.3g} <= 0",
                                    "a symmetric positive definite M-matrix for IC(0)")
                row[i] = float(np.sqrt(pivot))
        if i not in row:
            raise bad_value("A", f"a matrix with no stored diagonal at row {i}", "a stored diagonal")
        rows.append(row)
    r = np.repeat(np.arange(len(rows)), [len(row) for row in rows])
    c = np.fromiter((j for row in rows for j in row), dtype=np.int64, count=r.size)
    v = np.fromiter((x for row in rows for x in row.values()), dtype=np.float64, count=r.size)
    return sp.csr_array((v, (r, c)), shape=A.shape)


def ichol0_preconditioner(A: Any) -> LinearOperator:
    """M = (L Lᵀ)⁻¹ with L = :func:`ichol0` (A): two sparse triangular solves per application."""
    L = ichol0(A)
    U = sp.csr_array(L.T)

    def apply(r: np.ndarray) -> np.ndarray:
        y = spsolve_triangular(L, np.ravel(r), lower=True)
        return spsolve_triangular(U, y, lower=False)

    return LinearOperator(L.shape, matvec=apply, dtype=np.float64)
