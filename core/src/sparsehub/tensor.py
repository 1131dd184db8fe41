"""SparseTensor: an immutable, format-tagged sparse 2-D matrix over numpy arrays.

Five built-in formats share one object:

- ``coo``    ``row``, ``col``, ``values`` (nnz,); duplicates allowed, they sum in :meth:`to_dense`.
- ``csr``    ``indptr`` (rows + 1,), ``indices``, ``values`` (nnz,).
- ``bsr``    ``indptr`` (rows / bh + 1,), ``indices`` (nblocks,), ``blocks`` (nblocks, bh, bw).
- ``nm``     N:M along the last axis: ``values`` and uint8 in-group ``indices``, both
             (rows, cols / m * n); every group of m consecutive columns stores exactly n slots.
- ``bitmap`` ``bitmap`` (rows, cols) bool and ``values`` (bitmap.sum(),) in row-major order.

Arrays are read-only views; a constructor copies an input only when it is not already a contiguous
array of the right dtype, so a tensor may share memory with the caller's arrays (as
``torch.from_numpy`` does). Index arrays are int32 when every index, pointer and dimension fits,
int64 when one does not or when the caller already passed int64 (``index_dtype`` overrides).
NaN and Inf are data: they are stored values like any other non-zero.

scipy and torch are imported only inside the functions that convert to or from them.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import FormatError, PatternError, ShapeError, bad_value
from .method import FormatSpec

__all__ = [
    "FORMATS",
    "SparseTensor",
    "convert_from_plugin_format",
    "convert_to_plugin_format",
    "format_spec",
]

#: The built-in formats; plugins add more through the ``sparsehub_formats`` hook.
FORMATS = ("coo", "csr", "bsr", "nm", "bitmap")

_INT32_MAX = int(np.iinfo(np.int32).max)
_VALUE_KINDS = "biufc"  # bool, signed, unsigned, float, complex
_INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
_MAX_M = 256  # nm in-group indices are uint8


# -- validation helpers ------------------------------------------------------------------------------
def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_format(format: object) -> str:
    if not isinstance(format, str) or format not in FORMATS:
        raise bad_value(
            "format",
            format,
            f"one of {', '.join(FORMATS)} (plugin formats go through convert_to_plugin_format)",
            FormatError,
        )
    return format


def _check_shape(shape: object) -> tuple[int, int]:
    allowed = "a pair (rows, cols) of non-negative ints"
    try:
        dims = tuple(shape)  # type: ignore[arg-type]
    except TypeError:
        raise bad_value("shape", shape, allowed, ShapeError) from None
    if len(dims) != 2 or not all(_is_int(d) and d >= 0 for d in dims):
        raise bad_value("shape", shape, allowed, ShapeError)
    return int(dims[0]), int(dims[1])


def _freeze(a: np.ndarray) -> np.ndarray:
    # A read-only view, not the caller's array: freezing theirs would mutate their object.
    view = a.view()
    view.flags.writeable = False
    return view


def _index_input(name: str, a: object) -> np.ndarray:
    """An index array as given (no cast yet): 1-D, integer dtype; empty lists are accepted."""
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise bad_value(f"{name}.shape", arr.shape, "a 1-D index array", ShapeError)
    if arr.size == 0 and arr.dtype.kind not in "iu":
        arr = arr.astype(np.int32)  # np.asarray([]) is float64; an empty list names no index
    if arr.dtype.kind not in "iu":
        raise bad_value(f"{name}.dtype", str(arr.dtype), "an integer dtype (int32 or int64)", FormatError)
    if not hasattr(a, "dtype") and arr.size and -_INT32_MAX <= arr.min() and arr.max() <= _INT32_MAX:
        # A list names no dtype; numpy's default int64 must not count as the caller asking for it.
        arr = arr.astype(np.int32)
    return arr


def _check_range(name: str, a: np.ndarray, hi: int, what: str) -> None:
    """Every entry of ``a`` in [0, hi); the message names the first offending position."""
    if a.size == 0:
        return
    bad = a >= hi
    if a.dtype.kind == "i":
        bad |= a < 0
    if bad.any():
        i = int(np.argmax(bad))
        raise bad_value(f"{name}[{i}]", a[i].item(), f"{what} in [0, {hi})", FormatError)


def _check_indptr(name: str, ptr: np.ndarray, length: int, end: int, end_name: str) -> None:
    if len(ptr) != length:
        raise bad_value(f"{name}.shape", ptr.shape, f"({length},): one pointer per row plus one", ShapeError)
    if ptr[0] != 0:
        raise bad_value(f"{name}[0]", ptr[0].item(), "0", FormatError)
    steps = np.diff(ptr.astype(np.int64, copy=False))
    if (steps < 0).any():
        i = int(np.argmax(steps < 0)) + 1
        raise bad_value(
            f"{name}[{i}]",
            ptr[i].item(),
            f"a non-decreasing indptr (>= {name}[{i - 1}]={ptr[i - 1].item()})",
            FormatError,
        )
    if ptr[-1] != end:
        raise bad_value(f"{name}[{length - 1}]", ptr[-1].item(), f"{end} = {end_name}", FormatError)


def _resolve_index_dtype(arrays: tuple[np.ndarray, ...], bound: int, index_dtype: object) -> np.dtype:
    """int32 when ``bound`` (the largest dimension or pointer) fits and no input is int64."""
    need_64 = bound > _INT32_MAX
    if index_dtype is not None:
        try:
            dt = np.dtype(index_dtype)  # type: ignore[call-overload]
        except TypeError:
            dt = None
        if dt not in _INDEX_DTYPES:
            raise bad_value("index_dtype", index_dtype, "numpy.int32, numpy.int64 or None", FormatError)
        if dt == np.int32 and need_64:
            raise bad_value(
                "index_dtype",
                index_dtype,
                f"int64: a dimension or pointer ({bound}) exceeds int32",
                FormatError,
            )
        return dt
    if need_64 or any(a.dtype == np.int64 for a in arrays):
        return np.dtype(np.int64)
    return np.dtype(np.int32)


def _fitting_index_dtype(bound: int) -> np.dtype:
    return np.dtype(np.int64 if bound > _INT32_MAX else np.int32)


def _values_input(name: str, v: object, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(v)
    if arr.dtype.kind not in _VALUE_KINDS:
        raise bad_value(
            f"{name}.dtype", str(arr.dtype), "a bool, integer, float or complex dtype", FormatError
        )
    if arr.shape != shape:
        raise bad_value(f"{name}.shape", arr.shape, f"{shape}", ShapeError)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return _freeze(np.ascontiguousarray(arr))


def _finish_index(a: np.ndarray, dt: np.dtype) -> np.ndarray:
    return _freeze(np.ascontiguousarray(a, dtype=dt))


def _check_nm(n: object, m: object, cols: int) -> tuple[int, int]:
    if not _is_int(m) or not 0 < m <= _MAX_M:  # type: ignore[operator]
        raise bad_value("m", m, f"an int in [1, {_MAX_M}] (in-group indices are uint8)", PatternError)
    if not _is_int(n) or not 0 < n <= m:  # type: ignore[operator]
        raise bad_value("n", n, f"an int with 0 < n <= m={m}", PatternError)
    if cols % m:  # type: ignore[operator]
        raise bad_value("m", m, f"a divisor of the number of columns ({cols})", PatternError)
    return int(n), int(m)  # type: ignore[call-overload]


def _check_blocksize(blocksize: object, shape: tuple[int, int]) -> tuple[int, int]:
    allowed = f"a pair (bh, bw) of positive ints dividing the shape {shape}"
    try:
        pair = tuple(blocksize)  # type: ignore[arg-type]
    except TypeError:
        raise bad_value("blocksize", blocksize, allowed, ShapeError) from None
    if len(pair) != 2 or not all(_is_int(b) and b > 0 for b in pair):
        raise bad_value("blocksize", blocksize, allowed, ShapeError)
    bh, bw = int(pair[0]), int(pair[1])
    if shape[0] % bh or shape[1] % bw:
        raise bad_value("blocksize", blocksize, allowed, ShapeError)
    return bh, bw


def _check_target_options(fmt: str, blocksize: object, n: object, m: object, index_dtype: object) -> None:
    """Reject an option the target format does not use, instead of silently ignoring it."""
    given = {"blocksize": blocksize, "n": n, "m": m, "index_dtype": index_dtype}
    used = {
        "coo": {"index_dtype"},
        "csr": {"index_dtype"},
        "bsr": {"blocksize", "index_dtype"},
        "nm": {"n", "m"},
        "bitmap": set(),
    }[fmt]
    for name, value in given.items():
        if value is not None and name not in used:
            raise bad_value(name, value, f"None: format {fmt!r} does not use {name}", FormatError)


# -- array algorithms --------------------------------------------------------------------------------
def _sum_duplicates(
    major: np.ndarray, minor: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort (major, minor) pairs lexicographically and sum the values of equal pairs.

    ``values`` may carry trailing dimensions (BSR blocks); summation order is the stored order.
    """
    if len(major) == 0:
        return major, minor, values
    order = np.lexsort((minor, major))
    major, minor, values = major[order], minor[order], values[order]
    first = np.empty(len(major), dtype=bool)
    first[0] = True
    first[1:] = (major[1:] != major[:-1]) | (minor[1:] != minor[:-1])
    starts = np.flatnonzero(first)
    summed = np.add.reduceat(values, starts, axis=0, dtype=values.dtype)
    return major[starts], minor[starts], summed


def _pairs_strictly_increasing(major: np.ndarray, minor: np.ndarray) -> bool:
    if len(major) < 2:
        return True
    dmaj = np.diff(major.astype(np.int64, copy=False))
    dmin = np.diff(minor.astype(np.int64, copy=False))
    return bool(((dmaj > 0) | ((dmaj == 0) & (dmin > 0))).all())


def _expand_indptr(indptr: np.ndarray, dt: np.dtype) -> np.ndarray:
    """Row id of every stored entry: CSR ``indptr`` (rows + 1,) -> (nnz,)."""
    return np.repeat(np.arange(len(indptr) - 1, dtype=dt), np.diff(indptr))


def _compress_rows(sorted_rows: np.ndarray, rows: int, dt: np.dtype) -> np.ndarray:
    """CSR ``indptr`` from row ids sorted non-decreasingly."""
    return np.searchsorted(sorted_rows, np.arange(rows + 1, dtype=sorted_rows.dtype), side="left").astype(dt)


def _dense_numpy(x: Any) -> np.ndarray:
    """A numpy view of ``x``; torch tensors are moved to host, detached and densified."""
    if type(x).__module__.startswith("torch"):
        import torch

        if x.layout != torch.strided:
            x = x.to_dense()
        x = x.detach().cpu().resolve_conj().resolve_neg()
        if x.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds every bfloat16 exactly
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def _torch_view(a: np.ndarray) -> Any:
    import torch

    # from_numpy shares memory; it warns because our arrays are read-only. The tensor must be
    # treated as read-only too, which the docstrings of the callers say.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(a)


def _rebuild(fmt: str, shape: tuple[int, int], arrays: dict, meta: dict) -> SparseTensor:
    return SparseTensor._new(
        fmt, shape, {k: _freeze(np.ascontiguousarray(v)) for k, v in arrays.items()}, meta
    )


# -- the tensor --------------------------------------------------------------------------------------
class SparseTensor:
    """An immutable sparse matrix in one of :data:`FORMATS`.

    Build one with :meth:`coo`, :meth:`csr`, :meth:`bsr`, :meth:`nm`, :meth:`bitmap`,
    :meth:`from_dense`, :meth:`from_scipy` or :meth:`from_torch`; every constructor validates its
    arrays fully and raises :class:`~sparsehub.errors.FormatError`, :class:`ShapeError` or
    :class:`PatternError` naming the argument. Arrays are read-only views (see :attr:`arrays`).
    """

    __slots__ = ("_arrays", "_cache", "_format", "_meta", "_shape")

    _format: str
    _shape: tuple[int, int]
    _arrays: dict[str, np.ndarray]
    _meta: dict[str, Any]
    _cache: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            "build a SparseTensor with SparseTensor.coo/csr/bsr/nm/bitmap, "
            "from_dense, from_scipy or from_torch"
        )

    @classmethod
    def _new(cls, fmt: str, shape: tuple[int, int], arrays: dict, meta: dict | None = None) -> SparseTensor:
        self = object.__new__(cls)
        for name, value in (
            ("_format", fmt),
            ("_shape", shape),
            ("_arrays", arrays),
            ("_meta", dict(meta or {})),
            ("_cache", {}),
        ):
            object.__setattr__(self, name, value)
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"SparseTensor is immutable: cannot set {name!r}; build a new tensor instead")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"SparseTensor is immutable: cannot delete {name!r}")

    def __reduce__(self) -> tuple:
        return (_rebuild, (self._format, self._shape, dict(self._arrays), dict(self._meta)))

    # -- constructors ----------------------------------------------------------------------------
    @classmethod
    def coo(cls, row: Any, col: Any, values: Any, shape: Any, *, index_dtype: Any = None) -> SparseTensor:
        """A COO matrix: entry k is ``values[k]`` at ``(row[k], col[k])``.

        Duplicate coordinates are allowed and sum in :meth:`to_dense` (as in scipy);
        :meth:`coalesce` returns the canonical form. Shapes: row, col, values (nnz,).
        """
        shape = _check_shape(shape)
        r, c = _index_input("row", row), _index_input("col", col)
        if c.shape != r.shape:
            raise bad_value("col.shape", c.shape, f"{r.shape} to match row", ShapeError)
        v = _values_input("values", values, r.shape)
        _check_range("row", r, shape[0], f"a row index for shape {shape}")
        _check_range("col", c, shape[1], f"a column index for shape {shape}")
        dt = _resolve_index_dtype((r, c), max(*shape, len(r)), index_dtype)
        return cls._new("coo", shape, {"row": _finish_index(r, dt), "col": _finish_index(c, dt), "values": v})

    @classmethod
    def csr(
        cls, indptr: Any, indices: Any, values: Any, shape: Any, *, index_dtype: Any = None
    ) -> SparseTensor:
        """A CSR matrix: row i holds ``values[indptr[i]:indptr[i+1]]`` at columns ``indices[...]``.

        Unsorted or duplicate column indices inside a row are allowed (they sum in
        :meth:`to_dense`); :attr:`has_canonical_format` says whether there are any and
        :meth:`canonical` removes them. Shapes: indptr (rows + 1,), indices and values (nnz,).
        """
        shape = _check_shape(shape)
        p, i = _index_input("indptr", indptr), _index_input("indices", indices)
        v = _values_input("values", values, i.shape)
        _check_indptr("indptr", p, shape[0] + 1, len(i), "len(indices)")
        _check_range("indices", i, shape[1], f"a column index for shape {shape}")
        dt = _resolve_index_dtype((p, i), max(*shape, len(i)), index_dtype)
        return cls._new(
            "csr", shape, {"indptr": _finish_index(p, dt), "indices": _finish_index(i, dt), "values": v}
        )

    @classmethod
    def bsr(
        cls, indptr: Any, indices: Any, blocks: Any, shape: Any, *, index_dtype: Any = None
    ) -> SparseTensor:
        """A block-CSR matrix of dense (bh, bw) blocks; the blocksize is ``blocks.shape[1:]``.

        Block row I holds ``blocks[indptr[I]:indptr[I+1]]`` at block columns ``indices[...]``.
        Shapes: indptr (rows / bh + 1,), indices (nblocks,), blocks (nblocks, bh, bw).
        """
        shape = _check_shape(shape)
        p, i = _index_input("indptr", indptr), _index_input("indices", indices)
        b = np.asarray(blocks)
        if b.ndim != 3:
            raise bad_value("blocks.shape", b.shape, "(nblocks, bh, bw)", ShapeError)
        if b.shape[1] == 0 or b.shape[2] == 0 or shape[0] % b.shape[1] or shape[1] % b.shape[2]:
            raise bad_value(
                "blocks.shape",
                b.shape,
                f"(nblocks, bh, bw) with bh, bw > 0 dividing shape {shape}",
                ShapeError,
            )
        bh, bw = int(b.shape[1]), int(b.shape[2])
        b = _values_input("blocks", b, (len(i), bh, bw))
        _check_indptr("indptr", p, shape[0] // bh + 1, len(i), "len(indices)")
        _check_range(
            "indices", i, shape[1] // bw, f"a block column index for shape {shape} and blocksize {(bh, bw)}"
        )
        dt = _resolve_index_dtype((p, i), max(*shape, len(i)), index_dtype)
        arrays = {"indptr": _finish_index(p, dt), "indices": _finish_index(i, dt), "blocks": b}
        return cls._new("bsr", shape, arrays, {"blocksize": (bh, bw)})

    @classmethod
    def nm(cls, values: Any, indices: Any, shape: Any, n: Any, m: Any) -> SparseTensor:
        """An N:M matrix: every group of m consecutive columns of a row stores exactly n slots.

        Slot k of group j in row r holds ``values[r, j*n + k]`` at column ``j*m + indices[r, j*n + k]``;
        in-group indices lie in [0, m) and strictly increase inside a group. A group with fewer
        than n non-zeros stores explicit zeros in its unused slots.
        Shapes: values and indices (rows, cols / m * n), indices stored as uint8.
        """
        shape = _check_shape(shape)
        n, m = _check_nm(n, m, shape[1])
        rows, groups = shape[0], shape[1] // m
        slots = (rows, groups * n)
        idx = np.asarray(indices)
        if idx.shape != slots:
            raise bad_value("indices.shape", idx.shape, f"{slots} = (rows, cols / m * n)", ShapeError)
        if idx.size == 0 and idx.dtype.kind not in "iu":
            idx = idx.astype(np.uint8)
        if idx.dtype.kind not in "iu":
            raise bad_value(
                "indices.dtype", str(idx.dtype), "an integer dtype (stored as uint8)", FormatError
            )
        v = _values_input("values", values, slots)
        if idx.size:
            bad = idx >= m
            if idx.dtype.kind == "i":
                bad |= idx < 0
            if bad.any():
                r, k = np.unravel_index(int(np.argmax(bad)), slots)
                raise bad_value(
                    f"indices[{r}, {k}]", idx[r, k].item(), f"an in-group index in [0, m={m})", FormatError
                )
            steps = np.diff(idx.reshape(rows, groups, n).astype(np.int16), axis=-1)
            if (steps <= 0).any():
                r, j, k = np.unravel_index(int(np.argmax(steps <= 0)), steps.shape)
                col = j * n + k + 1
                raise bad_value(
                    f"indices[{r}, {col}]",
                    idx[r, col].item(),
                    f"in-group indices strictly increasing (> {idx[r, col - 1].item()} at [{r}, {col - 1}])",
                    FormatError,
                )
        arrays = {"values": v, "indices": _finish_index(idx, np.dtype(np.uint8))}
        return cls._new("nm", shape, arrays, {"n": n, "m": m})

    @classmethod
    def bitmap(cls, bitmap: Any, values: Any, shape: Any) -> SparseTensor:
        """A bitmap matrix: ``bitmap[r, c]`` says whether (r, c) is stored; ``values`` in row-major order.

        Shapes: bitmap (rows, cols) bool, values (bitmap.sum(),).
        """
        shape = _check_shape(shape)
        bm = np.asarray(bitmap)
        if bm.dtype != np.bool_:
            raise bad_value("bitmap.dtype", str(bm.dtype), "bool", FormatError)
        if bm.shape != shape:
            raise bad_value("bitmap.shape", bm.shape, f"the shape {shape}", ShapeError)
        v = _values_input("values", values, (int(np.count_nonzero(bm)),))
        return cls._new("bitmap", shape, {"bitmap": _freeze(np.ascontiguousarray(bm)), "values": v})

    @classmethod
    def from_dense(
        cls,
        x: Any,
        format: str = "csr",
        *,
        blocksize: Any = None,
        n: Any = None,
        m: Any = None,
        index_dtype: Any = None,
    ) -> SparseTensor:
        """Compress a dense 2-D numpy array or torch tensor into ``format``.

        An entry is stored when ``x != 0``, so NaN and Inf are stored (they are data). For
        ``"bsr"`` (``blocksize`` required) blocks that are entirely zero are dropped; for ``"nm"``
        (``n`` and ``m`` required) a group with more than n non-zeros raises PatternError naming
        the first offending row and group. torch is imported only when ``x`` is a torch tensor.
        Shapes: x (rows, cols).
        """
        fmt = _check_format(format)
        _check_target_options(fmt, blocksize, n, m, index_dtype)
        a = _dense_numpy(x)
        if a.ndim != 2:
            raise bad_value("x.shape", a.shape, "a 2-D (rows, cols) array", ShapeError)
        if a.dtype.kind not in _VALUE_KINDS:
            raise bad_value("x.dtype", str(a.dtype), "a bool, integer, float or complex dtype", FormatError)
        shape = (int(a.shape[0]), int(a.shape[1]))
        if fmt == "bitmap":
            mask = a != 0
            return cls.bitmap(mask, a[mask], shape)
        if fmt == "nm":
            return cls._nm_from_dense(a, n, m)
        if fmt == "bsr":
            return cls._bsr_from_dense(a, blocksize, index_dtype)
        dt = _resolve_index_dtype((), max(*shape, 0), index_dtype)
        row, col = np.nonzero(a)  # row-major, hence canonical
        values = a[row, col]
        if fmt == "coo":
            return cls.coo(row.astype(dt), col.astype(dt), values, shape, index_dtype=index_dtype)
        dt = _resolve_index_dtype((), max(*shape, len(row)), index_dtype)
        indptr = _compress_rows(row, shape[0], dt)
        return cls.csr(indptr, col.astype(dt), values, shape, index_dtype=index_dtype)

    @classmethod
    def _nm_from_dense(cls, a: np.ndarray, n: Any, m: Any) -> SparseTensor:
        if n is None or m is None:
            raise bad_value("n, m", (n, m), "both given for format 'nm'", PatternError)
        rows, cols = a.shape
        n, m = _check_nm(n, m, cols)
        groups = a.reshape(rows, cols // m, m)
        nonzero = groups != 0
        counts = nonzero.sum(axis=-1)
        if (counts > n).any():
            r, j = np.unravel_index(int(np.argmax(counts > n)), counts.shape)
            raise PatternError(
                f"x has {counts[r, j]} non-zeros in row {r}, group {j} (columns {j * m}:{(j + 1) * m}), "
                f"which is not allowed: expected at most n={n} non-zeros in every group of m={m}"
            )
        # Non-zeros first (by position), then the lowest unused positions fill the remaining slots.
        key = np.where(nonzero, 0, m) + np.arange(m)
        slot_pos = np.sort(np.argsort(key, axis=-1, kind="stable")[..., :n], axis=-1)
        slots = (rows, cols // m * n)
        values = np.take_along_axis(groups, slot_pos, axis=-1).reshape(slots)
        return cls.nm(values, slot_pos.astype(np.uint8).reshape(slots), (rows, cols), n, m)

    @classmethod
    def _bsr_from_dense(cls, a: np.ndarray, blocksize: Any, index_dtype: Any) -> SparseTensor:
        shape = (int(a.shape[0]), int(a.shape[1]))
        if blocksize is None:
            raise bad_value(
                "blocksize", None, f"a pair (bh, bw) dividing the shape {shape} for format 'bsr'", ShapeError
            )
        bh, bw = _check_blocksize(blocksize, shape)
        tiles = a.reshape(shape[0] // bh, bh, shape[1] // bw, bw).transpose(0, 2, 1, 3)
        brow, bcol = np.nonzero((tiles != 0).any(axis=(2, 3)))
        dt = _resolve_index_dtype((), max(*shape, len(brow)), index_dtype)
        indptr = _compress_rows(brow, shape[0] // bh, dt)
        return cls.bsr(indptr, bcol.astype(dt), tiles[brow, bcol], shape, index_dtype=index_dtype)

    # -- properties ------------------------------------------------------------------------------
    @property
    def format(self) -> str:
        return self._format

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the stored values."""
        return self._values.dtype

    @property
    def _values(self) -> np.ndarray:
        return self._arrays["blocks" if self._format == "bsr" else "values"]

    @property
    def index_dtype(self) -> np.dtype | None:
        """int32/int64 for coo, csr, bsr; uint8 for nm; None for bitmap (it has no indices)."""
        if self._format == "bitmap":
            return None
        return self._arrays["indices" if self._format != "coo" else "row"].dtype

    @property
    def nnz(self) -> int:
        """Stored entries: duplicates and explicit zeros count; nm counts every slot (rows * cols / m * n)."""
        return int(self._values.size)

    def count_nonzero(self) -> int:
        """Stored values that are non-zero (NaN counts); duplicates are not summed first."""
        return int(np.count_nonzero(self._values))

    @property
    def density(self) -> float:
        """``nnz / (rows * cols)``; 0.0 for an empty shape."""
        size = self._shape[0] * self._shape[1]
        return self.nnz / size if size else 0.0

    @property
    def arrays(self) -> Mapping[str, np.ndarray]:
        """The storage, a read-only mapping of read-only arrays (names depend on the format)."""
        return MappingProxyType(self._arrays)

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self._arrays.values()))

    @property
    def blocksize(self) -> tuple[int, int]:
        """(bh, bw) of a bsr tensor."""
        if self._format != "bsr":
            raise AttributeError(f"blocksize is defined for format 'bsr', not {self._format!r}")
        return self._meta["blocksize"]

    @property
    def n(self) -> int:
        """Slots per group of an nm tensor."""
        if self._format != "nm":
            raise AttributeError(f"n is defined for format 'nm', not {self._format!r}")
        return self._meta["n"]

    @property
    def m(self) -> int:
        """Group length of an nm tensor."""
        if self._format != "nm":
            raise AttributeError(f"m is defined for format 'nm', not {self._format!r}")
        return self._meta["m"]

    @property
    def has_canonical_format(self) -> bool:
        """True when entries are sorted row-major with no duplicates (always True for nm and bitmap)."""
        if "canonical" not in self._cache:
            a = self._arrays
            if self._format == "coo":
                ok = _pairs_strictly_increasing(a["row"], a["col"])
            elif self._format in ("csr", "bsr"):
                ok = _pairs_strictly_increasing(_expand_indptr(a["indptr"], a["indices"].dtype), a["indices"])
            else:
                ok = True
            self._cache["canonical"] = ok
        return self._cache["canonical"]

    def __repr__(self) -> str:
        extra = ""
        if self._format == "bsr":
            extra = f", blocksize={self.blocksize}"
        elif self._format == "nm":
            extra = f", n={self.n}, m={self.m}"
        return (
            f"SparseTensor(format={self._format!r}, shape={self._shape}, nnz={self.nnz}, "
            f"dtype={self.dtype}{extra})"
        )

    # -- dense and structural conversions ---------------------------------------------------------
    def to_dense(self) -> np.ndarray:
        """The dense (rows, cols) numpy array; duplicate coo/csr/bsr entries are summed."""
        rows, cols = self._shape
        a = self._arrays
        if self._format == "bitmap":
            out = np.zeros(self._shape, dtype=self.dtype)
            out[a["bitmap"]] = a["values"]
            return out
        if self._format == "nm":
            n, m = self.n, self.m
            out = np.zeros((rows, cols // m, m), dtype=self.dtype)
            idx = a["indices"].reshape(rows, cols // m, n).astype(np.intp)
            np.put_along_axis(out, idx, a["values"].reshape(rows, cols // m, n), axis=-1)
            return out.reshape(rows, cols)
        if self._format == "bsr":
            bh, bw = self.blocksize
            tiles = np.zeros((rows // bh, cols // bw, bh, bw), dtype=self.dtype)
            brow = _expand_indptr(a["indptr"], a["indices"].dtype)
            np.add.at(tiles, (brow, a["indices"]), a["blocks"])
            return tiles.transpose(0, 2, 1, 3).reshape(rows, cols)
        row, col, values = self._coo_arrays()
        out = np.zeros(self._shape, dtype=self.dtype)
        np.add.at(out, (row, col), values)
        return out

    def _coo_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, col, values) of every stored entry; nm padding (zero-valued slots) is left out."""
        a, fmt = self._arrays, self._format
        if fmt == "coo":
            return a["row"], a["col"], a["values"]
        if fmt == "csr":
            return _expand_indptr(a["indptr"], a["indices"].dtype), a["indices"], a["values"]
        if fmt == "bsr":
            bh, bw = self.blocksize
            dt = a["indices"].dtype
            brow = _expand_indptr(a["indptr"], dt)
            inner_r, inner_c = np.divmod(np.arange(bh * bw, dtype=dt), dt.type(bw))
            row = (brow[:, None] * bh + inner_r).ravel()
            col = (a["indices"][:, None] * bw + inner_c).ravel()
            return row, col, a["blocks"].reshape(-1)
        dt = _fitting_index_dtype(max(*self._shape, self.nnz))
        if fmt == "bitmap":
            row, col = np.nonzero(a["bitmap"])
            return row.astype(dt), col.astype(dt), a["values"]
        # nm: slot (r, j*n + k) sits at column j*m + indices[r, j*n + k]
        n, m = self.n, self.m
        keep = a["values"] != 0
        row, slot = np.nonzero(keep)
        col = (slot // n) * m + a["indices"][row, slot]
        return row.astype(dt), col.astype(dt), a["values"][keep]

    def to(
        self, format: str, *, blocksize: Any = None, n: Any = None, m: Any = None, index_dtype: Any = None
    ) -> SparseTensor:
        """This matrix in ``format`` (``"bsr"`` needs ``blocksize``, ``"nm"`` needs ``n`` and ``m``).

        Conversions keep every stored entry (explicit zeros and duplicates too) except into nm,
        which stores the dense pattern, and out of nm, which leaves the zero padding slots out.
        The index dtype is kept unless ``index_dtype`` is given. Returns ``self`` when nothing changes.
        """
        fmt = _check_format(format)
        _check_target_options(fmt, blocksize, n, m, index_dtype)
        if index_dtype is not None:
            index_dtype = _resolve_index_dtype((), 0, index_dtype)
        if fmt == self._format and self._same_layout(blocksize, n, m, index_dtype):
            return self
        if fmt == "nm":
            return SparseTensor.from_dense(self.to_dense(), "nm", n=n, m=m)
        if fmt == "bsr" and blocksize is None:
            if self._format != "bsr":
                raise bad_value(
                    "blocksize",
                    None,
                    f"a pair (bh, bw) dividing the shape {self._shape} for format 'bsr'",
                    ShapeError,
                )
            blocksize = self.blocksize
        row, col, values = self._coo_arrays()
        if fmt == "coo":
            return SparseTensor.coo(row, col, values, self._shape, index_dtype=index_dtype)
        if fmt == "csr":
            return self._csr_from_coo(row, col, values, index_dtype)
        if fmt == "bsr":
            return self._bsr_from_coo(row, col, values, _check_blocksize(blocksize, self._shape), index_dtype)
        # bitmap: the stored positions, duplicates summed
        row, col, values = _sum_duplicates(row, col, values)
        bitmap = np.zeros(self._shape, dtype=bool)
        bitmap[row, col] = True
        return SparseTensor.bitmap(bitmap, values, self._shape)

    def _same_layout(self, blocksize: Any, n: Any, m: Any, index_dtype: Any) -> bool:
        if index_dtype is not None and index_dtype != self.index_dtype:
            return False
        if self._format == "bsr" and blocksize is not None:
            return tuple(blocksize) == self.blocksize
        if self._format == "nm":
            return (n is None or n == self.n) and (m is None or m == self.m)
        return True

    def _csr_from_coo(
        self, row: np.ndarray, col: np.ndarray, values: np.ndarray, index_dtype: Any
    ) -> SparseTensor:
        if len(row) > 1 and (np.diff(row) < 0).any():
            order = np.argsort(row, kind="stable")  # stable: keeps each row's stored order
            row, col, values = row[order], col[order], values[order]
        dt = _resolve_index_dtype((row,), max(*self._shape, len(row)), None)
        indptr = _compress_rows(row, self._shape[0], dt)
        return SparseTensor.csr(indptr, col, values, self._shape, index_dtype=index_dtype)

    def _bsr_from_coo(
        self,
        row: np.ndarray,
        col: np.ndarray,
        values: np.ndarray,
        blocksize: tuple[int, int],
        index_dtype: Any,
    ) -> SparseTensor:
        bh, bw = blocksize
        brow, bcol = row // bh, col // bw
        order = np.lexsort((bcol, brow))
        brow, bcol = brow[order], bcol[order]
        first = np.ones(len(brow), dtype=bool)
        first[1:] = (brow[1:] != brow[:-1]) | (bcol[1:] != bcol[:-1])
        block_of = np.cumsum(first) - 1  # block number of each sorted entry
        blocks = np.zeros((int(first.sum()), bh, bw), dtype=values.dtype)
        np.add.at(blocks, (block_of, row[order] % bh, col[order] % bw), values[order])
        dt = _resolve_index_dtype((row,), max(*self._shape, len(blocks)), None)
        indptr = _compress_rows(brow[first], self._shape[0] // bh, dt)
        return SparseTensor.bsr(indptr, bcol[first], blocks, self._shape, index_dtype=index_dtype)

    def canonical(self) -> SparseTensor:
        """The same format with entries sorted row-major and duplicates summed (explicit zeros kept)."""
        if self.has_canonical_format:
            return self
        a = self._arrays
        if self._format == "coo":
            row, col, values = _sum_duplicates(a["row"], a["col"], a["values"])
            return SparseTensor.coo(row, col, values, self._shape)
        dt = a["indices"].dtype
        major, minor, values = _sum_duplicates(
            _expand_indptr(a["indptr"], dt), a["indices"], a["blocks" if self._format == "bsr" else "values"]
        )
        if self._format == "csr":
            return SparseTensor.csr(_compress_rows(major, self._shape[0], dt), minor, values, self._shape)
        indptr = _compress_rows(major, self._shape[0] // self.blocksize[0], dt)
        return SparseTensor.bsr(indptr, minor, values, self._shape)

    def coalesce(self) -> SparseTensor:
        """The canonical COO: sorted row-major, duplicates summed."""
        return self.to("coo").canonical()

    def astype(self, dtype: Any) -> SparseTensor:
        """The same structure with values cast to ``dtype`` (``self`` when it already has it)."""
        dt = np.dtype(dtype)
        if dt.kind not in _VALUE_KINDS:
            raise bad_value("dtype", str(dt), "a bool, integer, float or complex dtype", FormatError)
        if dt == self.dtype:
            return self
        key = "blocks" if self._format == "bsr" else "values"
        arrays = dict(self._arrays)
        arrays[key] = _freeze(self._values.astype(dt))
        return SparseTensor._new(self._format, self._shape, arrays, self._meta)

    def transpose(self) -> SparseTensor:
        """The (cols, rows) transpose: coo stays coo, csr stays csr, bsr stays bsr (blocksize swapped),
        nm and bitmap become csr (an N:M pattern along rows is not one along columns)."""
        if self._format in ("nm", "bitmap"):
            return self.to("csr").transpose()
        shape_t = (self._shape[1], self._shape[0])
        if self._format == "bsr":
            a = self._arrays
            brow = _expand_indptr(a["indptr"], a["indices"].dtype)
            order = np.argsort(a["indices"], kind="stable")
            blocks = np.ascontiguousarray(a["blocks"][order].transpose(0, 2, 1))
            indptr = _compress_rows(a["indices"][order], shape_t[0] // self.blocksize[1], brow.dtype)
            return SparseTensor.bsr(indptr, brow[order], blocks, shape_t)
        row, col, values = self._coo_arrays()
        t = SparseTensor.coo(col, row, values, shape_t)
        return t if self._format == "coo" else t.to("csr")

    @property
    def T(self) -> SparseTensor:
        return self.transpose()

    # -- comparisons -------------------------------------------------------------------------------
    def allclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
        """Whether the dense values match ``other`` (a SparseTensor or array-like) within tolerance."""
        theirs = other.to_dense() if isinstance(other, SparseTensor) else _dense_numpy(other)
        if tuple(theirs.shape) != self._shape:
            return False
        return bool(np.allclose(self.to_dense(), theirs, rtol=rtol, atol=atol, equal_nan=equal_nan))

    def equal(self, other: Any) -> bool:
        """Exact structural equality: same format, shape, parameters, and identical arrays and dtypes.

        NaN equals NaN at the same position (a stored NaN is data).
        """
        if not isinstance(other, SparseTensor):
            return False
        if (self._format, self._shape, self._meta) != (other._format, other._shape, other._meta):
            return False
        for name, mine in self._arrays.items():
            theirs = other._arrays[name]
            if mine.dtype != theirs.dtype or mine.shape != theirs.shape:
                return False
            if not np.array_equal(mine, theirs, equal_nan=mine.dtype.kind in "fc"):
                return False
        return True

    # -- scipy -----------------------------------------------------------------------------------------
    def to_scipy(self, *, copy: bool = False) -> Any:
        """A scipy.sparse array: coo -> coo_array, csr -> csr_array, bsr -> bsr_array, nm/bitmap -> csr_array.

        With ``copy=False`` the scipy array shares this tensor's read-only buffers, so scipy's
        in-place methods (``sum_duplicates``, ``data *= 2``) raise; pass ``copy=True`` to own them.
        Index dtypes are kept exactly (scipy would narrow int64 whose contents fit in int32).
        """
        import scipy.sparse as sp

        t = self if self._format in ("coo", "csr", "bsr") else self.to("csr")
        a = {k: (v.copy() if copy else v) for k, v in t._arrays.items()}
        if t._format == "coo":
            out = sp.coo_array((a["values"], (a["row"], a["col"])), shape=t._shape)
            if out.row.dtype != a["row"].dtype:
                out.row, out.col = a["row"], a["col"]
            return out
        if t._format == "csr":
            out = sp.csr_array((a["values"], a["indices"], a["indptr"]), shape=t._shape)
        else:
            out = sp.bsr_array(
                (a["blocks"], a["indices"], a["indptr"]), shape=t._shape, blocksize=t.blocksize
            )
        if out.indices.dtype != a["indices"].dtype:
            out.indices, out.indptr = a["indices"], a["indptr"]
        return out

    @classmethod
    def from_scipy(cls, a: Any, *, copy: bool = False) -> SparseTensor:
        """A SparseTensor from a 2-D scipy.sparse array or matrix, lossless for coo, csr and bsr.

        Explicit zeros, duplicates, entry order and index dtypes are kept; other scipy formats
        (csc, dia, lil, dok) go through ``tocsr()``. With ``copy=False`` the tensor shares the
        scipy buffers (read-only on our side; writes through scipy would show through).
        """
        import scipy.sparse as sp

        if not sp.issparse(a):
            raise bad_value("a", type(a).__name__, "a scipy.sparse array or matrix", FormatError)
        if a.ndim != 2:
            raise bad_value("a.shape", a.shape, "a 2-D sparse array", ShapeError)
        if a.format not in ("coo", "csr", "bsr"):
            a = a.tocsr()
        shape = (int(a.shape[0]), int(a.shape[1]))

        def take(x: np.ndarray) -> np.ndarray:
            return np.array(x, copy=True) if copy else x

        if a.format == "coo":
            return cls.coo(take(a.row), take(a.col), take(a.data), shape)
        if a.format == "csr":
            return cls.csr(take(a.indptr), take(a.indices), take(a.data), shape)
        return cls.bsr(take(a.indptr), take(a.indices), take(a.data), shape)

    # -- torch -----------------------------------------------------------------------------------------
    def to_torch(self, layout: Any = None, *, blocksize: Any = None) -> Any:
        """A torch tensor: coo -> sparse_coo (uncoalesced allowed), csr -> sparse_csr, bsr -> sparse_bsr.

        ``layout`` (a torch layout, ``torch.strided`` for dense) converts first; nm and bitmap
        default to sparse_csr, and sparse_bsr from another format needs ``blocksize``. Values and
        CSR/BSR indices share memory with this tensor (``torch.from_numpy``): treat them as
        read-only. COO indices are copied, torch needs them stacked in int64.
        """
        import torch

        if layout is torch.strided:
            return _torch_view(self.to_dense())
        targets = {None: None, torch.sparse_coo: "coo", torch.sparse_csr: "csr", torch.sparse_bsr: "bsr"}
        if layout not in targets:
            raise bad_value(
                "layout",
                layout,
                "None, torch.strided, torch.sparse_coo, sparse_csr or sparse_bsr",
                FormatError,
            )
        target = targets[layout] or (self._format if self._format in ("coo", "csr", "bsr") else "csr")
        if blocksize is not None and target != "bsr":
            raise bad_value("blocksize", blocksize, f"None: layout {target!r} has no blocks", FormatError)
        t = self.to(target, blocksize=blocksize) if target == "bsr" else self.to(target)
        a = t._arrays
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR/BSR support is in beta"
            if target == "coo":
                indices = torch.from_numpy(np.stack([a["row"], a["col"]]).astype(np.int64, copy=False))
                return torch.sparse_coo_tensor(
                    indices,
                    _torch_view(a["values"]),
                    t._shape,
                    is_coalesced=t.has_canonical_format,
                    check_invariants=False,  # validated when t was built
                )
            build = torch.sparse_csr_tensor if target == "csr" else torch.sparse_bsr_tensor
            return build(
                _torch_view(a["indptr"]),
                _torch_view(a["indices"]),
                _torch_view(a["values" if target == "csr" else "blocks"]),
                t._shape,
                check_invariants=False,
            )

    @classmethod
    def from_torch(cls, t: Any, *, index_dtype: Any = None) -> SparseTensor:
        """A SparseTensor from a 2-D torch tensor: strided (as dense, to csr), sparse_coo, sparse_csr or
        sparse_bsr, lossless for the sparse layouts (uncoalesced COO stays uncoalesced).

        torch COO indices are always int64, so they become int32 when they fit (the int32/int64
        rule of this module) unless ``index_dtype`` says otherwise; CSR/BSR keep torch's dtype.
        CPU tensors share memory with the result.
        """
        import torch

        if not isinstance(t, torch.Tensor):
            raise bad_value("t", type(t).__name__, "a torch.Tensor", FormatError)
        if t.ndim != 2:
            raise bad_value(
                "t.shape", tuple(t.shape), "a 2-D tensor (no batch or dense dimensions)", ShapeError
            )
        shape = (int(t.shape[0]), int(t.shape[1]))
        if t.layout == torch.strided:
            return cls.from_dense(t, "csr", index_dtype=index_dtype)
        if t.layout == torch.sparse_coo:
            if t.sparse_dim() != 2:
                raise bad_value(
                    "t.sparse_dim()", t.sparse_dim(), "2 (no hybrid dense dimensions)", ShapeError
                )
            idx = _dense_numpy(t._indices())
            dt = index_dtype if index_dtype is not None else _fitting_index_dtype(max(*shape, idx.shape[1]))
            return cls.coo(idx[0], idx[1], _dense_numpy(t._values()), shape, index_dtype=dt)
        if t.layout in (torch.sparse_csr, torch.sparse_bsr):
            values = _dense_numpy(t.values())
            build = cls.csr if t.layout == torch.sparse_csr else cls.bsr
            return build(
                _dense_numpy(t.crow_indices()),
                _dense_numpy(t.col_indices()),
                values,
                shape,
                index_dtype=index_dtype,
            )
        raise bad_value(
            "t.layout", t.layout, "torch.strided, sparse_coo, sparse_csr or sparse_bsr", FormatError
        )


# -- plugin formats ---------------------------------------------------------------------------------
def _builtin_from_csr(name: str, t: SparseTensor, **kw: Any) -> SparseTensor:
    return t.to(name, **kw)


def _builtin_to_csr(t: SparseTensor) -> SparseTensor:
    return t.to("csr")


@functools.cache
def _builtin_spec(name: str) -> FormatSpec:
    return FormatSpec(
        name=name,
        description=f"built-in SparseTensor format {name!r}",
        from_csr=functools.partial(_builtin_from_csr, name),
        to_csr=_builtin_to_csr,
    )


def format_spec(name: str) -> FormatSpec:
    """The FormatSpec of ``name``: a built-in format first, then the installed plugins' formats."""
    if name in FORMATS:
        return _builtin_spec(name)
    from . import discovery  # discovery imports pluggy and the plugins: only when a plugin format is asked

    specs = discovery.plugins().formats()
    for spec in specs:
        if spec.name == name:
            return spec
    known = list(FORMATS) + sorted({spec.name for spec in specs})
    raise bad_value("format", name, f"one of {', '.join(known)}", FormatError)


def convert_to_plugin_format(t: SparseTensor, name: str, **kw: Any) -> Any:
    """``t`` in the (built-in or plugin) format ``name``: the spec's ``from_csr(t.to("csr"), **kw)``."""
    from_csr, _ = format_spec(name).converters()
    return from_csr(t.to("csr"), **kw)


def convert_from_plugin_format(obj: Any, name: str) -> SparseTensor:
    """The CSR SparseTensor of ``obj``, an object of the (built-in or plugin) format ``name``."""
    _, to_csr = format_spec(name).converters()
    return to_csr(obj)
