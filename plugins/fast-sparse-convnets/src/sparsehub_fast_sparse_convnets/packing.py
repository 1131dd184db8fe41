"""XNNPACK's packed sparse weights for the CHW 1x1 convolution (paper Sec. 4, ``f32-spmm``).

A sparse weight matrix W (Cout x Cin) becomes three streams that the micro-kernel reads strictly
in order, so the inner loop decodes no column index:

* ``values`` (nnz + Cout): per output channel c, its bias b_c followed by its nonzeros
  w_c1 .. w_cn in increasing input channel;
* ``nnz_map`` (Cout,): n_c, the nonzeros of channel c (0 is allowed: the output is the bias);
* ``channel_deltas`` (nnz,): for each nonzero, the difference between the input channel of the
  *next* nonzero in the stream and its own. The last nonzero of channel c therefore steps to the
  first nonzero of channel c + 1, and the very last one wraps to the first, so the deltas sum to 0
  and the input pointer is back at its start after a full pass (the next pixel strip begins there).

XNNPACK stores these differences in bytes (channel difference x H x W x sizeof(float)) once the
input size is known; ours stay in channels and the kernels multiply by H x W (elements, not bytes:
numba indexes arrays, not raw pointers). ``first_channel`` is the input channel of the first
nonzero, where the pointer starts.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from sparsehub.arrays import readonly
from sparsehub.errors import ShapeError, bad_value

__all__ = ["XnnpackWeights", "pack_csr_arrays", "pack_xnnpack", "weight_csr"]

#: dtypes the kernels compute in; XNNPACK's sparse path is fp32 (and fp16 on ARM, not here).
SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class XnnpackWeights:
    """The packed streams of one sparse 1x1 convolution (see the module docstring).

    ``shape`` is (Cout, Cin); arrays are read-only and C-contiguous.
    """

    values: np.ndarray
    nnz_map: np.ndarray
    channel_deltas: np.ndarray
    first_channel: int
    shape: tuple[int, int]

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    @property
    def nnz(self) -> int:
        return int(self.channel_deltas.size)

    @property
    def bias(self) -> np.ndarray:
        """b (Cout,): the first value of each channel's stream."""
        return self.values[self.bias_positions()]

    def bias_positions(self) -> np.ndarray:
        """Index in ``values`` of each channel's bias: c + sum of n_c' for c' < c."""
        starts = np.zeros(self.shape[0], dtype=np.int64)
        np.cumsum(self.nnz_map[:-1] + 1, out=starts[1:])
        return starts

    def input_channels(self) -> np.ndarray:
        """The input channel of every nonzero, recovered by summing the deltas from ``first_channel``."""
        if self.nnz == 0:
            return np.zeros(0, dtype=np.int64)
        steps = np.concatenate([[self.first_channel], self.channel_deltas[:-1].astype(np.int64)])
        return np.cumsum(steps)

    def to_dense(self) -> np.ndarray:
        """W (Cout, Cin) as a dense array (the exact inverse of :func:`pack_xnnpack`, bias aside)."""
        cout, cin = self.shape
        dense = np.zeros((cout, cin), dtype=self.dtype)
        rows = np.repeat(np.arange(cout), self.nnz_map)
        keep = np.ones(self.values.size, dtype=bool)
        keep[self.bias_positions()] = False
        dense[rows, self.input_channels()] = self.values[keep]
        return dense


def weight_csr(W: Any, name: str = "W") -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """W as canonical CSR arrays ``(indptr int64, indices int64, values, (Cout, Cin))``.

    Accepts a :class:`sparsehub.SparseTensor` (any format), a scipy.sparse matrix, a torch tensor
    (dense or sparse, without grad) or a dense 2-D array; a 4-D (Cout, Cin, 1, 1) conv weight is
    squeezed. Non-canonical CSR (unsorted or duplicate indices) is canonicalised (duplicates summed).
    Rejects other dtypes than float32/float64 and non-finite weights, naming the argument.
    """
    from sparsehub import SparseTensor

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(W, torch.Tensor):
        if W.requires_grad:
            W = W.detach()
        if W.layout != torch.strided:
            W = SparseTensor.from_torch(W)
        else:
            W = W.cpu().numpy()
    sp = sys.modules.get("scipy.sparse")
    if sp is not None and sp.issparse(W):
        W = SparseTensor.from_scipy(W)
    if isinstance(W, SparseTensor):
        st = W
    else:
        try:
            arr = np.asarray(W)
        except Exception as exc:
            raise bad_value(name, type(W).__name__, "a sparse or dense (Cout, Cin) weight matrix", TypeError) from exc
        if arr.ndim == 4 and arr.shape[2:] == (1, 1):
            arr = arr[:, :, 0, 0]
        if arr.ndim != 2:
            raise bad_value(f"{name}.shape", arr.shape, "a (Cout, Cin) matrix or a (Cout, Cin, 1, 1) 1x1 kernel",
                            ShapeError)
        _check_dtype(name, arr.dtype)
        st = SparseTensor.from_dense(arr, format="csr")
    if len(st.shape) != 2:
        raise bad_value(f"{name}.shape", tuple(st.shape), "a (Cout, Cin) matrix", ShapeError)
    _check_dtype(name, st.dtype)
    st = (st if st.format == "csr" else st.to("csr")).canonical()
    indptr = st.arrays["indptr"].astype(np.int64)
    indices = st.arrays["indices"].astype(np.int64)
    values = np.asarray(st.arrays["values"])
    if not np.isfinite(values).all():
        raise bad_value(name, "<weights with NaN or Inf>", "finite weights (a non-finite weight is a broken model)")
    return indptr, indices, values, tuple(int(s) for s in st.shape)


def _check_dtype(name: str, dtype: np.dtype) -> None:
    if np.dtype(dtype) not in SUPPORTED_DTYPES:
        raise bad_value(f"{name}.dtype", str(dtype), "float32 or float64 (XNNPACK's sparse path is fp32)",
                        TypeError)


def pack_xnnpack(W: Any, bias: Any = None) -> XnnpackWeights:
    """Pack a sparse W (Cout x Cin) and bias b (Cout,) into XNNPACK's ``f32-spmm`` streams.

    Returns an :class:`XnnpackWeights`: values [b_c, w_c1..w_cn] per channel, nnz per channel and
    the input-channel deltas (last of a channel -> first of the next, the last wrapping to the
    first). ``W``: anything :func:`weight_csr` takes; ``bias``: None (zeros) or Cout finite values,
    cast to W's dtype.
    """
    indptr, indices, values, (cout, cin) = weight_csr(W)
    if bias is None:
        b = np.zeros(cout, dtype=values.dtype)
    else:
        b = _as_numpy(bias)
        if b.shape != (cout,):
            raise bad_value("bias.shape", b.shape, f"({cout},) to match W.shape={(cout, cin)}", ShapeError)
        if b.dtype.kind not in "biuf" or not np.isfinite(b).all():
            raise bad_value("bias", "<non-finite or non-numeric bias>", "finite real values")
        b = b.astype(values.dtype)
    return pack_csr_arrays(indptr, indices, values, b, (cout, cin))


def pack_csr_arrays(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, bias: np.ndarray, shape: tuple[int, int]
) -> XnnpackWeights:
    """:func:`pack_xnnpack` on canonical CSR arrays that are already validated (no checks: the op
    kernels get validated operands from :mod:`sparsehub.ops`, where NaN must propagate)."""
    cout, cin = shape
    indptr = np.asarray(indptr, dtype=np.int64)
    nnz_map = np.diff(indptr).astype(np.int32)
    stream = np.empty(values.size + cout, dtype=values.dtype)
    bias_at = np.arange(cout, dtype=np.int64) + indptr[:-1]
    stream[bias_at] = bias
    weight_at = np.ones(stream.size, dtype=bool)
    weight_at[bias_at] = False
    stream[weight_at] = values
    if indices.size:
        deltas = np.diff(np.concatenate([indices, indices[:1]]).astype(np.int64)).astype(np.int32)
        first = int(indices[0])
    else:
        deltas, first = np.zeros(0, dtype=np.int32), 0
    stream, nnz_map, deltas = (readonly(np.ascontiguousarray(a)) for a in (stream, nnz_map, deltas))
    return XnnpackWeights(stream, nnz_map, deltas, first, (cout, cin))


def _as_numpy(x: Any) -> np.ndarray:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)
