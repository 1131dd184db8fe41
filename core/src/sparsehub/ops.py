"""Sparse ops dispatched to the best available backend: spmm, spgemm, sddmm, nm_matmul, masked_matmul.

Each op validates its inputs once, here, and hands the kernel chosen by
:func:`sparsehub.backend.resolve` clean arrays (the contract is in :mod:`sparsehub.reference`).
``backend=None`` runs on the highest-priority available backend implementing the op (the
numpy/scipy reference last); ``algorithm`` picks one of that backend's implementations.

Inputs. Sparse operands may be a :class:`~sparsehub.tensor.SparseTensor` (any format; it is
converted to CSR, and a CSR that is not canonical is canonicalised), a ``scipy.sparse`` array or
matrix, a sparse torch tensor, or a dense 2-D array (its nonzeros become the stored entries).
Dense operands may be numpy arrays, array-likes, or torch tensors that do not require grad
(results of these four ops are numpy; only :func:`masked_matmul` computes in torch).

Dtypes. Values are computed in one float dtype: float64 if any operand is float64 or an integer
type of 32 bits or more, else float32 (float16/bfloat16, bool and small integers are promoted to
float32). This is ``numpy.result_type(*dtypes, numpy.float32)``. Complex, object, string and
extended-precision dtypes are rejected with a TypeError. Non-finite values propagate as in numpy.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .backend import resolve
from .errors import FormatError, PatternError, ShapeError, Shown, bad_value, describe

__all__ = ["as_csr", "compute_dtype", "masked_matmul", "nm_matmul", "sddmm", "spgemm", "spmm"]


# -- dtypes ----------------------------------------------------------------------------------
_TORCH_DTYPE_AS_NUMPY = {"bfloat16": "float16"}  # numpy has no bfloat16; both promote to float32


def _numpy_dtype(dtype: Any) -> np.dtype:
    """A numpy dtype for a numpy or torch dtype (torch only needs its name here)."""
    if isinstance(dtype, np.dtype):
        return dtype
    name = str(dtype).removeprefix("torch.")
    try:
        return np.dtype(_TORCH_DTYPE_AS_NUMPY.get(name, name))
    except TypeError:
        return np.dtype(object)


def compute_dtype(**dtypes: Any) -> np.dtype:
    """The float dtype the ops compute in, for the named operand dtypes (numpy or torch).

    ``numpy.result_type(*dtypes, float32)``: float64 when any operand is float64 or an integer of
    at least 32 bits, float32 otherwise. Raises TypeError naming the first unsupported operand.

    >>> compute_dtype(A=np.dtype("float32"), B=np.dtype("int8"))
    dtype('float32')
    """
    converted = []
    for name, dtype in dtypes.items():
        dt = _numpy_dtype(dtype)
        if dt.kind not in "biuf" or (dt.kind == "f" and dt.itemsize > 8):
            raise bad_value(
                f"{name}.dtype",
                Shown(str(dtype)),
                "a real number dtype (bool, integer, float16/32/64); ops compute in float32 or float64",
                TypeError,
            )
        converted.append(dt)
    return np.result_type(*converted, np.float32)


# -- operands --------------------------------------------------------------------------------
def _is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _torch_to_numpy(name: str, x: Any) -> np.ndarray:
    if x.requires_grad:
        raise bad_value(
            name,
            describe(x),
            "an array or a torch tensor without requires_grad (this op returns numpy and would cut the "
            "graph; use masked_matmul or torch.sparse for autograd)",
        )
    return x.detach().cpu().numpy()


def _is_scipy_sparse(x: Any) -> bool:
    sp = sys.modules.get("scipy.sparse")
    return sp is not None and sp.issparse(x)


def _dense(name: str, x: Any, ndims: tuple[int, ...] | None = (2,)) -> np.ndarray:
    """A dense operand as a numpy array with one of ``ndims`` dimensions (any when None)."""
    if _is_torch(x):
        if x.layout != sys.modules["torch"].strided:
            raise bad_value(name, describe(x), "a dense array (this operand is a sparse torch tensor)")
        arr = _torch_to_numpy(name, x)
    elif _is_scipy_sparse(x) or _is_sparse_tensor(x):
        raise bad_value(name, describe(x), "a dense array (for sparse @ sparse use sparsehub.ops.spgemm)")
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:
            raise bad_value(name, describe(x), "a dense numeric array", TypeError) from exc
    if ndims is not None and arr.ndim not in ndims:
        dims = " or ".join(f"{d}-D" for d in ndims)
        raise bad_value(f"{name}.shape", arr.shape, f"a {dims} array", ShapeError)
    return arr


def _is_sparse_tensor(x: Any) -> bool:
    tensor = sys.modules.get("sparsehub.tensor")
    return tensor is not None and isinstance(x, tensor.SparseTensor)


def _sparse(name: str, x: Any) -> Any:
    """A sparse operand as a SparseTensor (any format)."""
    from .tensor import SparseTensor

    if isinstance(x, SparseTensor):
        st = x
    elif _is_scipy_sparse(x):
        st = SparseTensor.from_scipy(x)
    elif _is_torch(x) and x.layout != sys.modules["torch"].strided:
        if x.requires_grad:
            _torch_to_numpy(name, x)  # raises the requires_grad message
        st = SparseTensor.from_torch(x)
    elif _is_torch(x) or isinstance(x, np.ndarray):
        arr = _torch_to_numpy(name, x) if _is_torch(x) else x
        if arr.ndim != 2:
            raise bad_value(f"{name}.shape", arr.shape, "a 2-D matrix", ShapeError)
        compute_dtype(**{name: arr.dtype})
        st = SparseTensor.from_dense(arr, format="csr")
    else:
        raise bad_value(
            name,
            describe(x),
            "a sparse matrix: SparseTensor, scipy.sparse array/matrix, sparse torch tensor "
            "or dense 2-D array",
            TypeError,
        )
    if len(st.shape) != 2:
        raise bad_value(f"{name}.shape", tuple(st.shape), "a 2-D matrix", ShapeError)
    return st


def _index_arrays(indptr: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """indptr and indices in one contiguous dtype: int32 when both already are, else int64."""
    dtype = np.int32 if indptr.dtype == np.int32 and indices.dtype == np.int32 else np.int64
    return np.ascontiguousarray(indptr, dtype=dtype), np.ascontiguousarray(indices, dtype=dtype)


def as_csr(name: str, x: Any) -> Any:
    """A sparse operand as a canonical CSR :class:`~sparsehub.SparseTensor` (sorted, no duplicates).

    Accepts a SparseTensor of any format, a scipy.sparse array or matrix, a sparse torch tensor
    or a dense 2-D numpy array or torch tensor (its nonzeros become the entries); anything else
    raises a TypeError naming ``name``. Kernel plugins call it to take the same operands as the
    built-in ops.
    """
    st = _sparse(name, x)
    if st.format != "csr":
        st = st.to("csr")
    return st.canonical()  # itself when already sorted without duplicates


def _csr(name: str, x: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """A sparse operand as canonical CSR: ``(tensor, indptr, indices, values)``."""
    st = as_csr(name, x)
    indptr, indices = _index_arrays(st.arrays["indptr"], st.arrays["indices"])
    return st, indptr, indices, st.arrays["values"]


def _contiguous(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=dtype)


# -- ops -------------------------------------------------------------------------------------
def spmm(A: Any, B: Any, *, backend: str | None = None, algorithm: str | None = None) -> np.ndarray:
    """Sparse @ dense: ``A @ B``.

    ``out[i, :] = sum_k A[i, k] * B[k, :]`` over the stored entries of A's row i.
    Shapes: A (m, k) sparse, B (k, n) or (k,) dense -> out (m, n) or (m,), numpy, computed dtype.
    """
    kernel = resolve("spmm", backend, algorithm)
    st, indptr, indices, values = _csr("A", A)
    b = _dense("B", B, (1, 2))
    m, k = st.shape
    if b.shape[0] != k:
        raise bad_value("B.shape", b.shape, f"({k}, n) or ({k},) to match A.shape={(m, k)}", ShapeError)
    dtype = compute_dtype(A=values.dtype, B=b.dtype)
    b2 = b.reshape(k, 1) if b.ndim == 1 else b
    out = kernel.load()(indptr, indices, _contiguous(values, dtype), (m, k), _contiguous(b2, dtype))
    return out.reshape(m) if b.ndim == 1 else out


def spgemm(A: Any, B: Any, *, backend: str | None = None, algorithm: str | None = None) -> Any:
    """Sparse @ sparse: ``C = A @ B`` as a canonical CSR SparseTensor.

    ``C[i, j] = sum_k A[i, k] * B[k, j]``; entries summing to exactly zero may be dropped.
    Shapes: A (m, k), B (k, n) sparse -> C (m, n), SparseTensor in format csr, computed dtype.
    """
    from .tensor import SparseTensor

    kernel = resolve("spgemm", backend, algorithm)
    sa, a_indptr, a_indices, a_values = _csr("A", A)
    sb, b_indptr, b_indices, b_values = _csr("B", B)
    (m, k), (k2, n) = sa.shape, sb.shape
    if k2 != k:
        raise bad_value("B.shape", tuple(sb.shape), f"({k}, n) to match A.shape={(m, k)}", ShapeError)
    dtype = compute_dtype(A=a_values.dtype, B=b_values.dtype)
    indptr, indices, values = kernel.load()(
        a_indptr,
        a_indices,
        _contiguous(a_values, dtype),
        (m, k),
        b_indptr,
        b_indices,
        _contiguous(b_values, dtype),
        (k, n),
    )
    # a kernel from a plugin may break the contract: canonical() is a cached check when it holds
    return SparseTensor.csr(indptr, indices, _contiguous(np.asarray(values), dtype), (m, n)).canonical()


def sddmm(S: Any, X: Any, Y: Any, *, backend: str | None = None, algorithm: str | None = None) -> Any:
    """Sampled dense-dense matmul: ``out_ij = s_ij * (X[i, :] @ Y[:, j])`` for each stored ``(i, j)`` of S.

    Only the entries S stores are computed, so the cost is ``nnz * k`` instead of ``m * n * k``.
    The result has S's (canonical) pattern, stored zeros included.
    Shapes: S (m, n) sparse, X (m, k), Y (k, n) dense -> SparseTensor csr (m, n), computed dtype.
    """
    from .tensor import SparseTensor

    kernel = resolve("sddmm", backend, algorithm)
    st, indptr, indices, values = _csr("S", S)
    x, y = _dense("X", X), _dense("Y", Y)
    m, n = st.shape
    if x.shape[0] != m:
        raise bad_value("X.shape", x.shape, f"({m}, k) to match S.shape={(m, n)}", ShapeError)
    if y.shape != (x.shape[1], n):
        raise bad_value(
            "Y.shape",
            y.shape,
            f"({x.shape[1]}, {n}) to match X.shape={x.shape} and S.shape={(m, n)}",
            ShapeError,
        )
    dtype = compute_dtype(S=values.dtype, X=x.dtype, Y=y.dtype)
    out = kernel.load()(
        indptr, indices, _contiguous(values, dtype), (m, n), _contiguous(x, dtype), _contiguous(y, dtype)
    )
    return SparseTensor.csr(indptr, indices, _contiguous(np.asarray(out), dtype), (m, n))


def nm_matmul(A_nm: Any, B: Any, *, backend: str | None = None, algorithm: str | None = None) -> np.ndarray:
    """N:M sparse @ dense: ``A @ B`` for A in the ``nm`` format (N kept in every M along the last axis).

    ``out[i, :] = sum_s values[i, s] * B[(s // n) * m + indices[i, s], :]``.
    Shapes: A_nm (rows, cols) with values/indices (rows, cols // m * n); B (cols, k) or (cols,)
    -> out (rows, k) or (rows,), numpy, computed dtype.
    """
    kernel = resolve("nm_matmul", backend, algorithm)
    if not _is_sparse_tensor(A_nm) or A_nm.format != "nm":
        fmt = getattr(A_nm, "format", None)
        raise bad_value(
            "A_nm",
            Shown(f"SparseTensor(format={fmt!r})") if fmt else describe(A_nm),
            "a SparseTensor in format 'nm' (SparseTensor.from_dense(x, format='nm', n=..., m=...))",
            FormatError,
        )
    rows, cols = A_nm.shape
    n, m = int(A_nm.n), int(A_nm.m)
    values, idx = A_nm.arrays["values"], A_nm.arrays["indices"]
    b = _dense("B", B, (1, 2))
    if b.shape[0] != cols:
        raise bad_value(
            "B.shape", b.shape, f"({cols}, k) or ({cols},) to match A_nm.shape={(rows, cols)}", ShapeError
        )
    if values.shape != (rows, cols // m * n) or idx.shape != values.shape:
        raise bad_value(
            "A_nm.arrays",
            Shown(f"values{values.shape} indices{idx.shape}"),
            f"both of shape {(rows, cols // m * n)} for a {n}:{m} matrix of shape {(rows, cols)}",
            PatternError,
        )
    dtype = compute_dtype(A_nm=values.dtype, B=b.dtype)
    out = kernel.load()(
        _contiguous(values, dtype),
        np.ascontiguousarray(idx, dtype=np.uint8),
        (rows, cols),
        n,
        m,
        _contiguous(b.reshape(cols, 1) if b.ndim == 1 else b, dtype),
    )
    return out.reshape(rows) if b.ndim == 1 else out


def _mask_array(mask: Any) -> Any:
    """A :class:`~sparsehub.mask.Mask`'s boolean array, or the argument itself."""
    masks = sys.modules.get("sparsehub.mask")
    return mask.array if masks is not None and isinstance(mask, masks.Mask) else mask


def masked_matmul(
    X: Any, W: Any, mask: Any, *, backend: str | None = None, algorithm: str | None = None
) -> Any:
    """The masked Linear forward: ``X @ (W ⊙ mask).T``.

    Convention (torch.nn.Linear): ``W`` is (out_features, in_features) and ``mask`` has W's
    shape, True (or 1) where a weight is kept. A masked-out weight is absent: it contributes
    exactly 0 even if W stores NaN or Inf there. Leading dimensions of X are batch dimensions.
    numpy in, numpy out; if any operand is a torch tensor the op computes in torch on that
    tensor's device and returns a torch tensor through which autograd flows to X and W.
    Shapes: X (..., in), W (out, in), mask (out, in) -> out (..., out), computed dtype.
    """
    kernel = resolve("masked_matmul", backend, algorithm)
    mask = _mask_array(mask)
    use_torch = any(_is_torch(t) for t in (X, W, mask))
    if use_torch:
        import torch

        device = next(t.device for t in (X, W, mask) if _is_torch(t))

        def as_array(name: str, t: Any) -> Any:
            if not _is_torch(t):
                t = torch.as_tensor(np.asarray(t), device=device)
            if t.layout != torch.strided:
                raise bad_value(name, describe(t), "a dense tensor")
            return t
    else:

        def as_array(name: str, t: Any) -> Any:
            return _dense(name, t, None)

    x, w, mk = as_array("X", X), as_array("W", W), as_array("mask", mask)
    if w.ndim != 2:
        raise bad_value("W.shape", tuple(w.shape), "a 2-D (out_features, in_features) weight", ShapeError)
    if tuple(mk.shape) != tuple(w.shape):
        raise bad_value("mask.shape", tuple(mk.shape), f"W.shape={tuple(w.shape)}", ShapeError)
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise bad_value(
            "X.shape", tuple(x.shape), f"(..., {w.shape[1]}) to match W.shape={tuple(w.shape)}", ShapeError
        )
    dtype = compute_dtype(X=x.dtype, W=w.dtype)
    mk = _bool_mask(mk, use_torch)
    out_features, lead = w.shape[0], tuple(x.shape[:-1])
    if use_torch:
        tdtype = getattr(torch, dtype.name)
        # operands given as numpy were placed on the first torch operand's device above
        x2 = x.reshape(-1, w.shape[1]).to(tdtype).contiguous()
        w2, mk = w.to(tdtype).contiguous(), mk.contiguous()
    else:
        x2, w2 = _contiguous(x.reshape(-1, w.shape[1]), dtype), _contiguous(w, dtype)
        mk = np.ascontiguousarray(mk)
    out = kernel.load()(x2, w2, mk)
    return out.reshape(*lead, out_features)


def _bool_mask(mk: Any, use_torch: bool) -> Any:
    """The mask as booleans; a numeric mask must hold only 0 and 1."""
    if use_torch:
        import torch

        if mk.dtype == torch.bool:
            return mk
        if mk.is_complex() or not bool(((mk == 0) | (mk == 1)).all()):
            raise bad_value(
                "mask", describe(mk), "a boolean mask (or numbers that are all 0 or 1)", PatternError
            )
        return mk != 0
    if mk.dtype == np.bool_:
        return mk
    if mk.dtype.kind not in "biuf" or not bool(((mk == 0) | (mk == 1)).all()):
        raise bad_value(
            "mask", describe(mk), "a boolean mask (or numbers that are all 0 or 1)", PatternError
        )
    return mk != 0
