"""The sketching distributions of the paper: dense (Gaussian, SRHT) and sparse (CountSketch, OSNAP).

A sketch S in R^{m x n} is drawn once by :func:`make_sketch` and applied to any n-row array with
``sketch.apply(A)``; the same object always applies the same S. The dense ones satisfy the
Oblivious Coordinate-wise Embedding property (paper, Def. of OCE and Thm. for Gaussian / SRHT) and
so give the l_infinity guarantee; the sparse ones are oblivious subspace embeddings (fine for the
l_2 cost) but fail the l_infinity guarantee at the same row count (the paper's lower bound).

- ``gaussian``: S_ij ~ N(0, 1/m); S A by BLAS in O(m n d).
- ``srht``: S = sqrt(N/m) P (H_N / sqrt(N)) D = P H_N D / sqrt(m) on the rows zero-padded to
  N = 2^ceil(log2 n); D a random +-1 diagonal, P keeps m distinct rows uniformly (without
  replacement). Every entry of S is non-zero, yet S A costs O(n d log n) (:mod:`.hadamard`).
- ``countsketch``: one +-1 per column of S, in a uniformly random row (Clarkson-Woodruff).
- ``osnap``: s non-zeros +-1/sqrt(s) per column, one in each of s blocks of about m/s rows
  (the block construction of Nelson-Nguyen), so the s rows of a column are distinct.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from sparsehub.errors import ShapeError, bad_value

__all__ = ["KINDS", "CountSketch", "GaussianSketch", "OSNAPSketch", "SRHTSketch", "Sketch", "make_sketch"]

KINDS = ("srht", "gaussian", "countsketch", "osnap")
_DENSE_BUDGET = 1 << 23  # float64 entries per temporary block (64 MiB)


def _is_sparse(A: Any) -> bool:
    return hasattr(A, "tocsr") and hasattr(A, "nnz")


def _positive_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        allowed = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"
        raise bad_value(name, value, allowed)
    return int(value)


class Sketch:
    """A drawn sketching matrix S (m x n); ``apply(A)`` returns S @ A as a dense ndarray."""

    kind = ""
    dense = False

    def __init__(self, n: int, m: int) -> None:
        self.n = n
        self.m = m

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, m={self.m})"

    def apply(self, A: Any) -> np.ndarray:
        """S @ A for A of shape (n,) or (n, k), dense or scipy.sparse; returns (m,) or (m, k)."""
        vector = not _is_sparse(A) and np.ndim(A) == 1
        if _is_sparse(A):
            if A.shape[0] != self.n:
                raise bad_value("A.shape", A.shape, f"{self.n} rows (the sketch's n)", ShapeError)
            out = self._apply_sparse(A)
        else:
            A = np.asarray(A)
            if A.dtype.kind not in "fiub":
                raise bad_value("A.dtype", A.dtype, "a real numeric dtype (split complex data into parts)")
            if A.ndim not in (1, 2) or A.shape[0] != self.n:
                raise bad_value("A.shape", A.shape, f"(n,) or (n, k) with n = {self.n}", ShapeError)
            A2 = A.reshape(self.n, -1).astype(np.float64, copy=False)
            out = self._apply_dense(A2)
        return out[:, 0] if vector else out

    def apply_system(self, A: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
        """(S A, S b) for A (n, d) and b (n,), in one pass over the data where the sketch allows."""
        if _is_sparse(A):
            import scipy.sparse as sp

            SAb = self.apply(sp.hstack([A, sp.csr_matrix(np.asarray(b)[:, None])], format="csr"))
        else:
            A = np.asarray(A, dtype=np.float64)
            b = np.asarray(b, dtype=np.float64)
            if A.ndim != 2 or A.shape[0] != self.n or b.shape != (self.n,):
                raise bad_value("A.shape, b.shape", (A.shape, b.shape), f"(n, d) and (n,) with n = {self.n}",
                                ShapeError)
            SAb = self._apply_system(A, b)
        return SAb[:, :-1], SAb[:, -1]

    def _apply_system(self, A: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._apply_dense(np.column_stack([A, b]))

    def to_dense(self) -> np.ndarray:
        """The explicit m x n matrix S (for tests and small n: it costs what applying S to I_n costs)."""
        return self.apply(np.eye(self.n))

    def _apply_dense(self, A: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _apply_sparse(self, A: Any) -> np.ndarray:
        if self.dense:
            nnz, size = A.nnz, A.shape[0] * A.shape[1]
            if nnz < 0.1 * size:
                warnings.warn(
                    f"the {self.kind} sketch densifies a sparse A (nnz={nnz} of {size} entries): it costs "
                    "O(n d) memory; a sparse sketch (countsketch, osnap) keeps O(nnz) but gives no "
                    "l_infinity guarantee",
                    UserWarning,
                    stacklevel=3,
                )
        return self._apply_dense(np.asarray(A.toarray(), dtype=np.float64))


class GaussianSketch(Sketch):
    """S_ij ~ N(0, 1/m), i.i.d.; S is regenerated block by block from fixed seeds on every apply."""

    kind = "gaussian"
    dense = True
    _block = 4096  # columns of S per generated block (fixed: the same S on every call)

    def __init__(self, n: int, m: int, rng: np.random.Generator) -> None:
        super().__init__(n, m)
        self._seeds = rng.integers(0, 2**63 - 1, size=-(-n // self._block), dtype=np.int64)

    def _apply_dense(self, A: np.ndarray) -> np.ndarray:
        out = np.zeros((self.m, A.shape[1]))
        scale = 1.0 / np.sqrt(self.m)
        for i, seed in enumerate(self._seeds):
            lo, hi = i * self._block, min(self.n, (i + 1) * self._block)
            G = np.random.default_rng(int(seed)).standard_normal((self.m, hi - lo))
            out += G @ A[lo:hi]
        out *= scale
        return out


class SRHTSketch(Sketch):
    """S = P H_N D / sqrt(m) on rows zero-padded to N = 2^ceil(log2 n); D and P from separate seeds."""

    kind = "srht"
    dense = True

    def __init__(self, n: int, m: int, rng: np.random.Generator) -> None:
        from .hadamard import next_power_of_two

        super().__init__(n, m)
        sign_rng, row_rng = rng.spawn(2)
        self.N = next_power_of_two(n)
        self.signs = sign_rng.choice(np.array([-1.0, 1.0]), size=n)
        self.rows = np.sort(row_rng.choice(self.N, size=m, replace=False)).astype(np.int64)

    def _apply_dense(self, A: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        from .hadamard import signed_sampled_hadamard

        k = A.shape[1]
        out = np.empty((self.m, k + (b is not None)))
        width = max(1, _DENSE_BUDGET // self.N)  # column chunks bound the padded copy's memory
        for lo in range(0, k, width):
            hi = min(k, lo + width)
            last = b if hi == k else None
            out[:, lo : hi + (last is not None)] = signed_sampled_hadamard(
                A[:, lo:hi], last, self.signs, self.N, self.rows
            )
        out *= 1.0 / np.sqrt(self.m)
        return out

    def _apply_system(self, A: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._apply_dense(A, b)


class _SparseSketch(Sketch):
    """A sketch stored as a scipy.sparse CSR matrix; S @ A costs O(nnz(A) s)."""

    def __init__(self, n: int, m: int, rows: np.ndarray, values: np.ndarray, per_column: int) -> None:
        import scipy.sparse as sp

        super().__init__(n, m)
        cols = np.repeat(np.arange(n), per_column)
        self.matrix = sp.csr_matrix((values.ravel(), (rows.ravel(), cols)), shape=(m, n))

    def _apply_dense(self, A: np.ndarray) -> np.ndarray:
        return np.asarray(self.matrix @ A)

    def _apply_system(self, A: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.column_stack([self.matrix @ A, self.matrix @ b])

    def _apply_sparse(self, A: Any) -> np.ndarray:
        return np.asarray((self.matrix @ A.tocsr()).toarray(), dtype=np.float64)


class CountSketch(_SparseSketch):
    """Clarkson-Woodruff: column j of S is +-1 (random sign) in row h(j), h uniform on [m]."""

    kind = "countsketch"

    def __init__(self, n: int, m: int, rng: np.random.Generator) -> None:
        hash_rng, sign_rng = rng.spawn(2)
        rows = hash_rng.integers(0, m, size=n)
        signs = sign_rng.choice(np.array([-1.0, 1.0]), size=n)
        super().__init__(n, m, rows, signs, 1)


class OSNAPSketch(_SparseSketch):
    """OSNAP: s entries +-1/sqrt(s) per column, one uniformly placed in each of s row blocks."""

    kind = "osnap"

    def __init__(self, n: int, m: int, s: int, rng: np.random.Generator) -> None:
        hash_rng, sign_rng = rng.spawn(2)
        bounds = np.linspace(0, m, s + 1).astype(np.int64)  # s blocks of m // s or m // s + 1 rows
        size = np.diff(bounds)
        rows = bounds[:-1] + np.floor(hash_rng.random((n, s)) * size).astype(np.int64)
        signs = sign_rng.choice(np.array([-1.0, 1.0]), size=(n, s)) / np.sqrt(s)
        super().__init__(n, m, rows, signs, s)
        self.s = s


def make_sketch(kind: str = "srht", *, n: int, m: int, s: int = 4, random_state: Any = None) -> Sketch:
    """Draw an m x n sketch of the given kind (``srht``, ``gaussian``, ``countsketch``, ``osnap``).

    ``s`` is OSNAP's number of non-zeros per column (1 <= s <= m); ``random_state`` is None, an
    int, a numpy SeedSequence or Generator. Requires 1 <= m <= n.
    """
    if kind not in KINDS:
        raise bad_value("kind", kind, f"one of {', '.join(KINDS)}")
    n = _positive_int("n", n, 1)
    m = _positive_int("m", m, 1, n)
    rng = np.random.default_rng(random_state)
    if kind == "srht":
        return SRHTSketch(n, m, rng)
    if kind == "gaussian":
        return GaussianSketch(n, m, rng)
    if kind == "countsketch":
        return CountSketch(n, m, rng)
    s = _positive_int("s", s, 1, m)
    return OSNAPSketch(n, m, s, rng)
