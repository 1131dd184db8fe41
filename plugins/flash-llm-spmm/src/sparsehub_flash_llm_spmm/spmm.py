"""``flash_llm_spmm``: the skinny SpMM ``Y = W @ X`` with W in Tiled-CSL, and its op-registry form.

This is the decode-phase GEMM of an LLM (Flash-LLM, Section 4): W is an (M, K) pruned weight,
X holds the N tokens of a batch (N = 1 ... 128 in the paper's workloads), so the product is
memory-bound and what matters is how many bytes of W cross the memory bus. Values are stored as
fp16 and accumulated in fp32, as in the paper; the result is float32.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from sparsehub.errors import ShapeError, Shown, bad_value

from .tiled_csl import TiledCSL

__all__ = ["BACKENDS", "flash_llm_spmm", "footprint", "spmm_csr", "spmm_csr_cuda", "traffic"]

#: Where :func:`flash_llm_spmm` can run.
BACKENDS = ("numba", "cuda")


def _operand(X: Any, k: int) -> tuple[np.ndarray, bool]:
    """X as a float32 C-contiguous (k, n) numpy array, and whether it was 1-D."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(X, torch.Tensor):
        if X.requires_grad:
            raise bad_value("X", Shown(f"<Tensor shape={tuple(X.shape)} requires_grad=True>"),
                            "a tensor without requires_grad (the Tiled-CSL kernels are inference-only)")
        if X.is_complex():
            raise bad_value("X.dtype", str(X.dtype), "a real dtype", TypeError)
        X = X.detach().cpu().float().numpy()
    x = np.asarray(X)
    if x.dtype.kind not in "biuf":
        raise bad_value("X.dtype", str(x.dtype), "a real dtype (computed in float32)", TypeError)
    if x.ndim not in (1, 2) or x.shape[0] != k:
        raise bad_value("X.shape", x.shape, f"({k}, n) or ({k},) to match W.shape[1] = {k}", ShapeError)
    vector = x.ndim == 1
    return np.ascontiguousarray(x.reshape(k, -1), dtype=np.float32), vector


def _padded_rows(x: np.ndarray, rows: int) -> np.ndarray:
    """``x`` with zero rows appended up to ``rows`` (padding words of ragged edge tiles read them)."""
    if x.shape[0] == rows:
        return x
    padded = np.zeros((rows, x.shape[1]), np.float32)
    padded[: x.shape[0]] = x
    return padded


def flash_llm_spmm(W: TiledCSL, X: Any, *, backend: str = "numba", threads: int | None = None) -> np.ndarray:
    """``Y = W @ X`` for W in Tiled-CSL: fp16 weights, fp32 accumulation, float32 result.

    ``backend="numba"`` runs the CPU load-as-sparse kernel (:mod:`.kernels`), ``"cuda"`` the
    load-as-sparse, compute-as-dense numba.cuda kernel (:mod:`.cuda_kernels`; numpy in, numpy
    out). ``threads`` caps the CPU kernel's parallelism (None: numba's current thread count).
    X may hold NaN/Inf (they propagate). Shapes: W (M, K), X (K, N) or (K,) -> (M, N) or (M,).
    """
    if not isinstance(W, TiledCSL):
        raise bad_value("W", Shown(f"<{type(W).__name__}>"),
                        "a TiledCSL (build one with TiledCSL.from_csr or TiledCSL.from_dense)", TypeError)
    if backend not in BACKENDS:
        raise bad_value("backend", backend, f"one of {', '.join(BACKENDS)}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise bad_value("threads", threads, "None or a positive int")
    m, k = W.shape
    x, vector = _operand(X, k)
    ntm, ntk = W.grid
    xp = _padded_rows(x, ntk * W.tile_k)
    if backend == "numba":
        from .kernels import spmm_tiles

        y = spmm_tiles(W.words, W.word_start, (ntm, ntk), W.tile_m, W.tile_k, xp, threads)
    else:
        from .cuda_kernels import spmm_tiles_cuda

        y = spmm_tiles_cuda(W.words, W.word_start, (ntm, ntk), W.tile_m, W.tile_k, xp)
    y = y[:m]
    return y.reshape(m) if vector else y


def footprint(W: TiledCSL) -> dict[str, float]:
    """Storage of W against dense fp16 (the paper's baseline) and fp32.

    Returns ``bytes``, ``dense_fp16_bytes``, ``ratio_to_dense_fp16``, ``dense_fp32_bytes``,
    ``padding_words`` and ``sparsity``.
    """
    m, k = W.shape
    dense16 = 2 * m * k
    return {
        "bytes": W.nbytes,
        "dense_fp16_bytes": dense16,
        "ratio_to_dense_fp16": W.nbytes / dense16 if dense16 else float("nan"),
        "dense_fp32_bytes": 2 * dense16,
        "padding_words": W.nnz_padded - W.nnz,
        "sparsity": 1.0 - W.nnz / (m * k) if m * k else float("nan"),
    }


def traffic(W: TiledCSL, n: int) -> int:
    """Compulsory bytes of one SpMM: the Tiled-CSL arrays, X (K, n) and Y (M, n) in float32."""
    m, k = W.shape
    return W.nbytes + 4 * k * n + 4 * m * n


def _csr_kernel(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, int],
                B: np.ndarray, backend: str) -> np.ndarray:
    from sparsehub import SparseTensor

    W = TiledCSL.from_csr(SparseTensor.csr(indptr, indices, values, shape))
    return flash_llm_spmm(W, B, backend=backend).astype(values.dtype, copy=False)


def spmm_csr(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, int],
             B: np.ndarray) -> np.ndarray:
    """The ``spmm`` op kernel (backend "numba", algorithm "tiled-csl"): encode A, then :func:`flash_llm_spmm`.

    A's values are rounded to fp16 (the paper's storage), products accumulate in fp32, the result
    is cast to ``values.dtype``. A is re-encoded on every call: encode once with
    :meth:`TiledCSL.from_csr` to reuse it. Shapes: A (m, k), B (k, n) -> (m, n).
    """
    return _csr_kernel(indptr, indices, values, shape, B, "numba")


def spmm_csr_cuda(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, int],
                  B: np.ndarray) -> np.ndarray:
    """The ``spmm`` op kernel (backend "cuda", algorithm "tiled-csl"): as :func:`spmm_csr` on the GPU."""
    return _csr_kernel(indptr, indices, values, shape, B, "cuda")
