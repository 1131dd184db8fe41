"""The batched per-row least squares of one AltMin half-step, against numpy.linalg.lstsq row by row."""

import numpy as np
import pytest
import scipy.sparse as sp

from sparsehub.errors import ShapeError
from sparsehub_robust_altmin_completion import kernels
from sparsehub_robust_altmin_completion.least_squares import row_least_squares
from sparsehub_robust_altmin_completion.observations import as_observations


def _random_rows(m=40, n=30, k=4, density=0.5, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random((m, n)) < density
    values = rng.standard_normal((m, n))
    X = sp.csr_matrix((values[mask], np.nonzero(mask)), shape=(m, n))
    F = rng.standard_normal((n, k))
    return X, F, mask, values, rng


def _lstsq_rows(mask, values, F):
    out = np.zeros((mask.shape[0], F.shape[1]))
    for i in range(mask.shape[0]):
        cols = np.flatnonzero(mask[i])
        out[i] = np.linalg.lstsq(F[cols], values[i, cols], rcond=None)[0]
    return out


def test_exact_solver_matches_numpy_lstsq_on_every_row():
    X, F, mask, values, _ = _random_rows()
    assert mask.sum(1).min() >= F.shape[1]  # every row determined
    got = row_least_squares(X, F, solver="exact")
    np.testing.assert_allclose(got, _lstsq_rows(mask, values, F), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("solver", ["cg", "sketched"])
def test_iterative_solvers_with_k_steps_match_numpy_lstsq(solver):
    # CG on a k x k SPD system is exact after k steps in exact arithmetic; 2k leaves room for rounding
    X, F, mask, values, _ = _random_rows()
    F = np.linalg.qr(F)[0]
    got = row_least_squares(X, F, solver=solver, inner_iter=2 * F.shape[1])
    np.testing.assert_allclose(got, _lstsq_rows(mask, values, F), rtol=1e-6, atol=1e-8)


def test_sketched_preconditioner_is_exact_when_a_row_fits_in_the_sketch():
    # with at most s observations per row the CountSketch copies the rows: one PCG step solves exactly
    X, F, mask, values, _ = _random_rows(density=0.3, seed=3)
    got = row_least_squares(X, F, solver="sketched", inner_iter=1, sketch_size=int(mask.sum(1).max()))
    np.testing.assert_allclose(got, _lstsq_rows(mask, values, F), rtol=1e-6, atol=1e-8)
    # the same with a sketch smaller than the rows: one step is then only approximate
    approx = row_least_squares(X, F, solver="sketched", inner_iter=1, sketch_size=F.shape[1])
    assert np.abs(approx - _lstsq_rows(mask, values, F)).max() > 1e-3


def test_one_warm_started_cg_step_moves_every_row_closer_to_its_solution():
    X, F, mask, values, rng = _random_rows(seed=5)
    F = np.linalg.qr(F)[0]
    exact = _lstsq_rows(mask, values, F)
    x0 = exact + 0.3 * rng.standard_normal(exact.shape)
    one = row_least_squares(X, F, solver="cg", inner_iter=1, x0=x0)
    G = np.stack([F[mask[i]].T @ F[mask[i]] for i in range(mask.shape[0])])

    def energy(x):  # the error in the G-norm, which CG minimises over its Krylov space
        d = x - exact
        return np.einsum("ti,tij,tj->t", d, G, d)

    assert np.all(energy(one) <= energy(x0) * (1 + 1e-12))
    assert energy(one).sum() < 0.5 * energy(x0).sum()


def test_underdetermined_rows_get_the_minimum_norm_solution_and_empty_rows_zero():
    rng = np.random.default_rng(1)
    n, k = 12, 4
    F = rng.standard_normal((n, k))
    values = rng.standard_normal((3, n))
    mask = np.zeros((3, n), dtype=bool)
    mask[0, :8] = True  # determined
    mask[1, [2, 5]] = True  # two observations, four unknowns
    X = sp.csr_matrix((values[mask], np.nonzero(mask)), shape=(3, n))
    got = row_least_squares(X, F, solver="exact")
    np.testing.assert_allclose(got[:2], _lstsq_rows(mask[:2], values[:2], F), rtol=1e-5, atol=1e-6)
    assert np.all(got[2] == 0)


def test_kernels_agree_with_dense_numpy():
    X, F, mask, _, rng = _random_rows(seed=7)
    e = as_observations(X).by_row
    T = rng.standard_normal((X.shape[0], F.shape[1]))
    dense = T @ F.T
    np.testing.assert_allclose(
        kernels.sample(e.indptr, e.source, T, F), dense[e.target, e.source], rtol=1e-10, atol=1e-12
    )
    gd, sampled = kernels.normal_matvec(e.indptr, e.source, T, F, 0.5)
    expected = np.stack([F[mask[i]].T @ (F[mask[i]] @ T[i]) for i in range(mask.shape[0])]) + 0.5 * T
    np.testing.assert_allclose(gd, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sampled, dense[e.target, e.source], rtol=1e-10, atol=1e-12)
    gram = kernels.gram(e.indptr, e.source, F, 0.0)
    np.testing.assert_allclose(gram[3], F[mask[3]].T @ F[mask[3]], rtol=1e-12)


def test_bad_arguments_name_what_is_wrong():
    X, F, *_ = _random_rows()
    with pytest.raises(ShapeError, match=r"F\.shape"):
        row_least_squares(X, F[:-1])
    with pytest.raises(ShapeError, match=r"x0\.shape"):
        row_least_squares(X, F, solver="cg", x0=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="solver='qr'"):
        row_least_squares(X, F, solver="qr")
    with pytest.raises(ValueError, match="NaN/Inf"):
        row_least_squares(X, np.full_like(F, np.nan))
