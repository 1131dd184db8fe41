"""Masks are exact: counts follow pruned_count, ties go to the lower index, patterns hold."""

from __future__ import annotations

import math
import tracemalloc
from fractions import Fraction
from unittest import mock

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import sparsehub.mask as mask_module
from sparsehub.errors import FormatError, PatternError, ShapeError
from sparsehub.mask import (
    NM,
    Block,
    Channel,
    Group,
    Mask,
    Pattern,
    Unstructured,
    load_masks,
    pruned_count,
    save_masks,
)

FAST = settings(max_examples=50, deadline=None)
sparsities = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


def tied_scores(shape):
    """Scores from a handful of values, so ties are common."""
    return st.lists(st.integers(-2, 2), min_size=math.prod(shape), max_size=math.prod(shape)).map(
        lambda v: np.array(v, dtype=np.float64).reshape(shape)
    )


@st.composite
def shapes_and_scores(draw, max_dims=3, max_side=5):
    shape = tuple(draw(st.lists(st.integers(1, max_side), min_size=1, max_size=max_dims)))
    return shape, draw(tied_scores(shape))


def oracle_keep(scores_flat, k):
    """Brute force: rank by (score descending, index ascending), keep the first k."""
    order = sorted(range(len(scores_flat)), key=lambda i: (-scores_flat[i], i))
    keep = np.zeros(len(scores_flat), dtype=bool)
    keep[order[:k]] = True
    return keep


def n_kept(n, sparsity):
    return n - pruned_count(n, sparsity)


# --- the count rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "sparsity", "pruned"),
    [
        (100, 0.29, 29),
        (10, 0.35, 4),
        (3, 1 / 3, 1),
        (3, 0.5, 2),
        (4, 0.5, 2),
        (1, 0.9, 1),
        (7, 0.0, 0),
        (0, 0.5, 0),
    ],
)
def test_pruned_count_is_the_nearest_integer_halves_up_on_the_printed_decimal(n, sparsity, pruned):
    assert pruned_count(n, sparsity) == pruned


@FAST
@given(st.integers(0, 10_000), sparsities)
@example(1, 0.5)
def test_pruned_count_is_within_half_a_unit_of_sparsity_times_units(n, sparsity):
    exact = Fraction(repr(sparsity)) * n
    pruned = pruned_count(n, sparsity)
    assert -Fraction(1, 2) <= exact - pruned < Fraction(1, 2)  # halves round up
    assert 0 <= pruned <= n


# --- unstructured, local and global -----------------------------------------------------------


@FAST
@given(shapes_and_scores(), sparsities)
def test_unstructured_mask_keeps_the_top_scores_with_ties_to_the_lower_index(shape_scores, sparsity):
    shape, scores = shape_scores
    mask = Mask.from_scores(scores, sparsity=sparsity)
    expected = oracle_keep(scores.ravel().tolist(), n_kept(scores.size, sparsity)).reshape(shape)
    assert mask.shape == shape and mask.pattern == Unstructured()
    np.testing.assert_array_equal(mask.array, expected)
    assert mask.nnz == n_kept(scores.size, sparsity)


def test_all_equal_scores_keep_the_first_elements():
    mask = Mask.from_scores(np.full((3, 4), 7.0), sparsity=0.5)
    np.testing.assert_array_equal(mask.array.ravel(), [True] * 6 + [False] * 6)


def test_from_scores_does_not_touch_the_scores():
    scores = np.random.default_rng(0).random((4, 8))
    before = scores.copy()
    Mask.from_scores(scores, sparsity=0.5)
    Mask.from_scores({"a": scores}, sparsity=0.5, scope="global")
    np.testing.assert_array_equal(scores, before)


@st.composite
def score_dicts(draw, max_tensors=4):
    names = draw(st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=max_tensors, unique=True))
    out = {}
    for name in names:
        shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
        out[name] = draw(tied_scores(shape))
    return out


@FAST
@given(score_dicts(), sparsities)
def test_local_scope_gives_every_tensor_its_own_exact_count(scores, sparsity):
    masks = Mask.from_scores(scores, sparsity=sparsity, scope="local")
    assert list(masks) == list(scores)
    for name, array in scores.items():
        assert masks[name] == Mask.from_scores(array, sparsity=sparsity)
        assert masks[name].nnz == n_kept(array.size, sparsity)


def assert_global_matches_concatenated_oracle(scores, sparsity):
    masks = Mask.from_scores(scores, sparsity=sparsity, scope="global")
    concatenated = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in scores.values()])
    expected = oracle_keep(concatenated.tolist(), n_kept(concatenated.size, sparsity))
    got = np.concatenate([masks[name].array.ravel() for name in scores])
    np.testing.assert_array_equal(got, expected)


@FAST
@given(score_dicts(), sparsities)
def test_global_scope_equals_brute_force_top_k_over_the_concatenation(scores, sparsity):
    assert_global_matches_concatenated_oracle(scores, sparsity)


@FAST
@given(score_dicts(max_tensors=5), sparsities, st.integers(1, 6))
def test_global_search_stays_exact_when_a_tiny_gather_budget_forces_many_passes(scores, sparsity, budget):
    # the bracket search only runs counting passes when the window exceeds the budget
    with mock.patch.object(mask_module, "_gather_budget", lambda largest: budget):
        assert_global_matches_concatenated_oracle(scores, sparsity)


def test_global_search_is_exact_on_large_tied_and_wide_range_scores():
    rng = np.random.default_rng(1)
    cases = [
        {f"t{i}": rng.integers(0, 3, 3000).astype(np.float32) for i in range(6)},
        {f"t{i}": np.exp(rng.normal(size=3000) * 40) for i in range(6)},
        {f"t{i}": np.full(3000, -0.0 if i % 2 else 0.0) for i in range(6)},
        {f"t{i}": np.sort(rng.normal(size=(30, 100)), axis=None).reshape(30, 100) for i in range(6)},
    ]
    with mock.patch.object(mask_module, "_gather_budget", lambda largest: 16):
        for scores in cases:
            assert_global_matches_concatenated_oracle(scores, 0.37)


@FAST
@given(
    st.lists(st.lists(st.integers(-3, 3), min_size=1, max_size=6), min_size=1, max_size=4), st.integers(1, 3)
)
def test_threshold_search_finds_the_kth_largest_and_the_count_above_it_for_every_k(arrays, budget):
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    everything = sorted((x for a in arrays for x in a.tolist()), reverse=True)
    units = [lambda a=a: a for a in arrays]
    with mock.patch.object(mask_module, "_gather_budget", lambda largest: budget):
        for k in range(1, len(everything)):
            value, above = mask_module._kth_largest(units, [a.size for a in arrays], k)
            assert value == everything[k - 1]
            assert above == sum(x > value for x in everything)


def test_float_keys_order_like_the_floats_and_invert_exactly():
    values = [-math.inf, -1e308, -1.0, -5e-324, -0.0, 0.0, 5e-324, 1.0, 1e308, math.inf]
    keys = [mask_module._float_key(v) for v in values]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(
        mask_module._key_float(k) == v and math.copysign(1, mask_module._key_float(k)) == math.copysign(1, v)
        for k, v in zip(keys, values)
    )


def test_global_scope_of_one_tensor_equals_local():
    scores = np.random.default_rng(2).integers(0, 4, (6, 8)).astype(float)
    assert Mask.from_scores(scores, sparsity=0.6, scope="global") == Mask.from_scores(scores, sparsity=0.6)


def test_global_scope_shares_one_count_across_tensors():
    scores = {"small": np.array([10.0, 9.0, 8.0, 7.0]), "large": np.zeros(12)}
    masks = Mask.from_scores(scores, sparsity=0.75, scope="global")
    assert masks["small"].nnz == 4 and masks["large"].nnz == 0  # 4 of 16 kept, all from "small"


def test_global_scope_never_holds_all_scores_at_once():
    rng = np.random.default_rng(3)
    scores = {f"layer{i}": rng.normal(size=50_000) * (i + 1) for i in range(20)}
    total_bytes = sum(a.nbytes for a in scores.values())  # 8 MB; the masks themselves are 1 MB
    Mask.from_scores(scores, sparsity=0.7, scope="global")  # lazy imports happen outside the trace
    tracemalloc.start()
    try:
        masks = Mask.from_scores(scores, sparsity=0.7, scope="global")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < total_bytes / 4, f"peak {peak} bytes: the scores were copied together"
    assert sum(m.nnz for m in masks.values()) == n_kept(1_000_000, 0.7)


# --- structured patterns ----------------------------------------------------------------------


@st.composite
def nm_cases(draw):
    m = draw(st.integers(1, 4))
    n = draw(st.integers(1, m))
    axis = draw(st.sampled_from([0, -1]))
    ndim = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 3)) for _ in range(ndim)]
    shape[axis] *= m
    return NM(n, m, axis), tuple(shape), draw(tied_scores(tuple(shape)))


@FAST
@given(nm_cases())
def test_nm_mask_keeps_exactly_n_of_every_m(case):
    pattern, _, scores = case
    mask = Mask.from_scores(scores, pattern=pattern)
    moved_keep = np.moveaxis(mask.array, pattern.axis, -1)
    moved_scores = np.moveaxis(scores, pattern.axis, -1)
    for index in np.ndindex(moved_keep.shape[:-1]):
        for start in range(0, moved_keep.shape[-1], pattern.m):
            group = moved_scores[index][start : start + pattern.m].tolist()
            expected = oracle_keep(group, pattern.n)
            np.testing.assert_array_equal(moved_keep[index][start : start + pattern.m], expected)
    assert mask.nnz == scores.size * pattern.n // pattern.m


def test_nm_ties_go_to_the_lower_position_in_long_groups():
    scores = np.random.default_rng(7).integers(0, 2, (20, 64)).astype(float)
    mask = Mask.from_scores(scores, pattern=NM(10, 32))
    for row in range(20):
        for start in (0, 32):
            group = scores[row, start : start + 32].tolist()
            np.testing.assert_array_equal(mask.array[row, start : start + 32], oracle_keep(group, 10))


def test_nm_sparsity_is_implied_and_a_conflicting_one_is_rejected():
    scores = np.arange(16.0).reshape(2, 8)
    implied = Mask.from_scores(scores, pattern="2:4")
    assert implied == Mask.from_scores(scores, sparsity=0.5, pattern="2:4")
    with pytest.raises(PatternError, match=r"sparsity=0\.7.*0\.5"):
        Mask.from_scores(scores, sparsity=0.7, pattern="2:4")


def tile_sums(scores, bh, bw):
    *lead, rows, cols = scores.shape
    sums = np.zeros((*lead, rows // bh, cols // bw))
    for index in np.ndindex(sums.shape):
        *b, i, j = index
        sums[index] = scores[(*b, slice(i * bh, (i + 1) * bh), slice(j * bw, (j + 1) * bw))].sum()
    return sums


@st.composite
def block_cases(draw):
    bh, bw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    lead = tuple(draw(st.lists(st.integers(1, 2), max_size=1)))
    shape = (*lead, bh * draw(st.integers(1, 3)), bw * draw(st.integers(1, 3)))
    return Block(bh, bw), shape, draw(tied_scores(shape))


@FAST
@given(block_cases(), sparsities)
def test_block_mask_is_constant_on_tiles_and_keeps_the_top_tiles(case, sparsity):
    pattern, _, scores = case
    mask = Mask.from_scores(scores, sparsity=sparsity, pattern=pattern)
    sums = tile_sums(scores, pattern.bh, pattern.bw)
    kept_tiles = oracle_keep(sums.ravel().tolist(), n_kept(sums.size, sparsity)).reshape(sums.shape)
    expected = np.repeat(np.repeat(kept_tiles, pattern.bh, axis=-2), pattern.bw, axis=-1)
    np.testing.assert_array_equal(mask.array, expected)


@FAST
@given(st.lists(block_cases(), min_size=1, max_size=3), sparsities)
def test_global_block_scope_ranks_tiles_across_tensors(cases, sparsity):
    scores = {f"w{i}": s for i, (_, _, s) in enumerate(cases)}
    patterns = {f"w{i}": p for i, (p, _, _) in enumerate(cases)}
    masks = Mask.from_scores(scores, sparsity=sparsity, pattern=patterns, scope="global")
    sums = [tile_sums(scores[k], patterns[k].bh, patterns[k].bw) for k in scores]
    flat = np.concatenate([s.ravel() for s in sums])
    kept = oracle_keep(flat.tolist(), n_kept(flat.size, sparsity))
    offset = 0
    for name, s in zip(scores, sums):
        tiles = kept[offset : offset + s.size].reshape(s.shape)
        offset += s.size
        p = patterns[name]
        np.testing.assert_array_equal(masks[name].array, np.repeat(np.repeat(tiles, p.bh, -2), p.bw, -1))


@FAST
@given(shapes_and_scores(), sparsities, st.integers(0, 2))
def test_channel_mask_keeps_whole_channels_ranked_by_summed_score(shape_scores, sparsity, axis):
    shape, scores = shape_scores
    axis = axis % len(shape)
    mask = Mask.from_scores(scores, sparsity=sparsity, pattern=Channel(axis))
    sums = [np.take(scores, c, axis=axis).sum() for c in range(shape[axis])]
    kept = oracle_keep(sums, n_kept(shape[axis], sparsity))
    for c in range(shape[axis]):
        assert np.all(np.take(mask.array, c, axis=axis) == kept[c])
    reduced = Mask.from_scores(np.array(sums), sparsity=sparsity, pattern=Channel(axis), shape=shape)
    assert reduced == mask


@FAST
@given(shapes_and_scores(max_dims=2), sparsities, st.data())
def test_group_mask_keeps_whole_groups_ranked_by_summed_score(shape_scores, sparsity, data):
    shape, scores = shape_scores
    groups = np.array(data.draw(st.lists(st.integers(-1, 3), min_size=scores.size, max_size=scores.size)))
    groups = groups.reshape(shape)
    mask = Mask.from_scores(scores, sparsity=sparsity, pattern=Group(groups))
    ids = sorted(set(groups.ravel().tolist()))
    sums = [scores[groups == g].sum() for g in ids]
    kept = oracle_keep(sums, n_kept(len(ids), sparsity))
    for g, keep in zip(ids, kept):
        assert np.all(mask.array[groups == g] == keep)


def test_a_dict_can_carry_one_group_pattern_per_tensor():
    scores = {"a": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.array([5.0, 1.0, 1.0])}
    patterns = {"a": Group(np.array([[0, 1], [0, 1]])), "b": Group(np.array([0, 0, 1]))}
    masks = Mask.from_scores(scores, sparsity=0.5, pattern=patterns)
    np.testing.assert_array_equal(masks["a"].array, [[False, True], [False, True]])
    np.testing.assert_array_equal(masks["b"].array, [True, True, False])
    assert masks["a"].pattern == patterns["a"]


# --- parsing and validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        ("unstructured", Unstructured()),
        ("2:4", NM(2, 4)),
        (" 1 : 8 ", NM(1, 8)),
        ("block(4,4)", Block(4, 4)),
        ("Block(2, 8)", Block(2, 8)),
        ("4x2", Block(4, 2)),
        ("channel", Channel(0)),
        ("channel(1)", Channel(1)),
        ("channel(-1)", Channel(-1)),
    ],
)
def test_pattern_parse_accepts_the_documented_strings(spec, pattern):
    assert Pattern.parse(spec) == pattern
    assert Pattern.parse(pattern) is pattern


@pytest.mark.parametrize("spec", ["2-4", "blocks(2,2)", "channel(x)", "", 24])
def test_pattern_parse_rejects_anything_else_naming_pattern(spec):
    with pytest.raises(PatternError, match=r"pattern=.*is not allowed: expected a Pattern or one of"):
        Pattern.parse(spec)


@pytest.mark.parametrize(
    ("pattern", "keep", "where"),
    [
        (NM(2, 4), [[1, 1, 0, 0], [1, 1, 1, 0]], r"starting at index \(1, 0\).*keeps 3, expected n=2"),
        (NM(1, 2, axis=0), [[1, 0], [0, 0]], r"starting at index \(0, 1\).*keeps 0, expected n=1"),
        (Block(2, 2), [[1, 1, 1, 0], [1, 1, 1, 1]], r"tile at index \(0, 2\) \(rows 0:2, columns 2:4\)"),
        (Channel(1), [[1, 0, 1], [1, 0, 0]], r"channel 2 \(index 2 along axis 1\)"),
        (Group(np.array([[0, 1], [1, 2]])), [[1, 1], [0, 0]], r"group 1 is partly kept.*index \(0, 1\)"),
    ],
)
def test_validate_names_the_first_violation(pattern, keep, where):
    keep = np.array(keep, dtype=bool)
    with pytest.raises(PatternError, match=where):
        pattern.validate(keep)
    with pytest.raises(PatternError, match=where):
        Mask(keep, pattern)


def test_mask_accepts_arrays_that_obey_the_pattern_and_copies_them():
    keep = np.array([[1, 0, 1, 0], [0, 1, 1, 0]], dtype=bool)
    mask = Mask(keep, "2:4")
    keep[0, 0] = False
    assert mask.array[0, 0] and mask.pattern == NM(2, 4)
    mask.validate()


def test_mask_rejects_a_non_boolean_array_naming_its_dtype():
    with pytest.raises(ValueError, match=r"keep\.dtype=dtype\('float64'\) is not allowed: expected bool"):
        Mask(np.ones((2, 2)))


def test_mask_array_is_read_only():
    mask = Mask.ones((2, 3))
    with pytest.raises(ValueError):
        mask.array[0, 0] = False
    with pytest.raises(ValueError):
        mask.array.setflags(write=True)


# --- bad inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize("sparsity", [1.0, -0.1, math.nan, math.inf, "0.5", True, None])
def test_bad_sparsity_is_rejected_naming_sparsity(sparsity):
    with pytest.raises(ValueError, match=r"sparsity=.* is not allowed: expected a float in \[0, 1\)"):
        Mask.from_scores(np.ones(4), sparsity=sparsity)


def test_nm_with_n_greater_than_m_is_rejected_naming_both():
    with pytest.raises(
        PatternError, match=r"NM\(n=5, m=4\) is not allowed: expected integers with 0 < n <= m"
    ):
        NM(5, 4)
    with pytest.raises(PatternError, match=r"n=5, m=4"):
        Pattern.parse("5:4")
    with pytest.raises(PatternError, match=r"n=0"):
        NM(0, 4)


def test_nm_whose_m_does_not_divide_the_axis_names_n_m_axis_and_shape():
    with pytest.raises(
        PatternError, match=r"NM\(n=2, m=4, axis=-1\) does not fit an array of shape \(3, 6\)"
    ):
        Mask.from_scores(np.ones((3, 6)), pattern="2:4")
    with pytest.raises(PatternError, match=r"axis=2 is out of range"):
        Mask.from_scores(np.ones((4, 4)), pattern=NM(2, 4, axis=2))


def test_blocks_that_do_not_divide_the_shape_are_rejected():
    with pytest.raises(
        PatternError, match=r"Block\(bh=4, bw=4\) does not fit an array of shape \(4, 6\).*bw=4"
    ):
        Mask.from_scores(np.ones((4, 6)), sparsity=0.5, pattern="4x4")
    with pytest.raises(PatternError, match=r"at least 2"):
        Mask.from_scores(np.ones(8), sparsity=0.5, pattern="block(2,2)")
    with pytest.raises(PatternError, match=r"bh=0"):
        Block(0, 2)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_scores_are_rejected_naming_the_tensor_and_the_count(bad):
    scores = np.ones(10)
    scores[[2, 5]] = bad
    with pytest.raises(ValueError, match=r"scores has 2 NaN or Inf entries out of 10"):
        Mask.from_scores(scores, sparsity=0.5)
    with pytest.raises(ValueError, match=r"scores\['fc2'\] has 2 NaN or Inf entries"):
        Mask.from_scores({"fc1": np.ones(3), "fc2": scores}, sparsity=0.5, scope="global")


def test_non_real_scores_are_rejected_naming_the_dtype():
    with pytest.raises(ValueError, match=r"scores\.dtype=dtype\('complex128'\)"):
        Mask.from_scores(np.ones(4, dtype=complex), sparsity=0.5)


def test_unknown_scope_is_rejected_naming_scope():
    with pytest.raises(ValueError, match=r"scope='all' is not allowed: expected 'local' or 'global'"):
        Mask.from_scores(np.ones(4), sparsity=0.5, scope="all")


@pytest.mark.parametrize(
    "pattern", [NM(2, 4), Channel(0), Group(np.zeros(4, dtype=int))], ids=["nm", "channel", "group"]
)
def test_global_scope_rejects_patterns_whose_units_are_not_comparable(pattern):
    with pytest.raises(PatternError, match=r"scope='global' is not allowed with pattern .*use scope='local'"):
        Mask.from_scores({"a": np.ones(4)}, sparsity=0.5, pattern=pattern, scope="global")


def test_unit_level_scores_must_have_the_unit_shape():
    with pytest.raises(ShapeError, match=r"scores\.shape=\(3,\) is not allowed: expected \(4,\)"):
        Mask.from_scores(np.ones(3), sparsity=0.5, pattern="channel", shape=(4, 2))


# --- apply ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.bool_])
def test_apply_zeroes_pruned_entries_keeps_dtype_and_leaves_x_untouched(dtype):
    rng = np.random.default_rng(4)
    mask = Mask.random((5, 8), 0.5, seed=0)
    x = (rng.normal(size=(5, 8)) * 10).astype(dtype)
    before = x.copy()
    out = mask.apply(x)
    assert out.dtype == x.dtype and out is not x
    np.testing.assert_array_equal(out, np.where(mask.array, x, 0).astype(dtype))
    np.testing.assert_array_equal(x, before)


def test_apply_zeroes_nan_in_pruned_entries():
    mask = Mask(np.array([True, False]))
    np.testing.assert_array_equal(mask.apply(np.array([1.0, np.nan])), [1.0, 0.0])


def test_apply_in_place_changes_x_exactly_where_pruned():
    mask = Mask.random((4, 4), 0.25, seed=1)
    x = np.arange(1.0, 17.0).reshape(4, 4)
    expected = mask.apply(x)
    assert mask.apply_(x) is x
    np.testing.assert_array_equal(x, expected)
    frozen = np.ones((4, 4))
    frozen.setflags(write=False)
    with pytest.raises(ValueError, match=r"x\.flags\.writeable=False"):
        mask.apply_(frozen)
    with pytest.raises(ValueError, match=r"x='list'"):
        mask.apply_([[1.0] * 4] * 4)


def test_apply_torch_keeps_dtype_and_device_and_gradient_and_leaves_x_untouched():
    torch = pytest.importorskip("torch")
    mask = Mask.random((3, 4), 0.5, seed=2)
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    before = x.detach().clone()
    out = mask.apply(x)
    assert out.dtype == x.dtype and out.device == x.device
    np.testing.assert_array_equal(out.detach().numpy(), mask.apply(before.numpy()))
    assert torch.equal(x.detach(), before)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), mask.array.astype(float))
    y = torch.ones(3, 4, dtype=torch.float16)
    assert mask.apply_(y) is y
    np.testing.assert_array_equal(y.numpy(), mask.array.astype(np.float16))
    t = mask.to_torch()
    assert t.dtype == torch.bool and np.array_equal(t.numpy(), mask.array)


def test_apply_rejects_a_shape_mismatch_naming_x():
    mask = Mask.ones((4, 4))
    with pytest.raises(
        ShapeError, match=r"x\.shape=\(4, 3\) is not allowed: expected the mask's shape \(4, 4\)"
    ):
        mask.apply(np.ones((4, 3)))
    with pytest.raises(ShapeError, match=r"x\.shape=\(4,\)"):
        mask.apply_(np.ones(4))


def test_torch_scores_give_the_same_mask_as_numpy():
    torch = pytest.importorskip("torch")
    scores = np.random.default_rng(5).integers(0, 3, (4, 8)).astype(np.float32)
    for pattern, sparsity in (("unstructured", 0.6), ("2:4", None), ("2x2", 0.5)):
        from_torch = Mask.from_scores(torch.from_numpy(scores), sparsity=sparsity, pattern=pattern)
        assert from_torch == Mask.from_scores(scores, sparsity=sparsity, pattern=pattern)
    bf16 = Mask.from_scores(torch.from_numpy(scores).to(torch.bfloat16), sparsity=0.6)
    assert bf16 == Mask.from_scores(scores, sparsity=0.6)


# --- algebra, equality, builders --------------------------------------------------------------


def test_and_or_follow_numpy_logic_and_keep_a_shared_pattern_only_when_it_still_holds():
    rng = np.random.default_rng(6)
    a = Mask.from_scores(rng.random((4, 8)), sparsity=0.5, pattern="2x2")
    b = Mask.from_scores(rng.random((4, 8)), sparsity=0.5, pattern="2x2")
    np.testing.assert_array_equal((a & b).array, a.array & b.array)
    np.testing.assert_array_equal((a | b).array, a.array | b.array)
    assert (a & b).pattern == Block(2, 2) and (a | b).pattern == Block(2, 2)
    n1 = Mask(np.array([[1, 1, 0, 0]], dtype=bool), "2:4")
    n2 = Mask(np.array([[0, 1, 1, 0]], dtype=bool), "2:4")
    assert (n1 & n2).pattern == Unstructured() and (n1 | n2).pattern == Unstructured()
    assert (n1 & n1).pattern == NM(2, 4)
    assert (a & Mask(a.array)).pattern == Unstructured()
    with pytest.raises(ShapeError, match=r"other\.shape=\(1, 4\)"):
        _ = a & n1


def test_equality_compares_arrays_and_patterns():
    keep = np.ones((2, 4), dtype=bool)
    assert Mask(keep) == Mask(keep.copy())
    assert Mask(keep) != Mask(keep, "2x2")
    assert Mask(keep) != Mask(np.ones((4, 2), dtype=bool))
    assert Mask(keep, Group(np.zeros((2, 4), int))) == Mask(keep, Group(np.zeros((2, 4), int)))
    assert Mask(keep, Group(np.zeros((2, 4), int))) != Mask(keep, Group(np.ones((2, 4), int)))


def test_random_mask_has_the_exact_count_and_is_reproducible():
    mask = Mask.random((7, 9), 0.3, seed=11)
    assert mask.nnz == n_kept(63, 0.3)
    assert mask == Mask.random((7, 9), 0.3, seed=11)
    assert mask != Mask.random((7, 9), 0.3, seed=12)
    nm = Mask.random((2, 8), None, seed=np.random.default_rng(0), pattern="1:4")
    assert nm.nnz == 4 and nm.pattern == NM(1, 4)
    with pytest.raises(ValueError, match=r"seed=None"):
        Mask.random((2, 2), 0.5, seed=None)


def test_ones_keeps_everything_and_properties_agree():
    mask = Mask.ones((3, 4))
    assert mask.nnz == 12 and mask.density == 1.0 and mask.sparsity == 0.0
    half = Mask(np.array([True, False, False, True]))
    assert half.nnz == 2 and half.sparsity == 0.5 and half.density == 0.5
    with pytest.raises(PatternError):
        Mask.ones((2, 4), "2:4")


# --- files ------------------------------------------------------------------------------------

PATTERNED_MASKS = {
    "unstructured": lambda: Mask.random((5, 7), 0.4, seed=0),
    "nm_axis0": lambda: Mask.random((8, 3, 2), None, seed=1, pattern=NM(1, 4, axis=0)),
    "block": lambda: Mask.random((2, 4, 6), 0.5, seed=2, pattern="2x3"),
    "channel": lambda: Mask.random((6, 4), 0.5, seed=3, pattern="channel(-1)"),
    "group": lambda: Mask.random((3, 4), 0.5, seed=4, pattern=Group(np.arange(12).reshape(3, 4) % 5 - 2)),
    "empty": lambda: Mask(np.zeros((0, 4), dtype=bool)),
}


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
@pytest.mark.parametrize("name", sorted(PATTERNED_MASKS))
def test_save_load_round_trip_is_lossless(tmp_path, suffix, name):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    mask = PATTERNED_MASKS[name]()
    path = tmp_path / f"m{suffix}"
    mask.save(path)
    loaded = Mask.load(path)
    assert loaded == mask
    assert loaded.pattern == mask.pattern and type(loaded.pattern) is type(mask.pattern)
    np.testing.assert_array_equal(loaded.array, mask.array)


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_save_masks_keeps_names_order_and_patterns(tmp_path, suffix):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    masks = {name: make() for name, make in reversed(PATTERNED_MASKS.items())}
    masks["layers.0.weight"] = Mask.ones((2, 2))
    path = tmp_path / f"all{suffix}"
    save_masks(path, masks)
    loaded = load_masks(path)
    assert list(loaded) == list(masks)
    assert all(loaded[k] == masks[k] for k in masks)
    with pytest.raises(FormatError, match=r"holds 7 masks"):
        Mask.load(path)


def test_unknown_suffix_is_rejected_naming_path_and_allowed_suffixes(tmp_path):
    with pytest.raises(ValueError, match=r"path='.*m\.pt' is not allowed: .*'\.safetensors', '\.npz'"):
        Mask.ones((2, 2)).save(tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()
    with pytest.raises(ValueError, match=r"path='.*m\.bin'"):
        load_masks(tmp_path / "m.bin")


def test_load_rejects_a_file_without_the_mask_header(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, keep=np.ones(3, dtype=np.uint8))
    with pytest.raises(FormatError, match=r"not a sparsehub mask file"):
        load_masks(path)


def test_dict_arguments_given_per_name_must_match_the_keys_of_scores():
    scores = {"a": np.arange(8.0).reshape(4, 2), "b": np.array([3.0, 1.0])}
    masks = Mask.from_scores(scores, sparsity=0.5, pattern="channel", shape={"b": (2, 5)})
    np.testing.assert_array_equal(masks["a"].array[:, 0], [False, False, True, True])
    np.testing.assert_array_equal(masks["b"].array, np.repeat([[True], [False]], 5, axis=1))
    with pytest.raises(ValueError, match=r"pattern=.*missing keys \['b'\]"):
        Mask.from_scores(scores, sparsity=0.5, pattern={"a": "channel"})
    with pytest.raises(ValueError, match=r"shape=.*extra keys \['c'\]"):
        Mask.from_scores(scores, sparsity=0.5, shape={"c": (2,)})
