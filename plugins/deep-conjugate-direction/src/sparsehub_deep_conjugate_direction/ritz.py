"""The paper's training right-hand sides: Ritz vectors of A with the low modes boosted (paper §3.3).

The official ``src/datasetcreate.py`` runs m Lanczos iterations on A started from A·(random
vector), takes the Ritz vectors v_j (ascending Ritz values, those below 1e-8 — the null space of
Neumann problems — skipped) and forms each sample as b = Σ_j c_j α_j v_j with α_j ~ N(0, 1),
c_j = 9 for the lowest m/2 + θ Ritz vectors and 1 otherwise, then normalises b. Boosting the
smooth modes is what teaches the network the long-range part of A⁻¹; white-noise right-hand
sides give a network that only smooths.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sparsehub.errors import bad_value

__all__ = ["lanczos_ritz", "ritz_training_set"]

_NULL = 1e-8  # the official code's threshold for "zero" Ritz values (relative to the largest here)


def lanczos_ritz(A: sp.sparray, m: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ritz values (ascending, shape (k,)) and Ritz vectors (n, k) of ``m`` Lanczos steps on A.

    Started from A·z with z ~ N(0, I) as in the official code; full reorthogonalisation keeps the
    basis orthonormal in floating point (m ≤ n). Stops early, with fewer Ritz pairs, on an
    invariant subspace. When m = n this is the full eigendecomposition.
    """
    n = A.shape[0]
    if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= n:
        raise bad_value("n_ritz", m, f"an int in [1, n={n}]")
    if m == n and n <= 4096:  # the full Krylov space: the Ritz pairs are A's eigenpairs, exactly
        return np.linalg.eigh(sp.csr_array(A).toarray())
    rng = np.random.default_rng(seed)
    v = A @ rng.standard_normal(n)
    V = np.zeros((m, n))
    alphas, betas = [], []
    beta = np.linalg.norm(v)
    for j in range(m):
        if beta <= 1e-12 * (1.0 + (abs(alphas[0]) if alphas else 0.0)):
            break
        V[j] = v / beta
        if j:
            betas.append(beta)
        w = A @ V[j]
        alpha = float(V[j] @ w)
        alphas.append(alpha)
        w -= V[: j + 1].T @ (V[: j + 1] @ w)  # full reorthogonalisation, twice is enough
        w -= V[: j + 1].T @ (V[: j + 1] @ w)
        v, beta = w, np.linalg.norm(w)
    k = len(alphas)
    T = np.diag(alphas) + np.diag(betas[: k - 1], 1) + np.diag(betas[: k - 1], -1)
    values, S = np.linalg.eigh(T)
    return values, V[:k].T @ S


def ritz_training_set(A: sp.sparray, n_samples: int, *, n_ritz: int | None = None, theta: int | None = None,
                      boost: float = 9.0, seed: int = 0) -> np.ndarray:
    """``n_samples`` normalised right-hand sides b (rows, shape (n_samples, n)) for training f_θ.

    ``n_ritz`` = m Lanczos steps (default min(n, 10 000), the official m; m = n gives exact
    eigenvectors), ``theta`` the extra boosted modes (default m // 20, the official 500 of
    10 000), ``boost`` the factor 9 on the lowest m/2 + θ coefficients.
    """
    n = A.shape[0]
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise bad_value("n_samples", n_samples, "an int >= 1")
    m = min(n, 10_000) if n_ritz is None else n_ritz
    theta = max(0, m // 20) if theta is None else theta
    if isinstance(theta, bool) or not isinstance(theta, int) or theta < 0:
        raise bad_value("theta", theta, "an int >= 0")
    if not np.isfinite(boost) or boost <= 0:
        raise bad_value("boost", boost, "a finite number > 0")
    values, vectors = lanczos_ritz(A, m, seed=seed)
    keep = values > _NULL * max(values.max(), 1.0)
    values, vectors = values[keep], vectors[:, keep]
    weights = np.ones(values.size)
    weights[: min(values.size, m // 2 + theta)] = boost
    rng = np.random.default_rng(seed + 1)
    b = (rng.standard_normal((n_samples, values.size)) * weights) @ vectors.T
    return b / np.linalg.norm(b, axis=1, keepdims=True)
