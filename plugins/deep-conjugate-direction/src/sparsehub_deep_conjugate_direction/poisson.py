"""Assembled Poisson matrices on regular grids: the sparse SPD systems the paper solves (section 2).

The paper's matrices are the pressure Poisson equations of incompressible-fluid solvers: the
5-point (2-D) or 7-point (3-D) Laplacian on a cell-centred grid, multiplied through by h² so the
entries are integers, with Dirichlet (open, air) or Neumann (closed wall) faces at the domain
boundary and solid obstacles whose faces are Neumann walls. Every function returns
``scipy.sparse.csr_array`` of shape (n, n) with n = prod(shape) and cells in C order (the last grid
axis varies fastest), the order :class:`~.network.DCDMNet` reshapes residuals with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from sparsehub.errors import ShapeError, bad_value

__all__ = ["grid_shape_of", "poisson_matrix", "poisson_null_space"]

_BOUNDARIES = ("dirichlet", "neumann")


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    try:
        dims = tuple(int(s) for s in shape)
    except TypeError:
        raise bad_value("shape", shape, "a tuple of 2 or 3 grid sizes") from None
    if len(dims) not in (2, 3) or any(d < 2 or d != s for d, s in zip(dims, shape)):
        raise bad_value("shape", shape, "a tuple of 2 or 3 ints, each >= 2", ShapeError)
    return dims


def _check_solid(solid: np.ndarray | None, dims: tuple[int, ...]) -> np.ndarray:
    if solid is None:
        return np.zeros(dims, dtype=bool)
    arr = np.asarray(solid)
    if arr.shape != dims:
        raise bad_value("solid.shape", arr.shape, f"the grid shape {dims}", ShapeError)
    if arr.dtype != bool:
        raise bad_value("solid.dtype", arr.dtype, "bool (True marks a solid cell)")
    if arr.all():
        raise bad_value("solid", "all cells solid", "at least one fluid cell")
    return arr


def poisson_matrix(shape: Sequence[int], *, boundary: str = "dirichlet",
                   solid: np.ndarray | None = None) -> sp.csr_array:
    """The h²-scaled finite-volume Laplacian -Δ on a ``shape`` grid (2-D 5-point or 3-D 7-point).

    Row i of fluid cell i: ``A[i, i]`` = number of its faces that are open (to a fluid neighbour
    or a Dirichlet domain boundary), ``A[i, j] = -1`` for each fluid neighbour j. Faces to a solid
    cell, and domain faces when ``boundary="neumann"``, are closed walls (zero flux) and add
    nothing. A solid cell (``solid[idx] = True``) is decoupled with an identity row, so the system
    stays square on the full grid and its solution there is b's value (pass b = 0 on solids).

    With ``boundary="dirichlet"`` every fluid region touching the domain edge makes A positive
    definite; a fluid region closed on all sides (``"neumann"``, or enclosed by solids) adds a
    constant null vector: :func:`poisson_null_space` returns them, and :func:`~.iteration.dcdm` takes
    them as ``null_space``.
    """
    dims = _check_shape(shape)
    if boundary not in _BOUNDARIES:
        raise bad_value("boundary", boundary, f"one of {_BOUNDARIES}")
    solid = _check_solid(solid, dims)
    fluid = ~solid
    n = int(np.prod(dims))
    index = np.arange(n).reshape(dims)
    diag = np.zeros(dims)
    rows, cols = [], []
    for axis, size in enumerate(dims):
        lo = [slice(None)] * len(dims)
        hi = [slice(None)] * len(dims)
        lo[axis], hi[axis] = slice(0, size - 1), slice(1, size)
        both = fluid[tuple(lo)] & fluid[tuple(hi)]  # an open interior face between two fluid cells
        a, b = index[tuple(lo)][both], index[tuple(hi)][both]
        rows += [a, b]
        cols += [b, a]
        diag[tuple(lo)] += both
        diag[tuple(hi)] += both
        if boundary == "dirichlet":
            for edge in (0, size - 1):
                cut = [slice(None)] * len(dims)
                cut[axis] = edge
                diag[tuple(cut)] += 1
    diag = np.where(fluid, diag, 1.0)
    off_r = np.concatenate(rows) if rows else np.zeros(0, int)
    off_c = np.concatenate(cols) if cols else np.zeros(0, int)
    r = np.concatenate([np.arange(n), off_r])
    c = np.concatenate([np.arange(n), off_c])
    v = np.concatenate([diag.ravel(), -np.ones(off_r.size)])
    return sp.csr_array(sp.coo_array((v, (r, c)), shape=(n, n)))


def poisson_null_space(shape: Sequence[int], *, boundary: str = "dirichlet",
                       solid: np.ndarray | None = None) -> np.ndarray | None:
    """Unit vectors spanning the null space of :func:`poisson_matrix` (same arguments), or None.

    One vector per fluid region with no open domain face: constant on that region, zero elsewhere,
    of unit norm. Shape (n, k); None when A is positive definite (k = 0).
    """
    from scipy.sparse.csgraph import connected_components

    dims = _check_shape(shape)
    if boundary not in _BOUNDARIES:
        raise bad_value("boundary", boundary, f"one of {_BOUNDARIES}")
    solid = _check_solid(solid, dims)
    A = poisson_matrix(dims, boundary=boundary, solid=solid)
    fluid = ~solid.ravel()
    off = A.copy()
    off.setdiag(0)
    off.eliminate_zeros()
    _, labels = connected_components(off, directed=False)
    row_sums = np.asarray(A.sum(axis=1)).ravel()
    vectors = []
    for label in np.unique(labels[fluid]):
        region = (labels == label) & fluid
        if np.all(row_sums[region] == 0):  # no Dirichlet face anywhere on the region
            v = region.astype(float)
            vectors.append(v / np.linalg.norm(v))
    return np.stack(vectors, axis=1) if vectors else None


def grid_shape_of(n: int, dim: int) -> tuple[int, ...]:
    """The square (``dim`` = 2) or cubic (3) grid with ``n`` cells; ShapeError when n is not one."""
    side = round(n ** (1.0 / dim))
    for s in (side - 1, side, side + 1):
        if s > 0 and s**dim == n:
            return (s,) * dim
    raise bad_value("grid_shape", None, f"the grid shape: n={n} is not a {dim}-D square/cube grid",
                    ShapeError)
