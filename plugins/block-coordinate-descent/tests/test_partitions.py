"""Fixed partitions and forest-structured partitions: coverage, disjointness, the forest property."""

import numpy as np
import pytest
import scipy.sparse as sp

from sparsehub.errors import PatternError
from sparsehub_block_coordinate_descent.datasets import lattice_label_propagation
from sparsehub_block_coordinate_descent.partitions import (
    fixed_partition,
    forest_partition,
    is_forest,
    lattice_red_black,
    lattice_tree_partition,
    red_black_partition,
    validate_partition,
)


def _lattice_graph(nrows, ncols):
    node = np.arange(nrows * ncols).reshape(ncols, nrows)
    i = np.concatenate([node[:, :-1].ravel(), node[:-1, :].ravel()])
    j = np.concatenate([node[:, 1:].ravel(), node[1:, :].ravel()])
    G = sp.coo_matrix((np.ones(i.size), (i, j)), shape=(nrows * ncols,) * 2)
    return (G + G.T).tocsr()


def _covers(blocks, p):
    flat = np.concatenate(blocks)
    return flat.size == p and np.array_equal(np.sort(flat), np.arange(p))


@pytest.mark.parametrize("kind", ["order", "sort", "avg"])
def test_fixed_partitions_cover_every_coordinate_once_with_blocks_of_tau(kind):
    L = np.random.default_rng(0).exponential(size=23)
    blocks = fixed_partition(kind, L, 5)
    assert _covers(blocks, 23)
    assert [b.size for b in blocks] == [5, 5, 5, 5, 3]


def test_sort_partition_groups_similar_lipschitz_constants_and_avg_mixes_them():
    L = np.arange(20, dtype=float)
    sort = fixed_partition("sort", L, 5)
    avg = fixed_partition("avg", L, 5)
    spread_sort = max(np.ptp(L[b]) for b in sort)
    spread_avg = max(np.ptp(L[b]) for b in avg)
    assert spread_sort == 4.0  # contiguous ranks
    assert spread_avg > spread_sort
    means = [L[b].mean() for b in avg]
    assert np.ptp(means) < np.ptp([L[b].mean() for b in sort])


@pytest.mark.parametrize(
    "blocks, match",
    [
        ([np.array([0, 1]), np.array([1, 2, 3])], "overlap"),
        ([np.array([0, 1]), np.array([3])], "missing"),
        ([np.array([0, 1, 2, 3]), np.array([], dtype=int)], "non-empty"),
        ([np.array([0, 1, 2, 3, 4])], r"indices in \[0, 4\)"),
        ([np.array([0.0, 1.0, 2.0, 3.0])], "integer dtype"),
        ([], "non-empty list"),
    ],
)
def test_bad_partitions_are_rejected_with_a_pattern_error(blocks, match):
    with pytest.raises(ValueError, match=match):
        validate_partition(blocks, 4)


def test_overlap_is_a_pattern_error():
    with pytest.raises(PatternError):
        validate_partition([np.array([0, 1]), np.array([1, 2, 3])], 4)


@pytest.mark.parametrize("nrows, ncols", [(2, 2), (3, 5), (6, 4), (7, 7)])
def test_lattice_tree_partition_is_two_spanning_forests_covering_the_lattice(nrows, ncols):
    G = _lattice_graph(nrows, ncols)
    blocks = lattice_tree_partition(nrows, ncols)
    assert len(blocks) == 2 and _covers(blocks, nrows * ncols)
    assert all(is_forest(G, b) for b in blocks)
    # a comb is connected: one tree, |edges| = |nodes| - 1
    for b in blocks:
        assert G[b][:, b].nnz // 2 == b.size - 1


@pytest.mark.parametrize("nrows, ncols", [(3, 5), (6, 4)])
def test_lattice_red_black_blocks_have_no_internal_edges(nrows, ncols):
    G = _lattice_graph(nrows, ncols)
    blocks = lattice_red_black(nrows, ncols)
    assert _covers(blocks, nrows * ncols)
    assert all(G[b][:, b].nnz == 0 for b in blocks)


def test_greedy_colouring_and_forest_partition_on_a_random_graph():
    rng = np.random.default_rng(1)
    A = sp.random(60, 60, density=0.08, random_state=2)
    G = ((A + A.T) != 0).astype(float)
    colours = red_black_partition(G)
    forests = forest_partition(G, order=rng.permutation(60))
    assert _covers(colours, 60) and _covers(forests, 60)
    Gd = G.toarray()
    np.fill_diagonal(Gd, 0)
    assert all(Gd[np.ix_(b, b)].sum() == 0 for b in colours)
    assert all(is_forest(G, b) for b in forests)
    assert len(forests) < len(colours)  # forests are bigger blocks than independent sets


def test_is_forest_detects_a_cycle():
    triangle = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=float))
    assert not is_forest(triangle)
    assert is_forest(triangle, [0, 1])


def test_lattice_dataset_partitions_are_restricted_to_the_unlabelled_nodes():
    lp = lattice_label_propagation(8, 9, n_labeled=10, seed=3)
    p = lp.problem.n_params
    assert p == 72 - 10
    assert _covers(lp.trees, p) and _covers(lp.red_black, p)
    assert all(is_forest(lp.problem.graph, b) for b in lp.trees)
    assert all(lp.problem.graph[b][:, b].nnz == 0 for b in lp.red_black)
