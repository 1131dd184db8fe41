"""``spmm_chw``: the sparse 1x1 convolution on CHW activations, validated, on a chosen backend.

Out = clamp(W X + b, lo, hi) with W (Cout x Cin) sparse and X in CHW layout: (Cin, H*W),
(Cin, H, W) or a batch (N, Cin, H, W), where each image's channels are contiguous planes (torch's
default NCHW memory format is exactly this). The backends: ``"numba"`` (the XNNPACK micro-kernel of
:mod:`.kernels`), ``"cuda"`` (:mod:`.cuda_kernels`, a GPU or numba's simulator) and ``"reference"``
(dense numpy: the oracle).
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from sparsehub.errors import ShapeError, bad_value

from .packing import XnnpackWeights, pack_xnnpack

__all__ = ["ACTIVATIONS", "BACKENDS", "clamp_bounds", "spmm_chw"]

#: Named clamps: the activations XNNPACK fuses into the micro-kernel's store.
ACTIVATIONS = {"none": (-math.inf, math.inf), "relu": (0.0, math.inf), "relu6": (0.0, 6.0)}
BACKENDS = ("numba", "cuda", "reference")


def clamp_bounds(clamp: Any) -> tuple[float, float]:
    """``(lo, hi)`` for ``clamp``: None, ``"relu"``, ``"relu6"``, ``"none"`` or a pair lo <= hi (no NaN)."""
    if clamp is None:
        return ACTIVATIONS["none"]
    if isinstance(clamp, str):
        if clamp.lower() not in ACTIVATIONS:
            raise bad_value("clamp", clamp, f"None, one of {sorted(ACTIVATIONS)} or a pair (lo, hi)")
        return ACTIVATIONS[clamp.lower()]
    try:
        lo, hi = (float(v) for v in clamp)
    except (TypeError, ValueError) as exc:
        raise bad_value("clamp", clamp, f"None, one of {sorted(ACTIVATIONS)} or a pair (lo, hi)") from exc
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise bad_value("clamp", clamp, "a pair (lo, hi) of numbers with lo <= hi")
    return lo, hi


def _as_chw(X: Any, cin: int, dtype: np.dtype) -> tuple[np.ndarray, tuple[int, ...], bool]:
    """X as a C-contiguous (N, Cin, HW) array, its original shape and whether it was a torch tensor."""
    torch = sys.modules.get("torch")
    is_torch = torch is not None and isinstance(X, torch.Tensor)
    if is_torch:
        if X.requires_grad:
            raise bad_value("X", "<tensor requiring grad>", "a tensor without requires_grad (inference kernel)")
        if X.layout != torch.strided:
            raise bad_value("X", "<sparse tensor>", "a dense CHW tensor")
        arr = X.detach().cpu().contiguous().numpy()  # channels_last (NHWC in memory) becomes NCHW here
    else:
        arr = np.asarray(X)
    if arr.ndim not in (2, 3, 4):
        raise bad_value("X.shape", arr.shape, "(Cin, H*W), (Cin, H, W) or (N, Cin, H, W) in CHW layout",
                        ShapeError)
    channel_axis = 1 if arr.ndim == 4 else 0
    if arr.shape[channel_axis] != cin:
        hint = " (an NHWC/HWC array? transpose it to CHW)" if arr.shape[-1] == cin else ""
        raise bad_value("X.shape", arr.shape, f"Cin={cin} channels on axis {channel_axis} (CHW layout){hint}",
                        ShapeError)
    if arr.dtype != dtype:
        raise bad_value("X.dtype", str(arr.dtype), f"{dtype}, the dtype of W (mixed dtypes are not cast)",
                        TypeError)
    n = arr.shape[0] if arr.ndim == 4 else 1
    hw = int(np.prod(arr.shape[channel_axis + 1:]))
    return np.ascontiguousarray(arr).reshape(n, cin, hw), arr.shape, is_torch


def spmm_chw(
    W: Any,
    X: Any,
    bias: Any = None,
    *,
    clamp: Any = None,
    mr: int | None = None,
    backend: str = "numba",
) -> Any:
    """The CHW sparse 1x1 convolution: Out[n, c, p] = clamp(b_c + sum_k W[c, k] X[n, k, p], lo, hi).

    Paper Sec. 4 (XNNPACK ``f32-spmm``). ``W``: a packed :class:`~.packing.XnnpackWeights` (then
    ``bias`` must be None: it is in the stream) or anything :func:`~.packing.pack_xnnpack` takes
    (SparseTensor, scipy.sparse, dense or sparse torch tensor, (Cout, Cin[, 1, 1]) array; float32 or
    float64, finite). ``X``: (Cin, HW), (Cin, H, W) or (N, Cin, H, W), numpy or torch (no grad), of
    W's dtype; NaN/Inf in X propagate as in a dense convolution. ``clamp``: None, ``"relu"``,
    ``"relu6"`` or (lo, hi). ``mr``: pixels per strip (numba; default from Cin). ``backend``: one of
    :data:`BACKENDS`. Returns an array (torch tensor for torch X) of X's shape with Cout channels.
    """
    if backend not in BACKENDS:
        raise bad_value("backend", backend, f"one of {', '.join(BACKENDS)}")
    if mr is not None and (isinstance(mr, bool) or not isinstance(mr, (int, np.integer)) or mr < 1):
        raise bad_value("mr", mr, "None or an int >= 1 (pixels per strip)")
    lo, hi = clamp_bounds(clamp)
    if isinstance(W, XnnpackWeights):
        if bias is not None:
            raise bad_value("bias", "<given>", "None when W is already packed (its bias is in the value stream)")
        packed = W
    else:
        packed = pack_xnnpack(W, bias)
    cout, cin = packed.shape
    x, shape, is_torch = _as_chw(X, cin, packed.dtype)
    if backend == "numba":
        from .kernels import spmm_chw_packed

        out = spmm_chw_packed(packed, x, lo, hi, mr)
    elif backend == "cuda":
        from .cuda_kernels import spmm_chw_packed as cuda_packed

        out = cuda_packed(packed, x, lo, hi)
    else:
        out = reference_chw(packed, x, lo, hi)
    out_shape = (*shape[:1], cout, *shape[2:]) if len(shape) == 4 else (cout, *shape[1:])
    out = out.reshape(out_shape)
    if is_torch:
        import torch

        return torch.from_numpy(out)
    return out


def reference_chw(packed: XnnpackWeights, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The oracle: dense ``clamp(W @ x + b)`` in numpy (NaN passes the clamp, as in the kernels)."""
    out = np.matmul(packed.to_dense(), x) + packed.bias[:, None]
    with np.errstate(invalid="ignore"):
        out = np.where(out < lo, lo, out)
        out = np.where(out > hi, hi, out)
    return out.astype(packed.dtype)
