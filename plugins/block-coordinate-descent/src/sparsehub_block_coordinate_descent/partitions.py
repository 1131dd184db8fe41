"""Fixed block partitions (paper Section 3.1) and forest-structured partitions of sparse graphs (Section 5).

A partition is a list of disjoint index arrays covering 0..p-1. ``order`` takes contiguous
blocks, ``sort`` groups coordinates of similar Lipschitz constant L_i, ``avg`` mixes large and
small L_i in every block. For quadratics on a graph, :func:`red_black_partition` gives blocks
with no internal edges (diagonal Hessian blocks) and :func:`forest_partition` /
:func:`lattice_tree_partition` give blocks whose induced graph is a forest, solvable exactly by
message passing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparsehub.errors import PatternError, bad_value

__all__ = [
    "fixed_partition",
    "forest_partition",
    "is_forest",
    "lattice_red_black",
    "lattice_tree_partition",
    "red_black_partition",
    "validate_partition",
]

FIXED_KINDS = ("order", "sort", "avg")


def fixed_partition(kind: str, lipschitz: np.ndarray, block_size: int) -> list[np.ndarray]:
    """Blocks of ``block_size`` coordinates (the last may be smaller) by the paper's rule ``kind``.

    order: 0..τ-1, τ..2τ-1, ...; sort: sorted by L_i so each block has similar constants;
    avg: sorted indices dealt from both ends so each block mixes large and small L_i.
    """
    p = lipschitz.shape[0]
    if kind == "order":
        perm = np.arange(p)
    elif kind == "sort":
        perm = np.argsort(-lipschitz, kind="stable")
    elif kind == "avg":
        s = np.argsort(-lipschitz, kind="stable")
        perm = np.empty(p, dtype=np.int64)
        perm[0::2] = s[: (p + 1) // 2]
        perm[1::2] = s[::-1][: p // 2]
    else:
        raise bad_value("partition", kind, f"one of {FIXED_KINDS}, 'variable' or a list of index arrays")
    return [np.sort(perm[i : i + block_size]) for i in range(0, p, block_size)]


def validate_partition(blocks: Any, p: int) -> list[np.ndarray]:
    """Check that ``blocks`` are non-empty, disjoint integer arrays covering exactly 0..p-1."""
    if isinstance(blocks, np.ndarray) and blocks.ndim == 2:
        blocks = list(blocks)
    if not isinstance(blocks, (list, tuple)) or not blocks:
        raise bad_value("partition", type(blocks).__name__, "a non-empty list of index arrays")
    out = []
    seen = np.zeros(p, dtype=np.int64)
    for i, b in enumerate(blocks):
        arr = np.asarray(b)
        if arr.ndim != 1 or arr.size == 0:
            raise bad_value(
                f"partition[{i}]",
                f"an array of shape {arr.shape}",
                "a non-empty 1-D index array",
                PatternError,
            )
        if arr.dtype.kind not in "iu":
            raise bad_value(f"partition[{i}].dtype", arr.dtype, "an integer dtype", PatternError)
        if arr.min() < 0 or arr.max() >= p:
            raise bad_value(
                f"partition[{i}]",
                f"indices in [{arr.min()}, {arr.max()}]",
                f"indices in [0, {p})",
                PatternError,
            )
        np.add.at(seen, arr, 1)
        out.append(np.sort(arr.astype(np.int64)))
    if (seen > 1).any():
        raise bad_value(
            "partition",
            f"blocks that overlap on {int((seen > 1).sum())} coordinates",
            "disjoint blocks",
            PatternError,
        )
    if (seen == 0).any():
        missing = np.flatnonzero(seen == 0)
        raise bad_value(
            "partition",
            f"blocks missing {missing.size} coordinates (e.g. {missing[:5].tolist()})",
            f"blocks that cover all {p} coordinates",
            PatternError,
        )
    return out


def _csr(graph: Any) -> Any:
    import scipy.sparse as sp

    G = sp.csr_matrix(graph)
    if G.shape[0] != G.shape[1]:
        raise bad_value("graph.shape", G.shape, "a square adjacency matrix", PatternError)
    G = (G + G.T).tocsr()
    G.setdiag(0)
    G.eliminate_zeros()
    G.sort_indices()
    return G


def is_forest(graph: Any, block: Any = None) -> bool:
    """True when the graph (restricted to ``block`` if given) has no cycle: union-find over its edges."""
    G = _csr(graph)
    nodes = np.arange(G.shape[0]) if block is None else np.asarray(block)
    sub = G[nodes][:, nodes].tocoo()
    parent = np.arange(nodes.size)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, j in zip(sub.row, sub.col, strict=True):
        if i < j:
            ri, rj = find(i), find(j)
            if ri == rj:
                return False
            parent[ri] = rj
    return True


def red_black_partition(graph: Any, order: Any = None) -> list[np.ndarray]:
    """Greedy colouring: blocks are independent sets, so each block's Hessian Q_bb is diagonal.

    Nodes are coloured in ``order`` (default 0..p-1) with the least-used colour that no neighbour
    has. On a lattice this is the red-black ordering.
    """
    G = _csr(graph)
    p = G.shape[0]
    colour = -np.ones(p, dtype=np.int64)
    sizes: list[int] = []
    for v in range(p) if order is None else np.asarray(order):
        taken = set(colour[G.indices[G.indptr[v] : G.indptr[v + 1]]].tolist())
        free = [c for c in range(len(sizes)) if c not in taken]
        if free:
            c = min(free, key=lambda k: sizes[k])
            sizes[c] += 1
        else:
            c = len(sizes)
            sizes.append(1)
        colour[v] = c
    return [np.flatnonzero(colour == c) for c in range(len(sizes))]


def forest_partition(graph: Any, order: Any = None) -> list[np.ndarray]:
    """Greedy partition into forests: each node joins the first block where it closes no cycle.

    A node may join a block when its neighbours inside that block lie in different trees of it
    (union-find per block). Blocks are far larger than colour classes, which is the point of the
    paper's tree partitions.
    """
    G = _csr(graph)
    p = G.shape[0]
    block_of = -np.ones(p, dtype=np.int64)
    parent = np.arange(p)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    n_blocks = 0
    for v in range(p) if order is None else np.asarray(order):
        nbrs = G.indices[G.indptr[v] : G.indptr[v + 1]]
        for blk in range(n_blocks + 1):
            roots = [find(u) for u in nbrs if block_of[u] == blk]
            if len(roots) == len(set(roots)):
                break
        block_of[v] = blk
        n_blocks = max(n_blocks, blk + 1)
        for r in roots:
            parent[r] = v
    return [np.flatnonzero(block_of == b) for b in range(n_blocks)]


def lattice_red_black(nrows: int, ncols: int) -> list[np.ndarray]:
    """The two colour classes of an nrows x ncols lattice, node (r, c) numbered c * nrows + r."""
    r, c = np.divmod(np.arange(nrows * ncols), nrows)[::-1]
    red = (r + c) % 2 == 0
    return [np.flatnonzero(red), np.flatnonzero(~red)]


def lattice_tree_partition(nrows: int, ncols: int) -> list[np.ndarray]:
    """Two interlocking combs covering an nrows x ncols lattice; each induces a tree.

    Comb 1: the first row plus the even columns without their last row; comb 2: the rest (the
    last row plus the odd columns without their first row). Node (r, c) is c * nrows + r.
    """
    if nrows < 2 or ncols < 1:
        raise bad_value("nrows, ncols", (nrows, ncols), "nrows >= 2 and ncols >= 1")
    r, c = np.divmod(np.arange(nrows * ncols), nrows)[::-1]
    first = (r == 0) | ((c % 2 == 0) & (r < nrows - 1))
    return [np.flatnonzero(first), np.flatnonzero(~first)]
