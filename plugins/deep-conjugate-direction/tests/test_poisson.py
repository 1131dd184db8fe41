"""The assembled Poisson matrices against a cell-by-cell reference and their spectral facts."""

import numpy as np
import pytest

from sparsehub.errors import ShapeError
from sparsehub_deep_conjugate_direction import poisson_matrix, poisson_null_space


def _reference(shape, boundary, solid):
    """Loop over cells and faces: the textbook finite-volume stencil, one entry at a time."""
    n = int(np.prod(shape))
    A = np.zeros((n, n))
    for idx in np.ndindex(*shape):
        i = np.ravel_multi_index(idx, shape)
        if solid[idx]:
            A[i, i] = 1.0
            continue
        for axis in range(len(shape)):
            for step in (-1, 1):
                nb = list(idx)
                nb[axis] += step
                if not 0 <= nb[axis] < shape[axis]:
                    A[i, i] += boundary == "dirichlet"
                elif not solid[tuple(nb)]:
                    A[i, i] += 1
                    A[i, np.ravel_multi_index(tuple(nb), shape)] = -1
    return A


@pytest.mark.parametrize("shape", [(4, 5), (3, 4, 5)])
@pytest.mark.parametrize("boundary", ["dirichlet", "neumann"])
def test_matrix_matches_the_cell_by_cell_stencil(shape, boundary):
    solid = np.zeros(shape, bool)
    solid[(1,) * len(shape)] = True
    for s in (None, solid):
        A = poisson_matrix(shape, boundary=boundary, solid=s)
        ref = _reference(shape, boundary, np.zeros(shape, bool) if s is None else s)
        np.testing.assert_array_equal(A.toarray(), ref)


def test_dirichlet_matrix_is_spd_with_the_known_spectrum():
    A = poisson_matrix((6, 7)).toarray()
    lam = np.linalg.eigvalsh(A)
    ref = sorted(4 * np.sin(np.pi * i / 14) ** 2 + 4 * np.sin(np.pi * j / 16) ** 2
                 for i in range(1, 7) for j in range(1, 8))
    np.testing.assert_allclose(lam, ref, atol=1e-12)


def test_null_space_is_one_constant_per_closed_region():
    assert poisson_null_space((5, 5)) is None
    N = poisson_null_space((5, 5), boundary="neumann")
    np.testing.assert_allclose(N[:, 0], np.full(25, 0.2))
    solid = np.zeros((7, 7), bool)
    solid[1:6, 1] = solid[1:6, 5] = solid[1, 1:6] = solid[5, 1:6] = True  # a closed box inside
    N = poisson_null_space((7, 7), solid=solid)
    A = poisson_matrix((7, 7), solid=solid).toarray()
    assert N.shape == (49, 1)
    np.testing.assert_allclose(A @ N, 0, atol=1e-12)
    assert np.sum(np.linalg.eigvalsh(A) < 1e-10) == 1


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"shape": (4,)}, "shape"), ({"shape": (4, 1)}, "shape"),
    ({"shape": (4, 4), "boundary": "periodic"}, "boundary"),
    ({"shape": (4, 4), "solid": np.zeros((4, 5), bool)}, r"solid\.shape"),
    ({"shape": (4, 4), "solid": np.zeros((4, 4))}, r"solid\.dtype"),
    ({"shape": (2, 2), "solid": np.ones((2, 2), bool)}, "solid"),
])
def test_bad_grid_arguments_are_named(kwargs, match):
    with pytest.raises((ValueError, ShapeError), match=match):
        poisson_matrix(**kwargs)
