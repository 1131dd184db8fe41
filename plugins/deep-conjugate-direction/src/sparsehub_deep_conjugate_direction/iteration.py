"""The deep conjugate-direction iteration (paper §3.1, Algorithm 1; official ``dcdm`` in lib/).

    r = b − A x;  repeat:  q = f(r / ‖r‖)
                           q ← q − Σ_{j ∈ last n_orth} (qᵀA p_j / p_jᵀA p_j) p_j     (A-orthogonalise)
                           α = qᵀr / qᵀA q;  x ← x + α q;  r = b − A x            (true residual)
    until ‖r‖ ≤ max(rtol·‖b‖, atol)

Each step minimises the A-norm error along q, and orthogonalising q against the previous two
directions (the paper's choice, n_orth = 2) keeps the steps from undoing each other; with
f(r) = r the iteration is exactly conjugate gradients, with f = A⁻¹ it stops after one step.
The iteration runs in float64 even though f_θ runs in float32.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from sparsehub.errors import ShapeError, bad_value
from sparsehub.solver import (
    IterationLog,
    SolverResult,
    check_finite,
    check_positive,
    warn_if_not_converged,
)

__all__ = ["conjugate_directions", "dcdm"]

_COLLAPSE = 1e-12  # ‖q‖ after orthogonalisation below this (relative) counts as a collapsed direction


def _check_system(A: Any, b: Any, x0: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    if not (sp.issparse(A) or isinstance(A, np.ndarray)) or A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise bad_value("A", type(A).__name__ + str(getattr(A, "shape", "")),
                        "a square scipy.sparse matrix or 2-D ndarray", ShapeError)
    check_finite("A", A)
    A = sp.csr_array(A, dtype=np.float64)
    diff = abs(A - A.T).max() if A.nnz else 0.0
    if diff > 1e-10 * max(abs(A).max(), 1e-300):
        raise bad_value("A", f"a non-symmetric matrix (max |A - Aᵀ| = {diff:.3g})",
                        "a symmetric positive (semi)definite matrix")
    b = check_finite("b", b, ndim=1).astype(np.float64)
    if b.shape[0] != A.shape[0]:
        raise bad_value("b.shape", b.shape, f"({A.shape[0]},) to match A", ShapeError)
    if x0 is None:
        x0 = np.zeros_like(b)
    x0 = check_finite("x0", x0, ndim=1).astype(np.float64)
    if x0.shape != b.shape:
        raise bad_value("x0.shape", x0.shape, f"{b.shape} to match b", ShapeError)
    return A, b, x0


def _orthonormal(null_space: Any, n: int) -> np.ndarray | None:
    if null_space is None:
        return None
    N = check_finite("null_space", null_space, ndim=(1, 2)).astype(np.float64).reshape(n, -1)
    Q, R = np.linalg.qr(N)
    if np.abs(np.diag(R)).min() <= 1e-12 * np.abs(np.diag(R)).max():
        raise bad_value("null_space", f"rank-deficient columns of shape {N.shape}", "independent columns")
    return Q


def conjugate_directions(A: Any, b: Any, direction: Callable[[np.ndarray], np.ndarray], x0: Any = None, *,
                         rtol: float = 1e-6, atol: float = 0.0, maxiter: int = 500, n_orth: int = 2,
                         null_space: Any = None, safeguard: float = 1e-3,
                         callback: Callable[[np.ndarray], Any] | None = None,
                         name: str = "conjugate_directions") -> SolverResult:
    """Minimise the A-norm error along A-orthogonalised directions ``direction(r / ‖r‖)``.

    The general iteration behind :func:`dcdm`; ``direction`` maps a unit-norm residual (n,) to a
    search direction (n,) of any scale. ``null_space`` (n, k): for a singular positive
    semidefinite A (Neumann problems), b and every direction are projected onto its orthogonal
    complement, range(A), first, as the paper's fluid solver does (``info["b_projected_out"]``
    is the norm removed from b). A direction that collapses (≈ 0 after orthogonalisation, or not
    finite), or — a safeguard the paper does not have, off with ``safeguard=0`` — whose step would
    lower the A-norm error by less than ``safeguard`` times a steepest-descent step (one extra
    SpMV per iteration to know), is replaced by the A-orthogonalised residual, a conjugate-gradient
    step (counted in ``info["fallback_steps"]``). Without it an untrained or mismatched network
    can stall: its directions stay nearly orthogonal to r and the residual stops falling.
    ``qᵀAq < 0`` for a non-zero direction proves A is not positive semidefinite: a ValueError.
    A singular A given without ``null_space`` and b outside range(A) cannot converge: it ends at
    ``maxiter`` with a ConvergenceWarning. History: ``residual`` = ‖r_k‖ / ‖b‖.
    """
    A, b, x = _check_system(A, b, x0)
    rtol = check_positive("rtol", rtol, allow_zero=True)
    safeguard = check_positive("safeguard", safeguard, allow_zero=True)
    atol = check_positive("atol", atol, allow_zero=True)
    if rtol == 0 and atol == 0:
        raise bad_value("rtol/atol", (rtol, atol), "rtol > 0 or atol > 0")
    for label, value, low in (("maxiter", maxiter, 1), ("n_orth", n_orth, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise bad_value(label, value, f"an int >= {low}")
    n = b.shape[0]
    Q = _orthonormal(null_space, n)

    def project(v: np.ndarray) -> np.ndarray:
        return v if Q is None else v - Q @ (Q.T @ v)

    b_proj = project(b)
    removed = float(np.linalg.norm(b - b_proj))
    b = b_proj
    x = project(x)
    norm_b = float(np.linalg.norm(b))
    log = IterationLog()
    if norm_b == 0:
        return log.result(np.zeros(n), converged=True, message="b = 0 (after projection): x = 0",
                          b_projected_out=removed, fallback_steps=0)
    tol = max(rtol * norm_b, atol)
    r = b - A @ x
    norm_r = float(np.linalg.norm(r))
    previous: deque[tuple[np.ndarray, np.ndarray, float]] = deque(maxlen=n_orth or 1)
    fallbacks = 0
    converged = norm_r <= tol
    while not converged and log.n_iter < maxiter:
        q = np.asarray(direction(r / norm_r), dtype=np.float64).reshape(-1)
        if q.shape != (n,):
            raise bad_value("direction(r).shape", q.shape, f"({n},)", ShapeError)
        step = _orthogonalised(project(q), previous if n_orth else (), A) if np.all(np.isfinite(q)) else None
        if step is not None and safeguard > 0:
            # energy decrease of the step, (qᵀr)²/qᵀAq, against a steepest-descent step's, (rᵀr)²/rᵀAr
            rr, rAr = float(r @ r), float(r @ (A @ r))
            if (step[0] @ r) ** 2 / step[2] < safeguard * rr * rr / max(rAr, 1e-300):
                step = None
        if step is None:  # collapsed, useless or non-finite direction: the residual instead (a CG step)
            fallbacks += 1
            step = _orthogonalised(project(r), previous if n_orth else (), A)
            if step is None:
                raise bad_value("A", "a matrix with pᵀAp <= 0 for the residual direction",
                                "a symmetric positive definite matrix (on range(A) with null_space)")
        q, Aq, qAq = step
        x = x + (q @ r) / qAq * q
        r = b - A @ x
        norm_r = float(np.linalg.norm(r))
        if not np.isfinite(norm_r):
            raise FloatingPointError(f"{name}: the residual became {norm_r} at iteration {log.n_iter + 1}")
        if n_orth:
            previous.append((q, Aq, qAq))
        log.record(residual=norm_r / norm_b)
        if callback is not None:
            callback(x)
        converged = norm_r <= tol
    message = ("converged" if converged else "maxiter reached") + f": ‖r‖/‖b‖ = {norm_r / norm_b:.3g}"
    result = log.result(x, converged=converged, message=message, b_projected_out=removed,
                        fallback_steps=fallbacks)
    return warn_if_not_converged(result, name)


def _orthogonalised(q: np.ndarray, previous: Any, A: Any) -> tuple[np.ndarray, np.ndarray, float] | None:
    """q A-orthogonalised against ``previous`` (p, Ap, pᵀAp) triples, with Aq and qᵀAq; None if collapsed.

    Classical Gram–Schmidt with the original q, as the official code does. A negative qᵀAq for a
    non-negligible q means A is indefinite: a ValueError.
    """
    scale = float(np.linalg.norm(q))
    if scale == 0:
        return None
    for p, Ap, pAp in list(previous):
        q = q - (q @ Ap) / pAp * p
    Aq = A @ q
    qAq = float(q @ Aq)
    norm_q = float(np.linalg.norm(q))
    if norm_q <= _COLLAPSE * scale:
        return None
    if qAq <= 0:
        if qAq < -1e-10 * norm_q**2 * max(abs(A).max(), 1e-300):
            raise bad_value("A", f"an indefinite matrix (qᵀAq = {qAq:.3g} < 0)",
                            "a symmetric positive (semi)definite matrix")
        return None
    return q, Aq, qAq


def dcdm(A: Any, b: Any, model: Any, x0: Any = None, *, grid_shape: Sequence[int] | None = None,
         rtol: float = 1e-6, atol: float = 0.0, maxiter: int = 500, n_orth: int = 2, null_space: Any = None,
         safeguard: float = 1e-3, callback: Callable[[np.ndarray], Any] | None = None) -> SolverResult:
    """Solve A x = b (A sparse SPD on a grid) by the deep conjugate-direction method.

    ``model`` is a trained :class:`~.network.DCDMNet` (see :func:`~.training.train_dcdm`);
    ``grid_shape`` (default: the square or cubic grid of ``model.dim`` with n cells) is how the
    residual is laid out for it. Directions are A-orthogonalised against the last ``n_orth``
    (paper: 2). Stops when ‖b − A x‖ ≤ max(rtol·‖b‖, atol) (scipy's ``cg`` rule, on the true
    residual). ``null_space`` and ``safeguard``: see :func:`conjugate_directions` (``safeguard=0``
    is the paper's iteration exactly). Returns a :class:`~sparsehub.solver.SolverResult`;
    ``info["network_seconds"]`` is the time spent in the network, included in ``time``.
    """
    import time

    from .network import DCDMNet
    from .poisson import grid_shape_of

    if not isinstance(model, DCDMNet):
        raise bad_value("model", type(model).__name__, "a DCDMNet (train one with train_dcdm)")
    b = check_finite("b", b, ndim=1)
    n = b.shape[0]
    dims = grid_shape_of(n, model.dim) if grid_shape is None else tuple(int(s) for s in grid_shape)
    if len(dims) != model.dim or int(np.prod(dims)) != n:
        raise bad_value("grid_shape", grid_shape, f"a {model.dim}-D grid with prod = len(b) = {n}",
                        ShapeError)
    spent = [0.0]

    def direction(r: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        q = model.direction(r, dims)
        spent[0] += time.perf_counter() - start
        return q

    result = conjugate_directions(A, b, direction, x0, rtol=rtol, atol=atol, maxiter=maxiter, n_orth=n_orth,
                                  null_space=null_space, safeguard=safeguard, callback=callback, name="dcdm")
    result.info["network_seconds"] = spent[0]
    result.info["grid_shape"] = dims
    return result
