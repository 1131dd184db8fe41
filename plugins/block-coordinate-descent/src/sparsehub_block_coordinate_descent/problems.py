"""The smooth parts f(x) of the paper's problem classes, with the quantities block rules need.

Each problem exposes the gradient, the coordinate Lipschitz constants L_i (the diagonal of a
fixed Hessian upper bound), the block Hessian upper bound H_b used by matrix updates and the GSQ
rule (Section 3 of the paper), and the true block Hessian used by Newton updates. Internally a
problem keeps a *state* (A x for the linear models, the gradient for quadratics) that a block
update changes in O(n |b|), so one BCD iteration never recomputes A x from scratch.

Problem classes (paper Section 2 and the official experiments):

- :class:`LeastSquares`: f(x) = 1/2 ||A x - b||^2 (+ l2/2 ||x||^2), dataset A.
- :class:`Logistic`: f(x) = sum_i log(1 + exp(-y_i a_i^T x)) (+ l2/2 ||x||^2), dataset B.
- :class:`Softmax`: multi-class logistic over X of shape (p, k), dataset C.
- :class:`Quadratic`: f(x) = 1/2 x^T Q x - c^T x with sparse Q; label propagation (datasets D/E).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparsehub.errors import ShapeError, bad_value
from sparsehub.solver import check_finite

__all__ = ["LeastSquares", "Logistic", "Problem", "Quadratic", "Softmax"]


def _is_sparse(a: Any) -> bool:
    return hasattr(a, "tocsc") and hasattr(a, "nnz")


def _design(name: str, A: Any) -> Any:
    """A as float64: a 2-D ndarray, or a scipy.sparse matrix in CSC (fast column slices)."""
    if _is_sparse(A):
        A = check_finite(name, A).tocsc().astype(np.float64)
        if A.ndim != 2:
            raise bad_value(f"{name}.ndim", A.ndim, "2", ShapeError)
        return A
    return np.asarray(check_finite(name, A, ndim=2), dtype=np.float64)


def _l2(l2: float) -> float:
    try:
        value = float(l2)
    except (TypeError, ValueError):
        raise bad_value("l2", l2, "a finite number >= 0") from None
    if not np.isfinite(value) or value < 0:
        raise bad_value("l2", l2, "a finite number >= 0")
    return value


def _dense(m: Any) -> np.ndarray:
    return m.toarray() if _is_sparse(m) else np.asarray(m)


class _Columns:
    """Dense copies of a few columns of A, as one BCD iteration needs them (scipy's slicing is slow).

    The last request is remembered: selection, update and state shift of one iteration ask for
    the same block.
    """

    def __init__(self, A: Any) -> None:
        self.A = A
        self.sparse = _is_sparse(A)
        self._key: bytes | None = None
        self._value: np.ndarray | None = None

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        key = idx.tobytes()
        if key != self._key:
            if self.sparse:
                A = self.A
                out = np.zeros((A.shape[0], idx.size))
                for t, j in enumerate(idx):
                    lo, hi = A.indptr[j], A.indptr[j + 1]
                    out[A.indices[lo:hi], t] = A.data[lo:hi]
            else:
                out = self.A[:, idx]
            self._key, self._value = key, out
        return self._value


class Problem:
    """A smooth convex f: R^p -> R seen by BCD. Subclasses fill in the state methods.

    ``shape`` is the shape of x as the user sees it; the solver works on ``x.ravel()``.
    """

    shape: tuple[int, ...]

    @property
    def n_params(self) -> int:
        return int(np.prod(self.shape))

    # ---- public, stateless API ----
    def value(self, x: Any) -> float:
        """f(x) for x of shape ``self.shape`` (or flat)."""
        x = self._flat(x)
        return self._value(self._state(x), x)

    def grad(self, x: Any) -> np.ndarray:
        """The gradient of f at x, shape ``self.shape``."""
        x = self._flat(x)
        return self._grad(self._state(x), x).reshape(self.shape)

    def coord_lipschitz(self) -> np.ndarray:
        """L_i: |grad_i f(x + t e_i) - grad_i f(x)| <= L_i |t| (one-coordinate Hessian bound). Shape (p,)."""
        if not hasattr(self, "_lipschitz"):
            self._lipschitz = self._coord_lipschitz()
        return self._lipschitz

    def hessian_bound(self, idx: np.ndarray) -> np.ndarray:
        """H_b: a fixed matrix with grad^2_bb f(x) <= H_b for all x (the GSQ rule's matrix). (|b|, |b|)."""
        raise NotImplementedError

    def block_hessian(self, x: Any, idx: np.ndarray) -> np.ndarray:
        """The true block Hessian grad^2_bb f(x) used by Newton updates. (|b|, |b|)."""
        x = self._flat(x)
        return self._hessian(self._state(x), x, np.asarray(idx))

    def hessian_bound_matvec(self, v: np.ndarray) -> np.ndarray:
        """H v for the full Hessian bound H (IHT approximation of GSQ). (p,) -> (p,)."""
        raise NotImplementedError

    def hessian_bound_row_sums(self) -> np.ndarray:
        """d_i = sum_j |H_ij| of the full bound H: diag(d) >= H (diagonal dominance). Shape (p,)."""
        if not hasattr(self, "_row_sums"):
            self._row_sums = self._bound_row_sums()
        return self._row_sums

    def hessian_bound_norm(self) -> float:
        """lambda_max of the full Hessian bound H, by power iteration (cached)."""
        if not hasattr(self, "_bound_norm"):
            rng = np.random.default_rng(0)
            v = rng.standard_normal(self.n_params)
            lam = 0.0
            for _ in range(100):
                w = self.hessian_bound_matvec(v)
                new = float(np.linalg.norm(w))
                if new == 0:
                    break
                v = w / new
                if abs(new - lam) <= 1e-6 * new:
                    lam = new
                    break
                lam = new
            self._bound_norm = lam * 1.01  # power iteration approaches from below
        return self._bound_norm

    def _flat(self, x: Any) -> np.ndarray:
        x = np.asarray(check_finite("x", x), dtype=np.float64)
        if x.size != self.n_params or x.shape not in (self.shape, (self.n_params,)):
            raise bad_value("x.shape", x.shape, f"{self.shape} or ({self.n_params},)", ShapeError)
        return x.reshape(-1)

    # ---- state protocol used by the solver (x is always flat) ----
    def _state(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _value(self, s: np.ndarray, x: np.ndarray) -> float:
        raise NotImplementedError

    def _grad(self, s: np.ndarray, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _grad_block(self, s: np.ndarray, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _shift(self, s: np.ndarray, idx: np.ndarray, d: np.ndarray) -> None:
        """In place: the state of x becomes the state of x + U_b d."""
        raise NotImplementedError

    def _hessian(self, s: np.ndarray, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _coord_lipschitz(self) -> np.ndarray:
        raise NotImplementedError

    def _bound_row_sums(self) -> np.ndarray:
        raise NotImplementedError


class _LinearModel(Problem):
    """Shared pieces of f(x) = sum_i phi(a_i^T x) + l2/2 ||x||^2: state s = A x (or A x - b)."""

    def __init__(self, A: Any, l2: float) -> None:
        self.A = _design("A", A)
        self.l2 = _l2(l2)
        self.shape = (self.A.shape[1],)
        self._curv = 1.0  # sup of phi'' (1 for squares, 1/4 for the logistic loss)
        self._cols = _Columns(self.A)

    def _shift(self, s: np.ndarray, idx: np.ndarray, d: np.ndarray) -> None:
        s += self._cols(idx) @ d

    def _gram(self, idx: np.ndarray) -> np.ndarray:
        Ab = self._cols(idx)
        return Ab.T @ Ab

    def _col_sq_norms(self) -> np.ndarray:
        if _is_sparse(self.A):
            return np.asarray(self.A.multiply(self.A).sum(axis=0)).reshape(-1)
        return np.einsum("ij,ij->j", self.A, self.A)

    def _coord_lipschitz(self) -> np.ndarray:
        return self._curv * self._col_sq_norms() + self.l2

    def hessian_bound(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx)
        return self._curv * self._gram(idx) + self.l2 * np.eye(idx.size)

    def hessian_bound_matvec(self, v: np.ndarray) -> np.ndarray:
        return self._curv * _dense(self.A.T @ _dense(self.A @ v)).reshape(-1) + self.l2 * v

    def _bound_row_sums(self) -> np.ndarray:
        G = self.A.T @ self.A
        G = abs(G) if _is_sparse(G) else np.abs(G)
        return self._curv * np.asarray(G.sum(axis=1)).reshape(-1) + self.l2


class LeastSquares(_LinearModel):
    """f(x) = 1/2 ||A x - b||^2 + l2/2 ||x||^2; H_b = A_b^T A_b + l2 I is exact, so the matrix update
    is exact block minimisation.

    A: (n, p) ndarray or scipy.sparse; b: (n,).
    """

    def __init__(self, A: Any, b: Any, l2: float = 0.0) -> None:
        super().__init__(A, l2)
        self.b = np.asarray(check_finite("b", b, ndim=1), dtype=np.float64)
        if self.b.shape[0] != self.A.shape[0]:
            raise bad_value(
                "b.shape", self.b.shape, f"({self.A.shape[0]},) to match A.shape={self.A.shape}", ShapeError
            )

    def _state(self, x: np.ndarray) -> np.ndarray:
        return _dense(self.A @ x).reshape(-1) - self.b  # the residual r = A x - b

    def _value(self, s: np.ndarray, x: np.ndarray) -> float:
        return 0.5 * float(s @ s) + 0.5 * self.l2 * float(x @ x)

    def _grad(self, s: np.ndarray, x: np.ndarray) -> np.ndarray:
        return _dense(self.A.T @ s).reshape(-1) + self.l2 * x

    def _grad_block(self, s: np.ndarray, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return self._cols(idx).T @ s + self.l2 * x[idx]

    def _hessian(self, s: np.ndarray, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return self.hessian_bound(idx)


class Logistic(_LinearModel):
    """f(x) = sum_i log(1 + exp(-y_i a_i^T x)) + l2/2 ||x||^2 with labels y_i in {-1, +1}.

    The Hessian A^T diag(s(1-s)) A is bounded by H = A^T A / 4 (+ l2 I), so L_i = ||a_:i||^2 / 4 + l2.
    A: (n, p); y: (n,) of -1/+1.
    """

    def __init__(self, A: Any, y: Any, l2: float = 0.0) -> None:
        super().__init__(A, l2)
        y = np.asarray(check_finite("y", y, ndim=1), dtype=np.float64)
        if y.shape[0] != self.A.shape[0]:
            raise bad_value(
                "y.shape", y.shape, f"({self.A.shape[0]},) to match A.shape={self.A.shape}", ShapeError
            )
        bad = ~np.isin(y, (-1.0, 1.0))
        if bad.any():
            raise bad_value("y", np.unique(y[bad])[:5].tolist(), "labels in {-1, +1} only")
        self.y = y
        self._curv = 0.25

    def _state(self, x: np.ndarray) -> np.ndarray:
        return _dense(self.A @ x).reshape(-1)  # margins A x

    def _value(self, s: np.ndarray, x: np.ndarray) -> float:
        return float(np.logaddexp(0.0, -self.y * s).sum()) + 0.5 * self.l2 * float(x @ x)

    def _residual(self, s: np.ndarray) -> np.ndarray:
        from scipy.special import expit

        return -self.y * expit(-self.y * s)  # d/ds of log(1 + exp(-y s))

    def _grad(self, s: np.ndarray, x: np.ndarray) -> np.ndarray:
        return _dense(self.A.T @ self._residual(s)).reshape(-1) + self.l2 * x

    def _grad_block(self, s: np.ndarray, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return self._cols(idx).T @ self._residual(s) + self.l2 * x[idx]

    def _hessian(self, s: np.ndarray, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        from scipy.special import expit

        p = expit(s)
        w = p * (1.0 - p)
        Ab = self._cols(idx)
        return (Ab * w[:, None]).T @ Ab + self.l2 * np.eye(idx.size)


class Softmax(Problem):
    """Multi-class logistic loss f(X) = sum_i [logsumexp(a_i^T X) - a_i^T X y_i] + l2/2 ||X||_F^2.

    X has shape (p, k); the flat coordinate j is (feature j // k, class j % k). The Hessian is
    bounded by Bohning's 1/2 (I - 11^T/k) kron A^T A; on a block touching m classes the tighter
    k' = min(k, m + 1) holds (the other classes lumped into one), so L_j = ||a_:f||^2 / 4 + l2.
    A: (n, p); Y: (n,) integer labels in [0, k) or (n, k) one-hot.
    """

    def __init__(self, A: Any, Y: Any, l2: float = 0.0, n_classes: int | None = None) -> None:
        self.A = _design("A", A)
        self.l2 = _l2(l2)
        n, p = self.A.shape
        Y = np.asarray(check_finite("Y", Y, ndim=(1, 2)))
        if Y.shape[0] != n:
            raise bad_value(
                "Y.shape", Y.shape, f"first dimension {n} to match A.shape={self.A.shape}", ShapeError
            )
        if Y.ndim == 1:
            if not np.all(Y == np.round(Y)) or Y.min() < 0:
                raise bad_value("Y", Y[:5].tolist(), "integer class labels >= 0 or a one-hot matrix")
            k = int(Y.max()) + 1 if n_classes is None else int(n_classes)
            if k < 2 or Y.max() >= k:
                raise bad_value("n_classes", n_classes, f"an int >= max(Y) + 1 = {int(Y.max()) + 1} and >= 2")
            onehot = np.zeros((n, k))
            onehot[np.arange(n), Y.astype(np.int64)] = 1.0
        else:
            onehot = np.asarray(Y, dtype=np.float64)
            if onehot.shape[1] < 2 or not np.allclose(onehot.sum(axis=1), 1.0) or onehot.min() < 0:
                raise bad_value(
                    "Y", f"array of shape {Y.shape}", "rows that are probability vectors over >= 2 classes"
                )
        self.Y = onehot
        self.k = onehot.shape[1]
        self.shape = (p, self.k)
        self._cols = _Columns(self.A)

    def _split(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return idx // self.k, idx % self.k

    def _state(self, x: np.ndarray) -> np.ndarray:
        return _dense(self.A @ x.reshape(self.shape))  # scores A X, (n, k)

    def _probs(self, s: np.ndarray) -> np.ndarray:
        z = s - s.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def _value(self, s: np.ndarray, x: np.ndarray) -> float:
        m = s.max(axis=1)
        lse = m + np.log(np.exp(s - m[:, None]).sum(axis=1))
        return float(lse.sum() - (s * self.Y).sum()) + 0.5 * self.l2 * float(x @ x)

    def _grad(self, s: np.ndarray, x: np.ndarray) -> np.ndarray:
        return _dense(self.A.T @ (self._probs(s) - self.Y)).reshape(-1) + self.l2 * x

    def _grad_block(self, s: np.ndarray, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        f, c = self._split(idx)
        R = self._probs(s) - self.Y
        Af = self._cols(f)
        return np.einsum("ij,ij->j", Af, R[:, c]) + self.l2 * x[idx]

    def _shift(self, s: np.ndarray, idx: np.ndarray, d: np.ndarray) -> None:
        f, c = self._split(idx)
        feats, where = np.unique(f, return_inverse=True)
        D = np.zeros((feats.size, self.k))
        np.add.at(D, (where, c), d)
        s += self._cols(feats) @ D

    def _coord_lipschitz(self) -> np.ndarray:
        A = self.A
        norms = (
            np.asarray(A.multiply(A).sum(axis=0)).reshape(-1)
            if _is_sparse(A)
            else np.einsum("ij,ij->j", A, A)
        )
        return np.repeat(0.25 * norms, self.k) + self.l2

    def hessian_bound(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx)
        f, c = self._split(idx)
        kk = min(self.k, np.unique(c).size + 1)
        Af = self._cols(f)
        G = Af.T @ Af
        same = (c[:, None] == c[None, :]).astype(np.float64)
        return 0.5 * (same - 1.0 / kk) * G + self.l2 * np.eye(idx.size)

    def _hessian(self, s: np.ndarray, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        f, c = self._split(idx)
        P = self._probs(s)[:, c]
        Af = self._cols(f)
        AP = Af * P
        same = c[:, None] == c[None, :]
        return (AP.T @ Af) * same - AP.T @ AP + self.l2 * np.eye(idx.size)

    def hessian_bound_matvec(self, v: np.ndarray) -> np.ndarray:
        V = v.reshape(self.shape)
        AtAV = _dense(self.A.T @ _dense(self.A @ V))
        return (0.5 * (AtAV - AtAV.mean(axis=1, keepdims=True))).reshape(-1) + self.l2 * v

    def _bound_row_sums(self) -> np.ndarray:
        G = self.A.T @ self.A
        G = abs(G) if _is_sparse(G) else np.abs(G)
        rows = np.asarray(G.sum(axis=1)).reshape(-1)
        # sum over classes c' of |delta_cc' - 1/k| = 2 (k - 1) / k
        return np.repeat(0.5 * rows * 2.0 * (self.k - 1) / self.k, self.k) + self.l2


class Quadratic(Problem):
    """f(x) = 1/2 x^T Q x - c^T x with Q symmetric positive (semi)definite, usually sparse.

    Its block Hessian is Q_bb, so a block whose sparsity graph is a forest is solved exactly in
    O(|b|) by message passing (paper Section 5). ``graph`` is Q's off-diagonal pattern.
    Q: (p, p) ndarray or scipy.sparse; c: (p,).
    """

    def __init__(self, Q: Any, c: Any) -> None:
        import scipy.sparse as sp

        Q = _design("Q", Q)
        if Q.shape[0] != Q.shape[1]:
            raise bad_value("Q.shape", Q.shape, "a square matrix", ShapeError)
        Q = sp.csc_matrix(Q)
        asym = abs(Q - Q.T)
        scale = max(float(abs(Q).max()) if Q.nnz else 0.0, 1e-300)
        if asym.nnz and float(asym.max()) > 1e-10 * scale:
            raise bad_value("Q", "a non-symmetric matrix", "a symmetric matrix (Q == Q.T)")
        self.Q = Q
        self.c = np.asarray(check_finite("c", c, ndim=1), dtype=np.float64)
        if self.c.shape[0] != Q.shape[0]:
            raise bad_value(
                "c.shape", self.c.shape, f"({Q.shape[0]},) to match Q.shape={Q.shape}", ShapeError
            )
        self.shape = (Q.shape[0],)
        Qr = Q.tocsr()
        Qr.sort_indices()
        self._csr = Qr

    @classmethod
    def label_propagation(cls, W: Any, y: Any, labeled: Any) -> Quadratic:
        """The quadratic labelling criterion over the unlabelled nodes (datasets D/E of the paper).

        min over x_U of 1/2 sum_ij w_ij (x_i - x_j)^2 with x_i = y_i fixed on labelled nodes:
        Q = (D - W)_UU with D the weighted degrees, c_i = sum_{j labelled} w_ij y_j.
        W: (N, N) symmetric non-negative weights; y: (N,); labeled: (N,) bool. x has size |U|.
        """
        import scipy.sparse as sp

        W = sp.csr_matrix(_design("W", W))
        N = W.shape[0]
        if W.shape != (N, N):
            raise bad_value("W.shape", W.shape, "a square matrix", ShapeError)
        if W.nnz and W.data.min() < 0:
            raise bad_value("W", "negative weights", "non-negative weights")
        y = np.asarray(check_finite("y", y, ndim=1), dtype=np.float64)
        labeled = np.asarray(labeled, dtype=bool)
        if y.shape != (N,) or labeled.shape != (N,):
            raise bad_value("y.shape/labeled.shape", (y.shape, labeled.shape), f"({N},) each", ShapeError)
        if labeled.all():
            raise bad_value("labeled", "every node", "at least one unlabelled node")
        W = W - sp.diags(W.diagonal())
        W.eliminate_zeros()
        deg = np.asarray(W.sum(axis=1)).reshape(-1)
        U = np.flatnonzero(~labeled)
        lab = np.flatnonzero(labeled)
        Q = (sp.diags(deg) - W).tocsr()[U][:, U]
        c = W[U][:, lab] @ y[lab]
        problem = cls(Q, np.asarray(c).reshape(-1))
        problem.unlabeled = U
        return problem

    @property
    def graph(self) -> Any:
        """The dependency graph of the coordinates: Q's off-diagonal sparsity pattern (CSR)."""
        if not hasattr(self, "_graph"):
            import scipy.sparse as sp

            G = self._csr.copy()
            G.setdiag(0)
            G.eliminate_zeros()
            self._graph = sp.csr_matrix(G)
        return self._graph

    def _state(self, x: np.ndarray) -> np.ndarray:
        return self._csr @ x - self.c  # the gradient Q x - c

    def _value(self, s: np.ndarray, x: np.ndarray) -> float:
        return 0.5 * float(x @ s) - 0.5 * float(self.c @ x)

    def _grad(self, s: np.ndarray, x: np.ndarray) -> np.ndarray:
        return s.copy()

    def _grad_block(self, s: np.ndarray, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return s[idx].copy()

    def _shift(self, s: np.ndarray, idx: np.ndarray, d: np.ndarray) -> None:
        # Q[:, idx] @ d straight from the CSC arrays: O(nnz of the block's columns), no slicing
        Q = self.Q
        starts, ends = Q.indptr[idx], Q.indptr[np.asarray(idx) + 1]
        lengths = ends - starts
        pos = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
        s += np.bincount(Q.indices[pos], weights=Q.data[pos] * np.repeat(d, lengths), minlength=s.size)

    def _coord_lipschitz(self) -> np.ndarray:
        return self._csr.diagonal().astype(np.float64)

    def hessian_bound(self, idx: np.ndarray) -> np.ndarray:
        return self._csr[idx][:, idx].toarray()

    def _hessian(self, s: np.ndarray, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return self.hessian_bound(idx)

    def hessian_bound_matvec(self, v: np.ndarray) -> np.ndarray:
        return self._csr @ v

    def _bound_row_sums(self) -> np.ndarray:
        return np.asarray(abs(self._csr).sum(axis=1)).reshape(-1)
