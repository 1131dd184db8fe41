"""The generated test problems have the paper's shapes and normalisations."""

import numpy as np
import pytest

from sparsehub_sinkhorn_newton_sparse import gaussian_mixture_clouds, grid_densities, random_assignment


def test_problems_are_probability_marginals_with_costs_in_unit_range():
    for a, b, M in (random_assignment(30), gaussian_mixture_clouds(25), grid_densities(6, "l1"),
                    grid_densities(6, "l2")):
        assert M.shape == (a.size, b.size)
        assert a.sum() == pytest.approx(1) and b.sum() == pytest.approx(1)
        assert (a > 0).all() and (b > 0).all() and M.min() >= 0 and M.max() <= 1


def test_grid_costs_are_the_l1_and_squared_distances():
    _, _, M1 = grid_densities(3, "l1")
    _, _, M2 = grid_densities(3, "l2")
    assert M1[0, 8] == 1.0 and M1[0, 1] == pytest.approx(0.25)
    assert M2[0, 8] == 1.0 and M2[0, 1] == pytest.approx(0.125)


def test_problems_are_seeded():
    np.testing.assert_array_equal(random_assignment(10, 3)[2], random_assignment(10, 3)[2])
    assert not np.array_equal(gaussian_mixture_clouds(10, 1)[2], gaussian_mixture_clouds(10, 2)[2])


@pytest.mark.parametrize(("fn", "kwargs", "name"), [(random_assignment, {"n": 0}, "n"),
                                                   (grid_densities, {"metric": "linf"}, "metric"),
                                                   (grid_densities, {"k": 1}, "k")])
def test_bad_sizes_are_rejected(fn, kwargs, name):
    with pytest.raises(ValueError, match=name):
        fn(**kwargs)
