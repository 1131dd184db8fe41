"""Masks: a boolean keep-structure for one array (True = kept) plus the sparsity pattern it obeys.

A :class:`Mask` pairs a read-only boolean array with a :class:`Pattern`: :class:`Unstructured`,
:class:`NM` (n kept in every m along an axis), :class:`Block` (whole bh x bw tiles),
:class:`Channel` (whole slices along an axis) or :class:`Group` (whole groups of elements).
:meth:`Mask.from_scores` turns importance scores into a mask, exactly:

* **count** -- a pattern prunes whole *units* (elements, tiles, channels or groups) and prunes
  ``pruned_count(n_units, sparsity)`` of them: the integer nearest to ``sparsity * n_units``,
  halves rounded up, with ``sparsity`` read as the decimal it prints as (see :func:`pruned_count`).
* **order** -- a higher score is more important and is kept. Among equal scores the unit with the
  lower flat index is kept; across the tensors of a dict (global scope) the earlier key wins, then
  the lower flat index. No "score >= threshold" alone: the count is always exact.
* **global scope** -- one selection over all the tensors of a dict, found by a bracketing
  threshold search that visits one tensor at a time: memory O(largest tensor + number of
  tensors); the tensors are never concatenated.

Scores are compared as float64. numpy arrays and torch tensors are accepted everywhere; torch is
imported only when a torch tensor is given (or by :meth:`Mask.to_torch`).
"""

from __future__ import annotations

import json
import math
import operator
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sparsehub.errors import FormatError, PatternError, ShapeError, bad_value

__all__ = [
    "NM",
    "Block",
    "Channel",
    "Group",
    "Mask",
    "Pattern",
    "Unstructured",
    "load_masks",
    "pruned_count",
    "save_masks",
]

Shape = tuple[int, ...]

_SPARSITY_ALLOWED = "a float in [0, 1)"
_PATTERN_SPECS = (
    "a Pattern or one of 'unstructured', 'N:M' (e.g. '2:4'), 'block(bh,bw)' or 'BHxBW' (e.g. '4x4'), "
    "'channel' or 'channel(axis)'"
)
_SUFFIXES = (".safetensors", ".npz")
_FILE_KEY = "sparsehub.masks"
_FILE_VERSION = 1


# --------------------------------------------------------------------------------------------------
# Conversions and argument checks


def _is_torch(x: object) -> bool:
    module = type(x).__module__
    return module == "torch" or module.startswith("torch.")


def _to_numpy(x: Any) -> np.ndarray:
    """A numpy view (or host copy) of an array-like or torch tensor, without importing torch."""
    if _is_torch(x):
        t = x.detach()
        if str(t.dtype) == "torch.bfloat16":  # numpy has no bfloat16
            t = t.float()
        return t.cpu().numpy()
    return np.asarray(x)


def _bool_array(x: Any, name: str) -> np.ndarray:
    arr = _to_numpy(x)
    if arr.dtype != np.bool_:
        raise bad_value(f"{name}.dtype", arr.dtype, "bool (True = kept)")
    return arr


def _check_int(name: str, value: Any, owner: str) -> int:
    if isinstance(value, bool | np.bool_):
        raise bad_value(name, value, f"an integer for {owner}", PatternError)
    try:
        return operator.index(value)
    except TypeError:
        raise bad_value(name, value, f"an integer for {owner}", PatternError) from None


def _check_sparsity(sparsity: Any) -> float:
    if isinstance(sparsity, bool | np.bool_) or not isinstance(
        sparsity, int | float | np.integer | np.floating
    ):
        raise bad_value("sparsity", sparsity, _SPARSITY_ALLOWED)
    s = float(sparsity)
    if not 0.0 <= s < 1.0:  # NaN fails both comparisons
        raise bad_value("sparsity", sparsity, _SPARSITY_ALLOWED)
    return s


def _resolve_sparsity(sparsity: Any, pattern: Pattern) -> float:
    """The sparsity to apply under ``pattern``: the given one, or the one the pattern implies."""
    implied = pattern.implied_sparsity
    if implied is None:
        if sparsity is None:
            raise bad_value("sparsity", None, _SPARSITY_ALLOWED)
        return _check_sparsity(sparsity)
    if sparsity is not None and abs(_check_sparsity(sparsity) - implied) > 1e-9:
        raise bad_value(
            "sparsity", sparsity, f"None or {implied!r}, the sparsity {pattern!r} implies", PatternError
        )
    return implied


def _axis_index(axis: int, shape: Shape, owner: Pattern) -> int:
    if not -len(shape) <= axis < len(shape):
        raise PatternError(
            f"{owner!r} does not fit an array of shape {shape}: axis={axis} is out of range for "
            f"{len(shape)} dimension(s)"
        )
    return axis % len(shape)


def pruned_count(n_units: int, sparsity: float) -> int:
    """How many of ``n_units`` units a mask of ``sparsity`` prunes: the rule every builder here uses.

    ``n_pruned = floor(d * n_units + 1/2)`` in exact rational arithmetic, where ``d`` is ``sparsity``
    read as the shortest decimal that prints it (``repr``). That is the integer nearest to
    ``sparsity * n_units`` with halves rounded up, free of binary rounding: 0.29 of 100 prunes 29,
    0.35 of 10 prunes 4, 1/3 of 3 prunes 1. The achieved sparsity is the closest one possible; near
    1 it can prune every unit (0.75 of 2 channels prunes both). ``n_kept = n_units - n_pruned``.
    """
    s = _check_sparsity(sparsity)
    n = operator.index(n_units)
    if n < 0:
        raise bad_value("n_units", n_units, "a non-negative integer")
    return math.floor(Fraction(repr(s)) * n + Fraction(1, 2))


# --------------------------------------------------------------------------------------------------
# Exact top-k: one array, and many arrays without concatenating them


def _add_ties(keep: np.ndarray, units: np.ndarray, value: float, wanted: int) -> int:
    """Keep the first ``wanted`` units equal to ``value``, lowest flat index first.

    Returns how many are still wanted after this array (the tie budget carries over to the next).
    """
    if wanted <= 0:
        return wanted
    ties = np.flatnonzero(units == value)[:wanted]
    keep[ties] = True
    return wanted - ties.size


def _keep_top(units: np.ndarray, k: int) -> np.ndarray:
    """Keep the ``k`` highest of the flat float64 ``units``; among equal values the lower index.

    O(n): np.partition finds the k-th largest value v, everything above v is kept, and the rest of
    the k comes from the units equal to v in index order. Shape (n,) -> (n,) bool.
    """
    n = units.size
    if k >= n:
        return np.ones(n, dtype=bool)
    keep = np.zeros(n, dtype=bool)
    if k <= 0:
        return keep
    value = np.partition(units, n - k)[n - k]
    np.greater(units, value, out=keep)
    _add_ties(keep, units, value, k - int(np.count_nonzero(keep)))
    return keep


_SIGN = 1 << 63
_MAGNITUDE = _SIGN - 1


def _float_key(x: float) -> int:
    """An integer that orders like the float64 ``x`` (-0.0 sits one below 0.0); the midpoints of a
    key range bisect the floats between two values whatever their exponents."""
    (bits,) = struct.unpack("<Q", struct.pack("<d", x))
    return bits if bits < _SIGN else -(bits & _MAGNITUDE) - 1


def _key_float(key: int) -> float:
    bits = key if key >= 0 else (-key - 1) | _SIGN
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


_GATHER_MIN = 1 << 16  # a window this small is gathered even when every tensor is tiny
_SAMPLE_PER_TENSOR = 1024
_PIVOTS_PER_PASS = 32


def _gather_budget(largest: int) -> int:
    """How many scores the final window may hold to be gathered into one buffer: O(largest tensor)."""
    return max(largest, _GATHER_MIN)


def _strided_sample(values: np.ndarray) -> np.ndarray:
    step = max(1, values.size // _SAMPLE_PER_TENSOR)
    # a copy, so the sample does not keep a whole tensor alive
    return np.array(values[::step][:_SAMPLE_PER_TENSOR])


def _pass_pivots(sample: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Thresholds strictly inside (lo, hi) for one counting pass.

    Evenly spaced quantiles of a sample of the window, each with the next float above it (so a
    heavily tied value is isolated in one pass), the float just above ``lo`` (v == lo is settled at
    once), and the key-space midpoint, which at least halves the key range whatever the sample says.
    """
    lo_key, hi_key = _float_key(lo), _float_key(hi)
    inside = np.sort(sample[sample > lo])
    if inside.size:
        picks = np.linspace(0, inside.size - 1, min(inside.size, _PIVOTS_PER_PASS)).round().astype(np.intp)
        inside = np.unique(inside[picks])
    above = np.nextafter(inside, np.inf)
    extra = [_key_float(lo_key + 1), _key_float((lo_key + hi_key) // 2)]
    pivots = np.unique(np.concatenate([inside, above, extra]))
    return pivots[pivots < hi]


def _kth_largest(
    units: Sequence[Callable[[], np.ndarray]], sizes: Sequence[int], k: int
) -> tuple[float, int]:
    """The k-th largest score v over several arrays, and how many scores are greater than v.

    A bracket search on g(t) = #{scores >= t}: the window [lo, hi) always holds v, with
    g(lo) >= k > g(hi). Each pass visits the arrays one by one and counts g at a few dozen pivots
    inside the window (:func:`_pass_pivots`); once the window holds at most O(largest array)
    scores they are gathered and v is found by np.partition, and a window of one float value is
    v itself.
    ``units[i]()`` returns array i's finite float64 scores, flat; 1 <= k < sum(sizes).
    """
    total = sum(sizes)
    lo, top, samples = math.inf, -math.inf, []
    for get, size in zip(units, sizes):
        if size:
            u = get()
            lo, top = min(lo, float(u.min())), max(top, float(u.max()))
            samples.append(_strided_sample(u))
    hi, at_least_lo, at_least_hi = _key_float(_float_key(top) + 1), total, 0
    sample = np.concatenate(samples)  # O(number of arrays * sample size), never O(total)
    budget = _gather_budget(max(sizes))
    while True:
        if _float_key(hi) - _float_key(lo) <= 1:
            return lo, at_least_hi
        window = at_least_lo - at_least_hi
        if window <= budget:
            return _kth_in_window(units, lo, hi, window, k - at_least_hi, at_least_hi)
        pivots = _pass_pivots(sample, lo, hi)
        counts = np.zeros(pivots.size + 1, dtype=np.int64)
        samples = []
        for get in units:
            u = get()
            counts += np.bincount(np.searchsorted(pivots, u, side="right"), minlength=pivots.size + 1)
            samples.append(_strided_sample(u[(u >= lo) & (u < hi)]))
        at_least = total - np.cumsum(counts)[:-1]  # at_least[j] = #{scores >= pivots[j]}, non-increasing
        j = int(np.count_nonzero(at_least >= k))
        if j > 0:
            lo, at_least_lo = float(pivots[j - 1]), int(at_least[j - 1])
        if j < pivots.size:
            hi, at_least_hi = float(pivots[j]), int(at_least[j])
        sample = np.concatenate(samples)
        sample = sample[(sample >= lo) & (sample < hi)]


def _kth_in_window(
    units: Sequence[Callable[[], np.ndarray]], lo: float, hi: float, size: int, rank: int, above: int
) -> tuple[float, int]:
    """The ``rank``-th largest of the ``size`` scores in [lo, hi), gathered into one buffer.

    Also returns how many scores exceed it; ``above`` scores lie at or above ``hi``.
    """
    buffer = np.empty(size, dtype=np.float64)
    filled = 0
    for get in units:
        u = get()
        inside = u[(u >= lo) & (u < hi)]
        buffer[filled : filled + inside.size] = inside
        filled += inside.size
    value = float(np.partition(buffer, size - rank)[size - rank])
    return value, above + int(np.count_nonzero(buffer > value))


def _global_keep(units: Sequence[Callable[[], np.ndarray]], sizes: Sequence[int], k: int) -> list[np.ndarray]:
    """Keep the ``k`` highest scores over several arrays; ties go to the earlier array, then the lower index.

    Memory is O(largest array + number of arrays): ``units[i]()`` is called once per pass and
    its result dropped before the next array is visited. Returns one flat bool array per array.
    """
    total = sum(sizes)
    if k >= total or k <= 0:
        return [np.full(size, k > 0, dtype=bool) for size in sizes]
    value, above = _kth_largest(units, sizes, k)
    wanted = k - above
    keeps = []
    for get in units:
        u = get()
        keep = u > value
        wanted = _add_ties(keep, u, value, wanted)
        keeps.append(keep)
    return keeps


# --------------------------------------------------------------------------------------------------
# Patterns


@dataclass(frozen=True)
class Pattern:
    """The structure a mask obeys: which sets of elements ("units") are kept or pruned together.

    A pattern is shape-agnostic and immutable; :meth:`check_shape` says whether it fits an array.
    :meth:`reduce_scores` turns element scores into unit scores (tile, channel or group sums) and
    :meth:`expand_units` turns a unit-level keep array back into an element mask: together they
    build the block/channel/group-level selection. :meth:`validate` checks a mask array.
    """

    supports_global: ClassVar[bool] = False
    _global_reason: ClassVar[str] = ""
    _kind: ClassVar[str] = ""

    @staticmethod
    def parse(spec: Pattern | str) -> Pattern:
        """A pattern from an instance (returned as is) or a string.

        Strings: ``"unstructured"``; ``"N:M"`` (``"2:4"`` -> ``NM(2, 4)``); ``"block(bh,bw)"`` or
        ``"BHxBW"`` (``"4x4"``); ``"channel"`` or ``"channel(axis)"``. Case and spaces are ignored.
        """
        if isinstance(spec, Pattern) and type(spec) is not Pattern:
            return spec
        if not isinstance(spec, str):
            raise bad_value("pattern", spec, _PATTERN_SPECS, PatternError)
        text = spec.strip().lower()
        if text == "unstructured":
            return Unstructured()
        if match := re.fullmatch(r"(\d+)\s*:\s*(\d+)", text):
            return NM(int(match[1]), int(match[2]))
        if match := re.fullmatch(r"block\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)|(\d+)\s*x\s*(\d+)", text):
            bh, bw = (match[1], match[2]) if match[1] is not None else (match[3], match[4])
            return Block(int(bh), int(bw))
        if match := re.fullmatch(r"channel(?:\s*\(\s*([+-]?\d+)\s*\))?", text):
            return Channel(int(match[1]) if match[1] is not None else 0)
        raise bad_value("pattern", spec, _PATTERN_SPECS, PatternError)

    @property
    def implied_sparsity(self) -> float | None:
        """The sparsity the pattern fixes by itself (N:M), else None."""
        return None

    def check_shape(self, shape: Sequence[int]) -> None:
        """Raise PatternError if the pattern cannot be laid on an array of ``shape``."""

    def unit_shape(self, shape: Sequence[int]) -> Shape:
        """The shape of the unit scores for an array of ``shape`` (one score per element by default)."""
        return tuple(shape)

    def reduce_scores(self, scores: Any) -> np.ndarray:
        """Element scores (the array's shape) -> unit scores (``unit_shape``), float64."""
        return np.asarray(_to_numpy(scores), dtype=np.float64)

    def expand_units(self, unit_keep: Any, shape: Sequence[int]) -> np.ndarray:
        """A unit-level keep array (``unit_shape(shape)``) -> the element mask of ``shape``."""
        return np.asarray(_to_numpy(unit_keep), dtype=bool).reshape(tuple(shape))

    def validate(self, keep: Any) -> None:
        """Raise PatternError naming the first place where the bool array ``keep`` breaks the pattern."""
        arr = _bool_array(keep, "keep")
        self.check_shape(arr.shape)
        self._check_structure(arr)

    def _check_structure(self, keep: np.ndarray) -> None:
        """The pattern-specific part of :meth:`validate`; the shape already fits."""

    def _select(self, units: np.ndarray, shape: Shape, sparsity: float) -> np.ndarray:
        """The element mask keeping the highest units (``unit_shape(shape)``, float64) at ``sparsity``."""
        flat = units.reshape(-1)
        keep = _keep_top(flat, flat.size - pruned_count(flat.size, sparsity))
        return self.expand_units(keep.reshape(units.shape), shape)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able parameters and the arrays (if any) that reconstruct the pattern."""
        params = {f.name: getattr(self, f.name) for f in fields(self)}
        return {"type": self._kind, **params}, {}

    @staticmethod
    def _from_state(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Pattern:
        kinds: dict[str, type[Pattern]] = {
            cls._kind: cls for cls in (Unstructured, NM, Block, Channel, Group)
        }
        kind = meta.get("type")
        if kind not in kinds:
            raise FormatError(f"pattern type {kind!r} is not allowed: expected one of {sorted(kinds)}")
        if kind == "group":
            return Group(arrays["groups"])
        return kinds[kind](**{key: value for key, value in meta.items() if key != "type"})


@dataclass(frozen=True)
class Unstructured(Pattern):
    """Any element may be kept or pruned on its own."""

    supports_global: ClassVar[bool] = True
    _kind: ClassVar[str] = "unstructured"


@dataclass(frozen=True)
class NM(Pattern):
    """N:M sparsity: in every group of ``m`` consecutive elements along ``axis`` exactly ``n`` are kept.

    Requires 0 < n <= m and m dividing ``shape[axis]``; the implied sparsity is 1 - n/m. Within a
    group the n highest scores are kept, ties to the lower position. ``NM(2, 4)`` is the 2:4 of
    sparse tensor cores (groups along the input dimension of an (out, in) weight).
    """

    n: int
    m: int
    axis: int = -1

    _global_reason: ClassVar[str] = (
        "N:M fixes the kept count inside every group of m, so there is nothing to share across tensors"
    )
    _kind: ClassVar[str] = "nm"

    def __post_init__(self) -> None:
        n = _check_int("n", self.n, "NM")
        m = _check_int("m", self.m, "NM")
        axis = _check_int("axis", self.axis, "NM")
        if not 0 < n <= m:
            raise PatternError(f"NM(n={n}, m={m}) is not allowed: expected integers with 0 < n <= m")
        for name, value in (("n", n), ("m", m), ("axis", axis)):
            object.__setattr__(self, name, value)

    @property
    def implied_sparsity(self) -> float:
        return 1.0 - self.n / self.m

    def check_shape(self, shape: Sequence[int]) -> None:
        shape = tuple(shape)
        ax = _axis_index(self.axis, shape, self)
        if shape[ax] % self.m:
            raise PatternError(
                f"{self!r} does not fit an array of shape {shape}: m={self.m} must divide "
                f"shape[{self.axis}]={shape[ax]} (n={self.n}, axis={self.axis})"
            )

    def _groups(self, a: np.ndarray) -> np.ndarray:
        """(..., shape[axis], ...) -> (..., shape[axis] // m, m) with ``axis`` moved last."""
        moved = np.moveaxis(a, self.axis % a.ndim, -1)
        return moved.reshape(*moved.shape[:-1], moved.shape[-1] // self.m, self.m)

    def _ungroup(self, grouped: np.ndarray, shape: Shape) -> np.ndarray:
        ax = self.axis % len(shape)
        moved_shape = shape[:ax] + shape[ax + 1 :] + (shape[ax],)
        return np.ascontiguousarray(np.moveaxis(grouped.reshape(moved_shape), -1, ax))

    def _select(self, units: np.ndarray, shape: Shape, sparsity: float) -> np.ndarray:
        groups = self._groups(units)
        # a stable sort of the negated scores ranks ties by position, lowest first
        best = np.argsort(-groups, axis=-1, kind="stable")[..., : self.n]
        keep = np.zeros(groups.shape, dtype=bool)
        np.put_along_axis(keep, best, True, axis=-1)
        return self._ungroup(keep, shape)

    def _check_structure(self, keep: np.ndarray) -> None:
        counts = self._groups(keep).sum(axis=-1)
        bad = np.argwhere(counts != self.n)
        if bad.size:
            *lead, group = (int(i) for i in bad[0])
            start = list(lead)
            start.insert(self.axis % keep.ndim, group * self.m)
            raise PatternError(
                f"mask does not obey {self!r}: the group of m={self.m} starting at index {tuple(start)} "
                f"along axis {self.axis} keeps {int(counts[tuple(bad[0])])}, expected n={self.n}"
            )


@dataclass(frozen=True)
class Block(Pattern):
    """Whole ``bh x bw`` tiles of the last two dimensions are kept or pruned together.

    Leading dimensions, if any, index independent 2-D slices. A tile's score is the sum of its
    element scores; unit shape ``(..., H // bh, W // bw)``, tiles numbered row-major.
    """

    bh: int
    bw: int

    supports_global: ClassVar[bool] = True
    _kind: ClassVar[str] = "block"

    def __post_init__(self) -> None:
        for name in ("bh", "bw"):
            value = _check_int(name, getattr(self, name), "Block")
            if value <= 0:
                raise bad_value(name, value, "a positive integer for Block", PatternError)
            object.__setattr__(self, name, value)

    def check_shape(self, shape: Sequence[int]) -> None:
        shape = tuple(shape)
        if len(shape) < 2:
            raise PatternError(
                f"{self!r} does not fit an array of shape {shape}: tiles cover the last two dimensions, "
                "so the array needs at least 2"
            )
        if shape[-2] % self.bh or shape[-1] % self.bw:
            raise PatternError(
                f"{self!r} does not fit an array of shape {shape}: bh={self.bh} must divide {shape[-2]} "
                f"and bw={self.bw} must divide {shape[-1]}"
            )

    def unit_shape(self, shape: Sequence[int]) -> Shape:
        shape = tuple(shape)
        return (*shape[:-2], shape[-2] // self.bh, shape[-1] // self.bw)

    def _tiles(self, a: np.ndarray) -> np.ndarray:
        *lead, rows, cols = a.shape
        return a.reshape(*lead, rows // self.bh, self.bh, cols // self.bw, self.bw)

    def reduce_scores(self, scores: Any) -> np.ndarray:
        a = np.asarray(_to_numpy(scores), dtype=np.float64)
        self.check_shape(a.shape)
        return self._tiles(a).sum(axis=(-3, -1))

    def expand_units(self, unit_keep: Any, shape: Sequence[int]) -> np.ndarray:
        tiles = np.asarray(_to_numpy(unit_keep), dtype=bool).reshape(self.unit_shape(shape))
        return np.repeat(np.repeat(tiles, self.bh, axis=-2), self.bw, axis=-1)

    def _check_structure(self, keep: np.ndarray) -> None:
        tiles = self._tiles(keep)
        partial = tiles.any(axis=(-3, -1)) & ~tiles.all(axis=(-3, -1))
        bad = np.argwhere(partial)
        if bad.size:
            *lead, i, j = (int(v) for v in bad[0])
            r, c = i * self.bh, j * self.bw
            raise PatternError(
                f"mask does not obey {self!r}: the tile at index {(*lead, r, c)} (rows {r}:{r + self.bh}, "
                f"columns {c}:{c + self.bw}) is partly kept"
            )


@dataclass(frozen=True)
class Channel(Pattern):
    """Whole slices along ``axis`` are kept or pruned (output channels of an (out, in) weight when axis=0).

    A channel's score is the sum of its element scores; unit shape ``(shape[axis],)``.
    """

    axis: int = 0

    _global_reason: ClassVar[str] = (
        "channels of different tensors hold different numbers of elements, so their summed scores "
        "are not comparable"
    )
    _kind: ClassVar[str] = "channel"

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", _check_int("axis", self.axis, "Channel"))

    def check_shape(self, shape: Sequence[int]) -> None:
        _axis_index(self.axis, tuple(shape), self)

    def unit_shape(self, shape: Sequence[int]) -> Shape:
        shape = tuple(shape)
        return (shape[_axis_index(self.axis, shape, self)],)

    def _others(self, ndim: int) -> tuple[int, ...]:
        ax = self.axis % ndim
        return tuple(i for i in range(ndim) if i != ax)

    def reduce_scores(self, scores: Any) -> np.ndarray:
        a = np.asarray(_to_numpy(scores), dtype=np.float64)
        self.check_shape(a.shape)
        return a.sum(axis=self._others(a.ndim))

    def expand_units(self, unit_keep: Any, shape: Sequence[int]) -> np.ndarray:
        shape = tuple(shape)
        channels = np.asarray(_to_numpy(unit_keep), dtype=bool).reshape(self.unit_shape(shape))
        ax = self.axis % len(shape)
        broadcastable = channels.reshape([-1 if i == ax else 1 for i in range(len(shape))])
        return np.array(np.broadcast_to(broadcastable, shape))

    def _check_structure(self, keep: np.ndarray) -> None:
        others = self._others(keep.ndim)
        partial = keep.any(axis=others) & ~keep.all(axis=others)
        bad = np.flatnonzero(partial)
        if bad.size:
            raise PatternError(
                f"mask does not obey {self!r}: channel {int(bad[0])} (index {int(bad[0])} along axis "
                f"{self.axis}) is partly kept"
            )


@dataclass(frozen=True, eq=False)
class Group(Pattern):
    """Whole groups of elements are kept or pruned; ``groups`` gives each element its group id.

    ``groups`` is an integer array of the masked array's own shape. A group's score is the sum of
    its members' scores; unit shape ``(number of groups,)``, groups ordered by ascending id (so
    among equal group scores the lower id is kept).
    """

    groups: np.ndarray

    _global_reason: ClassVar[str] = (
        "group scores sum different numbers of members in every tensor, so they are not comparable"
    )
    _kind: ClassVar[str] = "group"

    def __post_init__(self) -> None:
        groups = _to_numpy(self.groups)
        if groups.dtype.kind not in "iu":
            raise bad_value(
                "groups.dtype", groups.dtype, "an integer dtype (one group id per element)", PatternError
            )
        groups = np.array(groups, dtype=np.int64)
        groups.setflags(write=False)
        object.__setattr__(self, "groups", groups)
        ids, inverse = np.unique(groups, return_inverse=True)
        object.__setattr__(self, "_ids", ids)
        object.__setattr__(self, "_inverse", inverse.reshape(-1))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Group):
            return NotImplemented
        return self.groups.shape == other.groups.shape and bool(np.array_equal(self.groups, other.groups))

    def __hash__(self) -> int:
        return hash((self.groups.shape, self.groups.tobytes()))

    def __repr__(self) -> str:
        return f"Group(groups=<int64 array of shape {self.groups.shape}, {self._ids.size} groups>)"

    def check_shape(self, shape: Sequence[int]) -> None:
        shape = tuple(shape)
        if shape != self.groups.shape:
            raise PatternError(
                f"{self!r} does not fit an array of shape {shape}: groups must have the array's shape, "
                f"it has {self.groups.shape}"
            )

    def unit_shape(self, shape: Sequence[int]) -> Shape:
        return (self._ids.size,)

    def reduce_scores(self, scores: Any) -> np.ndarray:
        a = np.asarray(_to_numpy(scores), dtype=np.float64)
        self.check_shape(a.shape)
        return np.bincount(self._inverse, weights=a.reshape(-1), minlength=self._ids.size)

    def expand_units(self, unit_keep: Any, shape: Sequence[int]) -> np.ndarray:
        kept = np.asarray(_to_numpy(unit_keep), dtype=bool).reshape(self._ids.size)
        return kept[self._inverse].reshape(tuple(shape))

    def _check_structure(self, keep: np.ndarray) -> None:
        kept = np.bincount(self._inverse, weights=keep.reshape(-1), minlength=self._ids.size)
        members = np.bincount(self._inverse, minlength=self._ids.size)
        partial = (kept > 0) & (kept < members)
        if partial.any():
            first = int(np.flatnonzero(partial[self._inverse])[0])
            where = tuple(int(i) for i in np.unravel_index(first, keep.shape))
            group = int(self._ids[self._inverse[first]])
            raise PatternError(
                f"mask does not obey {self!r}: group {group} is partly kept "
                f"(its first member is at index {where})"
            )

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"type": self._kind}, {"groups": self.groups}


# --------------------------------------------------------------------------------------------------
# Scores -> masks


@dataclass(frozen=True)
class _Scores:
    """One tensor's scores, checked: ``unit_level`` when they are already one per unit."""

    name: str
    values: np.ndarray
    pattern: Pattern
    shape: Shape
    unit_level: bool

    @classmethod
    def check(cls, name: str, scores: Any, pattern: Pattern, shape: Sequence[int] | None) -> _Scores:
        values = _to_numpy(scores)
        if values.dtype.kind not in "biuf":
            raise bad_value(f"{name}.dtype", values.dtype, "a real dtype (bool, integer or float)")
        if values.dtype.kind == "f":
            bad = values.size - int(np.count_nonzero(np.isfinite(values)))
            if bad:
                raise ValueError(
                    f"{name} has {bad} NaN or Inf entries out of {values.size}: scores must be finite"
                )
        if shape is None:
            pattern.check_shape(values.shape)
            return cls(name, values, pattern, values.shape, False)
        shape = tuple(operator.index(d) for d in shape)
        pattern.check_shape(shape)
        expected = pattern.unit_shape(shape)
        if values.shape != expected:
            raise bad_value(
                f"{name}.shape",
                values.shape,
                f"{expected}, one score per unit of {pattern!r} in shape {shape}",
                ShapeError,
            )
        return cls(name, values, pattern, shape, True)

    def units(self) -> np.ndarray:
        if self.unit_level:
            return np.asarray(self.values, dtype=np.float64)
        return self.pattern.reduce_scores(self.values)

    def flat_units(self) -> np.ndarray:
        return self.units().reshape(-1)

    def n_units(self) -> int:
        return math.prod(self.pattern.unit_shape(self.shape))


def _per_name(arg: str, value: Any, names: list[Any], required: bool) -> dict[Any, Any]:
    """Spread a per-tensor argument given once or as a mapping over the names of a dict of scores."""
    if not isinstance(value, Mapping):
        return dict.fromkeys(names, value)
    extra = [key for key in value if key not in names]
    missing = [name for name in names if name not in value] if required else []
    if extra or missing:
        raise bad_value(
            arg, f"<mapping with extra keys {extra} and missing keys {missing}>", "the keys of scores"
        )
    return {name: value.get(name) for name in names}


def _select(entries: list[_Scores], sparsity: Any, scope: str) -> list[np.ndarray]:
    """One element mask per entry, each obeying its entry's pattern."""
    if not entries and sparsity is not None:
        _check_sparsity(sparsity)
    rates = [_resolve_sparsity(sparsity, entry.pattern) for entry in entries]
    if scope == "local":
        return [
            entry.pattern._select(entry.units(), entry.shape, rate) for entry, rate in zip(entries, rates)
        ]
    for entry in entries:
        if not entry.pattern.supports_global:
            raise PatternError(
                f"scope='global' is not allowed with pattern {entry.pattern!r} ({entry.name}): "
                f"{entry.pattern._global_reason}; use scope='local'"
            )
    sizes = [entry.n_units() for entry in entries]
    total = sum(sizes)
    k = total - pruned_count(total, rates[0]) if entries else 0
    keeps = _global_keep([entry.flat_units for entry in entries], sizes, k)
    return [
        entry.pattern.expand_units(keep.reshape(entry.pattern.unit_shape(entry.shape)), entry.shape)
        for entry, keep in zip(entries, keeps)
    ]


# --------------------------------------------------------------------------------------------------
# Mask


class Mask:
    """A read-only boolean keep-array (True = kept) for one array, plus the :class:`Pattern` it obeys.

    ``Mask(keep, pattern)`` copies ``keep`` (a bool numpy array or torch tensor) and checks that it
    obeys ``pattern`` (a Pattern or a string for :meth:`Pattern.parse`); PatternError otherwise.
    """

    __slots__ = ("_keep", "_pattern")
    __hash__ = None  # type: ignore[assignment]  # equality compares arrays

    def __init__(self, keep: Any, pattern: Pattern | str = Unstructured()) -> None:
        pattern = Pattern.parse(pattern)
        arr = _bool_array(keep, "keep")
        pattern.validate(arr)
        arr = np.array(arr, dtype=bool, order="C")
        arr.setflags(write=False)
        self._keep, self._pattern = arr, pattern

    @classmethod
    def _trusted(cls, keep: np.ndarray, pattern: Pattern) -> Mask:
        """A mask from an array this module just built and owns: no copy, no validation."""
        mask = cls.__new__(cls)
        keep = np.ascontiguousarray(keep, dtype=bool)
        keep.setflags(write=False)
        mask._keep, mask._pattern = keep, pattern
        return mask

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def from_scores(
        cls,
        scores: Any,
        *,
        sparsity: float | None = None,
        pattern: Pattern | str | Mapping[Any, Pattern | str] = "unstructured",
        scope: str = "local",
        shape: Sequence[int] | Mapping[Any, Sequence[int]] | None = None,
    ) -> Mask | dict[Any, Mask]:
        """Keep the highest-scoring units; prune exactly ``pruned_count(n_units, sparsity)`` of them.

        ``scores``: an array / torch tensor (returns a Mask) or a dict name -> array (returns a dict
        name -> Mask in the same order). Higher score = more important = kept; among equal scores
        the lower flat index is kept (in global scope: the earlier key, then the lower index).
        ``sparsity``: a float in [0, 1); for N:M it is implied (1 - n/m) and may be None.
        ``pattern``: a Pattern or pattern string, or for a dict a mapping name -> pattern (e.g. one
        :class:`Group` per tensor). ``scope``: "local" gives every tensor the sparsity on its own;
        "global" runs one selection over all units of the dict (Unstructured and Block only), in
        memory O(largest tensor + number of tensors). ``shape``: the mask's shape when ``scores``
        are already one per unit (per channel, tile or group), of shape ``pattern.unit_shape(shape)``;
        for a dict, a mapping name -> shape for the tensors given that way.
        """
        if scope not in ("local", "global"):
            raise bad_value("scope", scope, "'local' or 'global'")
        if isinstance(scores, Mapping):
            names = list(scores)
            patterns = {
                name: Pattern.parse(p) for name, p in _per_name("pattern", pattern, names, True).items()
            }
            if shape is not None and not isinstance(shape, Mapping):
                raise bad_value("shape", shape, "None or a mapping name -> shape when scores is a dict")
            shapes = _per_name("shape", shape or {}, names, False)
            entries = [_Scores.check(f"scores[{n!r}]", scores[n], patterns[n], shapes[n]) for n in names]
            keeps = _select(entries, sparsity, scope)
            return {name: cls._trusted(keep, patterns[name]) for name, keep in zip(names, keeps)}
        if isinstance(pattern, Mapping):
            raise bad_value(
                "pattern", pattern, f"{_PATTERN_SPECS} (a mapping only when scores is a dict)", PatternError
            )
        entry = _Scores.check("scores", scores, Pattern.parse(pattern), shape)
        (keep,) = _select([entry], sparsity, scope)
        return cls._trusted(keep, entry.pattern)

    @classmethod
    def ones(cls, shape: Sequence[int], pattern: Pattern | str = Unstructured()) -> Mask:
        """A mask that keeps everything (sparsity 0)."""
        return cls(np.ones(tuple(shape), dtype=bool), pattern)

    @classmethod
    def random(
        cls,
        shape: Sequence[int],
        sparsity: float | None,
        seed: int | np.random.Generator,
        pattern: Pattern | str = Unstructured(),
    ) -> Mask:
        """A random mask with the exact count of :func:`pruned_count`: uniform scores from ``seed``.

        ``seed`` is an int or a ``numpy.random.Generator``; the same seed gives the same mask.
        """
        if seed is None or isinstance(seed, bool):
            raise bad_value("seed", seed, "an int or a numpy.random.Generator")
        rng = np.random.default_rng(seed)
        return cls.from_scores(rng.random(tuple(shape)), sparsity=sparsity, pattern=pattern)

    # --- properties -------------------------------------------------------------------------

    @property
    def shape(self) -> Shape:
        return self._keep.shape

    @property
    def pattern(self) -> Pattern:
        return self._pattern

    @property
    def array(self) -> np.ndarray:
        """The keep array, read-only (a view whose base cannot be made writeable)."""
        return self._keep.view()

    @property
    def nnz(self) -> int:
        """Number of kept elements."""
        return int(np.count_nonzero(self._keep))

    @property
    def density(self) -> float:
        """Fraction kept (1.0 for an empty array)."""
        return self.nnz / self._keep.size if self._keep.size else 1.0

    @property
    def sparsity(self) -> float:
        """Fraction pruned (0.0 for an empty array)."""
        return 1.0 - self.density

    def validate(self) -> None:
        """Raise PatternError if the array does not obey the pattern (it always does once built)."""
        self._pattern.validate(self._keep)

    # --- use --------------------------------------------------------------------------------

    def _check_operand(self, shape: Sequence[int], name: str = "x.shape") -> None:
        if tuple(shape) != self.shape:
            raise bad_value(name, tuple(shape), f"the mask's shape {self.shape}", ShapeError)

    def apply(self, x: Any) -> Any:
        """``x`` with the pruned entries set to zero, as a new array; ``x`` is not changed.

        numpy in, numpy out (same dtype); torch in, torch out (same dtype and device, differentiable).
        Pruned entries become 0 even where ``x`` holds NaN or Inf (not ``x * mask``). Shape must
        equal the mask's shape (no broadcasting).
        """
        if _is_torch(x):
            self._check_operand(x.shape)
            return x.masked_fill(~self.to_torch(x.device), 0)
        arr = np.asarray(x)
        self._check_operand(arr.shape)
        return np.where(self._keep, arr, np.zeros((), dtype=arr.dtype))

    def apply_(self, x: Any) -> Any:
        """Zero the pruned entries of ``x`` in place and return ``x``.

        ``x``: a writeable numpy array or a torch tensor of the mask's shape. For a torch leaf that
        requires grad, call it under ``torch.no_grad()`` (torch forbids in-place writes otherwise).
        """
        if _is_torch(x):
            self._check_operand(x.shape)
            return x.masked_fill_(~self.to_torch(x.device), 0)
        if not isinstance(x, np.ndarray):
            raise bad_value("x", type(x).__name__, "a numpy array or torch tensor (in-place needs one)")
        self._check_operand(x.shape)
        if not x.flags.writeable:
            raise bad_value("x.flags.writeable", False, "a writeable array (use apply for a copy)")
        np.copyto(x, np.zeros((), dtype=x.dtype), where=~self._keep)
        return x

    def to_torch(self, device: Any = None) -> Any:
        """The keep array as a torch bool tensor (a copy), on ``device`` if given."""
        import torch

        tensor = torch.from_numpy(self._keep.copy())
        return tensor if device is None else tensor.to(device)

    # --- algebra ----------------------------------------------------------------------------

    def _combine(self, other: object, op: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Mask:
        if not isinstance(other, Mask):
            return NotImplemented
        self._check_operand(other.shape, "other.shape")
        keep = op(self._keep, other._keep)
        pattern: Pattern = Unstructured()
        if self._pattern == other._pattern:
            try:
                self._pattern.validate(keep)
                pattern = self._pattern
            except PatternError:
                pass
        return Mask._trusted(keep, pattern)

    def __and__(self, other: object) -> Mask:
        """Kept where both keep. The pattern stays if both share it and the result still obeys it
        (Block & Block, Channel & Channel), else the result is Unstructured (2:4 & 2:4 usually is)."""
        return self._combine(other, np.logical_and)

    def __or__(self, other: object) -> Mask:
        """Kept where either keeps; the result's pattern follows the rule of ``&``."""
        return self._combine(other, np.logical_or)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mask):
            return NotImplemented
        return (
            self.shape == other.shape
            and self._pattern == other._pattern
            and bool(np.array_equal(self._keep, other._keep))
        )

    def __repr__(self) -> str:
        return f"Mask(shape={self.shape}, pattern={self._pattern!r}, sparsity={self.sparsity:.4g})"

    # --- files ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the mask to ``.safetensors`` or ``.npz`` (by suffix), losslessly; see :func:`save_masks`."""
        save_masks(path, {"mask": self})

    @classmethod
    def load(cls, path: str | Path) -> Mask:
        """Read a mask written by :meth:`save` (a file holding exactly one mask)."""
        masks = load_masks(path)
        if len(masks) != 1:
            raise FormatError(f"{str(path)!r} holds {len(masks)} masks: Mask.load reads one, use load_masks")
        return next(iter(masks.values()))


# --------------------------------------------------------------------------------------------------
# Files


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix not in _SUFFIXES:
        raise bad_value("path", str(path), f"a file name ending in one of {list(_SUFFIXES)}")
    return path


def save_masks(path: str | Path, masks: Mapping[str, Mask]) -> None:
    """Write named masks, each with its pattern, to one ``.safetensors`` or ``.npz`` file (by suffix).

    Each mask i is stored as a uint8 array ``"{i}.keep"`` (plus ``"{i}.groups"`` for a Group
    pattern); names, order and patterns go into a JSON header: the safetensors metadata entry
    ``"sparsehub.masks"``, or the 0-d string array ``"__sparsehub__"`` of the npz. Lossless.
    """
    path = _check_path(path)
    if not isinstance(masks, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Mask) for k, v in masks.items()
    ):
        raise bad_value(
            "masks", masks if not isinstance(masks, Mapping) else "<mapping>", "a mapping str -> Mask"
        )
    tensors: dict[str, np.ndarray] = {}
    entries = []
    for i, (name, mask) in enumerate(masks.items()):
        meta, arrays = mask.pattern._state()
        tensors[f"{i}.keep"] = mask._keep.astype(np.uint8)
        for key, array in arrays.items():
            tensors[f"{i}.{key}"] = np.ascontiguousarray(array)
        entries.append({"name": name, "shape": list(mask.shape), "pattern": meta, "arrays": sorted(arrays)})
    header = json.dumps({"format": _FILE_KEY, "version": _FILE_VERSION, "masks": entries})
    if path.suffix == ".safetensors":
        from safetensors.numpy import save_file

        save_file(tensors, str(path), metadata={_FILE_KEY: header})
    else:
        with open(path, "wb") as f:
            np.savez(f, __sparsehub__=np.array(header), **tensors)


def load_masks(path: str | Path) -> dict[str, Mask]:
    """Read the named masks written by :func:`save_masks` (or :meth:`Mask.save`), in their saved order."""
    path = _check_path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            header = (f.metadata() or {}).get(_FILE_KEY)
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    else:
        with np.load(path, allow_pickle=False) as z:
            header = str(z["__sparsehub__"][()]) if "__sparsehub__" in z.files else None
            tensors = {key: z[key] for key in z.files if key != "__sparsehub__"}
    if header is None:
        raise FormatError(f"{str(path)!r} is not a sparsehub mask file: it has no {_FILE_KEY!r} header")
    doc = json.loads(header)
    if doc.get("version") != _FILE_VERSION:
        raise FormatError(
            f"{str(path)!r}: mask file version {doc.get('version')!r} is not allowed: "
            f"expected {_FILE_VERSION}"
        )
    masks: dict[str, Mask] = {}
    for i, entry in enumerate(doc["masks"]):
        keep = tensors[f"{i}.keep"]
        if keep.dtype != np.uint8 or keep.shape != tuple(entry["shape"]) or np.any(keep > 1):
            raise FormatError(
                f"{str(path)!r}: mask {entry['name']!r} is not a 0/1 uint8 array of shape {entry['shape']}"
            )
        pattern = Pattern._from_state(
            entry["pattern"], {key: tensors[f"{i}.{key}"] for key in entry["arrays"]}
        )
        masks[entry["name"]] = Mask(keep.astype(bool), pattern)
    return masks
