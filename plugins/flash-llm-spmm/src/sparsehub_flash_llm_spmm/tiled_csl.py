"""Tiled-CSL, Flash-LLM's storage format for unstructured sparse weights (Section 4.3, Figure 7).

The matrix W (M x K) is cut into tiles of ``tile_m x tile_k`` (128 x 64 in the paper), numbered
panel by panel (tile ``t = i * ceil(K / tile_k) + j`` covers rows ``i*tile_m...`` and columns
``j*tile_k...``). Each tile stores its non-zeros as 32-bit words, the fp16 value in the low half
and the swizzled 16-bit location ``row * tile_k + (col XOR ((row mod 8) * 8))`` in the high half,
padded with explicit zeros to a multiple of ``vector`` words (4: one 128-bit load). ``TileOffsets``
holds, in units of ``vector`` words, where each tile starts, plus one more entry repeating the end
(the official builder's two entries of padding: ``n_tiles + 2`` in all). Storage is therefore
``4 * nnz_padded + 4 * (n_tiles + 2)`` bytes, against ``2 * M * K`` for dense fp16.

Differences from the official builder, on purpose: shapes that are not multiples of the tile are
allowed (edge tiles are ragged; operands are zero-padded by the kernels), every padding zero takes
a distinct free position, and NaN, Inf or values beyond the fp16 range are rejected instead of
being silently dropped by the ``|w| > 0`` test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sparsehub import SparseTensor
from sparsehub.errors import FormatError, ShapeError, Shown, bad_value

__all__ = ["FP16_MAX", "TiledCSL", "tiled_csl_from_csr", "tiled_csl_to_csr"]

#: The largest finite fp16 value; larger weights cannot be stored.
FP16_MAX = 65504.0
_LOCATIONS = 1 << 16  # 16-bit in-tile locations


def _check_tiling(tile_m: Any, tile_k: Any, vector: Any) -> tuple[int, int, int]:
    if not isinstance(tile_k, (int, np.integer)) or tile_k < 64 or tile_k & (tile_k - 1):
        raise bad_value("tile_k", tile_k, "a power of two >= 64 (the XOR swizzle flips column bits 3-5)")
    if not isinstance(tile_m, (int, np.integer)) or tile_m < 1:
        raise bad_value("tile_m", tile_m, "a positive int")
    if int(tile_m) * int(tile_k) > _LOCATIONS:
        raise bad_value(
            "tile_m * tile_k", int(tile_m) * int(tile_k),
            f"at most {_LOCATIONS}: in-tile locations are 16-bit (tile_m={tile_m}, tile_k={tile_k})",
        )
    if not isinstance(vector, (int, np.integer)) or vector < 1 or vector & (vector - 1):
        raise bad_value("vector", vector, "a power of two >= 1 (4 = one 128-bit load of 32-bit words)")
    return int(tile_m), int(tile_k), int(vector)


def _fp16_halves(values: np.ndarray) -> np.ndarray:
    """The fp16 bit patterns of ``values``, after rejecting what fp16 cannot hold."""
    if values.dtype.kind not in "biuf":
        raise bad_value("values.dtype", str(values.dtype), "a real dtype (stored as fp16)", TypeError)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        bad = np.flatnonzero(~np.isfinite(values))[0]
        raise bad_value(
            "values", Shown(f"<{values[bad]} at stored entry {bad}>"),
            "finite weights (NaN/Inf cannot be stored: Flash-LLM's |w| > 0 test would drop them silently)",
        )
    big = np.abs(values) > FP16_MAX
    if big.any():
        bad = np.flatnonzero(big)[0]
        raise bad_value("values", Shown(f"<{values[bad]} at stored entry {bad}>"), f"|w| <= {FP16_MAX} (the fp16 range)")
    return np.ascontiguousarray(values.astype(np.float16)).view(np.uint16)


@dataclass(frozen=True, eq=False)
class TiledCSL:
    """A matrix in Tiled-CSL: ``words`` (uint32), ``tile_offsets`` (int32) and the tiling.

    Build one with :meth:`from_dense` or :meth:`from_csr`; the constructor validates arrays
    given directly. Shapes: words (nnz_padded,), tile_offsets (n_tiles + 2,).
    """

    words: np.ndarray
    tile_offsets: np.ndarray
    shape: tuple[int, int]
    tile_m: int = 128
    tile_k: int = 64
    vector: int = 4
    shuffled: bool = False

    def __post_init__(self) -> None:
        tile_m, tile_k, vector = _check_tiling(self.tile_m, self.tile_k, self.vector)
        try:
            shape = tuple(int(s) for s in self.shape)
        except TypeError:
            shape = ()
        if len(shape) != 2 or min(shape) < 0:
            raise bad_value("shape", self.shape, "a pair (M, K) of non-negative ints", ShapeError)
        words = np.asarray(self.words)
        offsets = np.asarray(self.tile_offsets)
        if words.dtype != np.uint32 or words.ndim != 1:
            raise bad_value("words", Shown(f"<{words.dtype} {words.shape}>"), "a 1-D uint32 array", FormatError)
        if offsets.dtype.kind not in "iu" or offsets.ndim != 1:
            raise bad_value("tile_offsets", Shown(f"<{offsets.dtype} {offsets.shape}>"), "a 1-D int array", FormatError)
        n_tiles = -(-shape[0] // tile_m) * -(-shape[1] // tile_k)
        if offsets.size != n_tiles + 2:
            raise bad_value("tile_offsets.size", offsets.size, f"n_tiles + 2 = {n_tiles + 2}", FormatError)
        if offsets[0] != 0 or (np.diff(offsets.astype(np.int64)) < 0).any() or offsets[-1] != offsets[-2] \
                or int(offsets[-1]) * vector != words.size:
            raise bad_value(
                "tile_offsets", Shown("<array>"),
                f"non-decreasing from 0, ending twice at len(words) / vector = {words.size / vector:g}",
                FormatError,
            )
        if words.size and int((words >> np.uint32(16)).max()) >= tile_m * tile_k:
            raise bad_value("words", Shown("<locations>"), f"in-tile locations < tile_m * tile_k = {tile_m * tile_k}",
                            FormatError)
        for name, value in (("words", words), ("tile_offsets", offsets), ("shape", shape),
                            ("tile_m", tile_m), ("tile_k", tile_k), ("vector", vector)):
            if isinstance(value, np.ndarray):
                value = value.view()
                value.flags.writeable = False
            object.__setattr__(self, name, value)

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def from_csr(cls, A: Any, *, tile_m: int = 128, tile_k: int = 64, vector: int = 4,
                 shuffle: bool = False) -> TiledCSL:
        """Encode a CSR matrix (SparseTensor, scipy.sparse or anything SparseTensor accepts).

        Non-canonical input (unsorted or duplicate column indices) is canonicalised first; stored
        entries whose fp16 value is zero are not kept. ``shuffle=True`` applies the paper's
        bank-conflict-free reorder of each tile (for the GPU kernel; the CPU kernel is faster on
        the row-major order kept by ``shuffle=False``).
        """
        tile_m, tile_k, vector = _check_tiling(tile_m, tile_k, vector)
        st = _as_csr(A)
        rows, cols = st.shape
        halves = _fp16_halves(np.asarray(st.arrays["values"]))
        indptr = np.ascontiguousarray(st.arrays["indptr"], dtype=np.int64)
        indices = np.ascontiguousarray(st.arrays["indices"], dtype=np.int64)
        from .encoding import encode, tile_counts

        ntk = -(-cols // tile_k)
        counts = tile_counts(indptr, indices, halves, rows, tile_m, tile_k, ntk)
        padded = -(-counts // vector) * vector
        word_start = np.zeros(padded.size + 1, np.int64)
        np.cumsum(padded, out=word_start[1:])
        words = encode(indptr, indices, halves, rows, cols, tile_m, tile_k, vector, word_start, bool(shuffle))
        units = word_start // vector
        offsets = np.append(units, units[-1])
        dtype = np.int32 if units[-1] <= np.iinfo(np.int32).max else np.int64
        return cls(words, offsets.astype(dtype), (rows, cols), tile_m, tile_k, vector, bool(shuffle))

    @classmethod
    def from_dense(cls, W: Any, *, tile_m: int = 128, tile_k: int = 64, vector: int = 4,
                   shuffle: bool = False) -> TiledCSL:
        """Encode a dense 2-D array (numpy or a CPU torch tensor); zeros are not stored."""
        if hasattr(W, "detach"):
            W = W.detach().cpu().float().numpy() if str(W.dtype) == "torch.bfloat16" else W.detach().cpu().numpy()
        a = np.asarray(W)
        if a.ndim != 2:
            raise bad_value("W.shape", a.shape, "a 2-D (M, K) matrix", ShapeError)
        halves = _fp16_halves(a.reshape(-1))  # validates before compressing
        keep = (halves & 0x7FFF) != 0
        st = SparseTensor.from_dense(np.where(keep.reshape(a.shape), a, 0), format="csr")
        return cls.from_csr(st, tile_m=tile_m, tile_k=tile_k, vector=vector, shuffle=shuffle)

    # -- reading ----------------------------------------------------------------------------
    @property
    def n_tiles(self) -> int:
        """Number of tiles, ``ceil(M / tile_m) * ceil(K / tile_k)``."""
        return self.tile_offsets.size - 2

    @property
    def grid(self) -> tuple[int, int]:
        """Tiles per column and per row: ``(ceil(M / tile_m), ceil(K / tile_k))``."""
        return -(-self.shape[0] // self.tile_m), -(-self.shape[1] // self.tile_k)

    @property
    def word_start(self) -> np.ndarray:
        """Each tile's first word and the end, in words (n_tiles + 1,), int64."""
        return self.tile_offsets[:-1].astype(np.int64) * self.vector

    @property
    def nnz_padded(self) -> int:
        """Stored words, padding zeros included."""
        return int(self.words.size)

    @property
    def nnz(self) -> int:
        """Stored non-zero values (padding and fp16 zeros excluded)."""
        return int(np.count_nonzero(self.words & np.uint32(0x7FFF)))

    @property
    def nbytes(self) -> int:
        """Storage in bytes: ``4 * nnz_padded + itemsize * (n_tiles + 2)``."""
        return int(self.words.nbytes + self.tile_offsets.nbytes)

    @property
    def dtype(self) -> np.dtype:
        """The storage dtype of the values: float16."""
        return np.dtype(np.float16)

    def values(self) -> np.ndarray:
        """The fp16 value of every word in storage order (padding zeros included)."""
        return (self.words & np.uint32(0xFFFF)).astype(np.uint16).view(np.float16)

    def locations(self) -> np.ndarray:
        """The 16-bit swizzled in-tile location of every word in storage order."""
        return (self.words >> np.uint32(16)).astype(np.uint16)

    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """The global ``(row, col)`` of every word in storage order (int64; padding may lie past the edge)."""
        from .encoding import decode

        row, col, _ = decode(self.words, self.word_start, *self.shape, self.tile_m, self.tile_k)
        return row, col

    def to_csr(self) -> SparseTensor:
        """The canonical CSR SparseTensor of the stored non-zeros, float16 values (exact)."""
        from .encoding import decode

        row, col, half = decode(self.words, self.word_start, *self.shape, self.tile_m, self.tile_k)
        keep = (half & 0x7FFF) != 0
        row, col, half = row[keep], col[keep], half[keep]
        order = np.lexsort((col, row))
        coo = SparseTensor.coo(row[order], col[order], half[order].view(np.float16), self.shape)
        return coo.to("csr")

    def to_dense(self) -> np.ndarray:
        """The dense (M, K) float16 matrix."""
        return self.to_csr().to_dense()

    def __repr__(self) -> str:
        return (f"TiledCSL(shape={self.shape}, nnz={self.nnz}, nnz_padded={self.nnz_padded}, "
                f"tile={self.tile_m}x{self.tile_k}, vector={self.vector}, shuffled={self.shuffled}, "
                f"nbytes={self.nbytes})")


def _as_csr(A: Any) -> SparseTensor:
    if isinstance(A, TiledCSL):
        return A.to_csr()
    if not isinstance(A, SparseTensor):
        sp = __import__("sys").modules.get("scipy.sparse")
        if sp is not None and sp.issparse(A):
            A = SparseTensor.from_scipy(A)
        elif isinstance(A, np.ndarray):
            if A.ndim != 2:
                raise bad_value("A.shape", A.shape, "a 2-D matrix", ShapeError)
            A = SparseTensor.from_dense(A, format="csr")
        else:
            raise bad_value("A", Shown(f"<{type(A).__name__}>"),
                            "a SparseTensor, a scipy.sparse matrix or a dense 2-D numpy array", TypeError)
    if len(A.shape) != 2:
        raise bad_value("A.shape", A.shape, "a 2-D matrix", ShapeError)
    st = A if A.format == "csr" else A.to("csr")
    return st.canonical()


def tiled_csl_from_csr(A: SparseTensor, **options: Any) -> TiledCSL:
    """``FormatSpec.from_csr`` of format ``"tiled-csl"``: :meth:`TiledCSL.from_csr`."""
    return TiledCSL.from_csr(A, **options)


def tiled_csl_to_csr(T: TiledCSL) -> SparseTensor:
    """``FormatSpec.to_csr`` of format ``"tiled-csl"``: :meth:`TiledCSL.to_csr`."""
    if not isinstance(T, TiledCSL):
        raise bad_value("T", Shown(f"<{type(T).__name__}>"), "a TiledCSL", FormatError)
    return T.to_csr()
