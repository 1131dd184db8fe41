"""Unsupervised training of f_θ with the paper's loss (paper §3.2, eq. 6; official ``src/train.py``).

For a right-hand side b the network proposes q = f_θ(b); the best multiple of q in the A-norm —
exactly the step a conjugate-direction iteration takes — is c·q with c = qᵀb / qᵀAq, and the loss
is the residual it leaves, L(θ) = ‖b − c·A q‖², averaged over the batch. The unknown scale of
A⁻¹ is therefore never learned, only the direction.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from sparsehub.errors import ShapeError, bad_value
from sparsehub.progress import progress

from .network import DCDMNet, fast_convolutions
from .ritz import ritz_training_set

__all__ = ["dcdm_loss", "sparse_operator", "train_dcdm"]


_CHUNK = 50


def _steps(steps: int, show: bool) -> Iterator[int]:
    """Step numbers 0..steps-1, drawing a progress line per chunk of 50 steps (not per step) when ``show``."""
    chunks = [(i, min(_CHUNK, steps - i)) for i in range(0, steps, _CHUNK)]
    if show:
        chunks = progress(chunks, desc="train DCDM", label=lambda c: f"steps {c[0]}-{c[0] + c[1]}")
    for first, size in chunks:
        yield from range(first, first + size)


def sparse_operator(A: sp.sparray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A as a coalesced torch COO tensor (for ``torch.sparse.mm`` with autograd on the dense side)."""
    coo = sp.coo_array(A)
    index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    return torch.sparse_coo_tensor(index, torch.from_numpy(coo.data).to(dtype), size=coo.shape,
                                   check_invariants=False).coalesce()


def dcdm_loss(q: torch.Tensor, b: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """mean_i ‖b_i − c_i A q_i‖² with c_i = q_iᵀb_i / q_iᵀA q_i; q and b of shape (batch, n)."""
    Aq = torch.sparse.mm(A, q.T).T
    c = (q * b).sum(1) / (q * Aq).sum(1)
    return ((b - c[:, None] * Aq) ** 2).sum(1).mean()


def train_dcdm(A: sp.sparray, grid_shape: Sequence[int], *, model: DCDMNet | None = None,
               rhs: np.ndarray | None = None, n_samples: int = 4000, n_ritz: int | None = None,
               theta: int | None = None, boost: float = 9.0, steps: int = 1000, batch_size: int = 8,
               lr: float = 1e-3, time_budget_s: float | None = None, seed: int = 0,
               show_progress: bool = False) -> DCDMNet:
    """Train f_θ for the matrix A (grid ``grid_shape``) on the paper's Ritz right-hand sides.

    ``rhs`` (n_samples, n) replaces the generated set (:func:`~.ritz.ritz_training_set` with
    ``n_samples``, ``n_ritz``, ``theta``, ``boost``). Adam with learning rate ``lr``, ``steps``
    mini-batches of ``batch_size`` drawn by reshuffled epochs (``seed``), stopping early after
    ``time_budget_s`` seconds if given (then the result depends on the machine's speed: tests use
    ``steps``). Returns the model in eval mode with ``model.loss_history_`` (one loss per step)
    and ``model.train_seconds_``.
    """
    dims = tuple(int(s) for s in grid_shape)
    n = int(np.prod(dims))
    if A.shape != (n, n):
        raise bad_value("A.shape", A.shape, f"({n}, {n}) for grid_shape={dims}", ShapeError)
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad_value(name, value, "an int >= 1")
    if not np.isfinite(lr) or lr <= 0:
        raise bad_value("lr", lr, "a finite number > 0")
    if time_budget_s is not None and not time_budget_s > 0:
        raise bad_value("time_budget_s", time_budget_s, "None or a number of seconds > 0")
    if model is None:
        model = DCDMNet(dim=len(dims), seed=seed)
    elif model.dim != len(dims):
        raise bad_value("model.dim", model.dim, f"{len(dims)} for grid_shape={dims}")
    if rhs is None:
        rhs = ritz_training_set(A, n_samples, n_ritz=n_ritz, theta=theta, boost=boost, seed=seed)
    rhs = np.asarray(rhs)
    if rhs.ndim != 2 or rhs.shape[1] != n:
        raise bad_value("rhs.shape", rhs.shape, f"(samples, {n})", ShapeError)
    data = torch.from_numpy(rhs.astype(np.float32))
    A_t = sparse_operator(A)
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    order = torch.randperm(len(data), generator=gen)
    at = 0
    start = time.perf_counter()
    model.train()
    with fast_convolutions():
        for _ in _steps(steps, show_progress):
            if at + batch_size > len(data):
                order, at = torch.randperm(len(data), generator=gen), 0
            b = data[order[at: at + batch_size]]
            at += batch_size
            q = model(b.reshape(-1, 1, *dims)).reshape(len(b), n)
            loss = dcdm_loss(q, b, A_t)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            if time_budget_s is not None and time.perf_counter() - start > time_budget_s:
                break
    model.eval()
    model.loss_history_ = losses
    model.train_seconds_ = time.perf_counter() - start
    return model
