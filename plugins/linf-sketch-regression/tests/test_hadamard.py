"""The fast Walsh-Hadamard transform equals the dense Sylvester-Hadamard product (scipy.linalg.hadamard)."""

import numpy as np
import pytest
import scipy.linalg

from sparsehub.errors import ShapeError
from sparsehub_linf_sketch_regression.hadamard import (
    fwht,
    next_power_of_two,
    sampled_hadamard_rows,
    signed_sampled_hadamard,
    split_for_rows,
)


@pytest.mark.parametrize("N", [1, 2, 8, 64, 1024])
def test_fwht_equals_the_dense_hadamard_product(N):
    X = np.random.default_rng(N).standard_normal((N, 3))
    expected = scipy.linalg.hadamard(N) @ X
    np.testing.assert_allclose(fwht(X.copy()), expected, atol=1e-10 * N)


def test_fwht_twice_is_n_times_identity():
    X = np.random.default_rng(0).standard_normal((256, 2))
    np.testing.assert_allclose(fwht(fwht(X.copy())), 256 * X, atol=1e-9)


@pytest.mark.parametrize("N, m", [(4096, 5), (4096, 300), (8192, 2000), (512, 512)])
def test_sampled_rows_equal_the_full_transform_at_every_split(N, m):
    rng = np.random.default_rng(m)
    X = rng.standard_normal((N, 4))
    rows = np.sort(rng.choice(N, m, replace=False))
    full = fwht(X.copy())[rows]
    assert split_for_rows(N, m, 4) in [1 << i for i in range(N.bit_length())]
    np.testing.assert_allclose(sampled_hadamard_rows(X.copy(), rows), full, atol=1e-9 * N)


def test_signed_sampled_hadamard_pads_flips_signs_and_reads_only():
    rng = np.random.default_rng(1)
    n, N = 300, 512
    A, b = rng.standard_normal((n, 3)), rng.standard_normal(n)
    A0, b0 = A.copy(), b.copy()
    signs = rng.choice([-1.0, 1.0], n)
    rows = np.array([0, 7, 300, 511])
    padded = np.zeros((N, 4))
    padded[:n, :3], padded[:n, 3] = A * signs[:, None], b * signs
    expected = (scipy.linalg.hadamard(N) @ padded)[rows]
    np.testing.assert_allclose(signed_sampled_hadamard(A, b, signs, N, rows), expected, atol=1e-9)
    np.testing.assert_allclose(signed_sampled_hadamard(np.asfortranarray(A), None, signs, N, rows),
                               expected[:, :3], atol=1e-9)
    assert np.array_equal(A, A0) and np.array_equal(b, b0)


def test_split_keeps_the_plain_transform_when_most_rows_are_kept():
    assert split_for_rows(1024, 1024) == 1024
    assert split_for_rows(1 << 17, 3400, 51) < 1 << 17


def test_next_power_of_two():
    assert [next_power_of_two(n) for n in (1, 2, 3, 1000, 1024, 1025)] == [1, 2, 4, 1024, 1024, 2048]
    with pytest.raises(ValueError, match="n=0"):
        next_power_of_two(0)


def test_bad_input_is_rejected():
    with pytest.raises(ShapeError, match="power of two"):
        fwht(np.zeros((6, 2)))
    with pytest.raises(ValueError, match="float64"):
        fwht(np.zeros((8, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="float64"):
        fwht(np.zeros((8, 2), order="F"))
    with pytest.raises(ValueError, match="rows"):
        sampled_hadamard_rows(np.zeros((8, 2)), np.array([8]))
    with pytest.raises(ValueError, match="N=100"):
        signed_sampled_hadamard(np.zeros((50, 2)), None, np.ones(50), 100, np.array([0]))
