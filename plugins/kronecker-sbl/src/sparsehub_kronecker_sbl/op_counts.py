"""A floating-point operation model for the solvers, so that cost claims do not rest on wall time.

Counts are computed from the shapes of every dense product and factorisation the solvers run,
with the textbook constants of Golub & Van Loan (Matrix Computations, 4th ed., tables 5.5/8.6.1):
a multiply-add is 2 flops, complex arithmetic costs 4 real flops per real one. They are a model
of the work, not a measurement, and identical for identical inputs on any machine.
"""

from __future__ import annotations

__all__ = ["cholesky", "eigh", "matmul", "scale", "svd", "triangular_solve"]


def scale(is_complex: bool) -> int:
    """Real flops per flop of the given arithmetic."""
    return 4 if is_complex else 1


def matmul(m: int, k: int, n: int) -> float:
    """``(m × k) @ (k × n)``: 2mkn."""
    return 2.0 * m * k * n


def eigh(n: int) -> float:
    """Symmetric/Hermitian eigendecomposition with eigenvectors (tridiagonal QR): about 9n³."""
    return 9.0 * n**3


def svd(m: int, n: int) -> float:
    """Thin SVD with both singular-vector sets (R-SVD): 6 m n² + 20 n³ for m ≥ n."""
    m, n = max(m, n), min(m, n)
    return 6.0 * m * n**2 + 20.0 * n**3


def cholesky(n: int) -> float:
    """Cholesky factorisation: n³/3."""
    return n**3 / 3.0


def triangular_solve(n: int, rhs: int) -> float:
    """Triangular solve with ``rhs`` right-hand sides: n² per right-hand side."""
    return float(n) ** 2 * rhs
