"""The Newton stage's pieces against dense references: top-k, Hessian, CG, gradient of phi."""

import numpy as np
import pytest

from sparsehub_sinkhorn_newton_sparse.newton import conjugate_gradient, sparsified_hessian, top_entries
from sparsehub_sinkhorn_newton_sparse.potentials import lyapunov, plan
from sparsehub_sinkhorn_newton_sparse.sinkhorn import sinkhorn_iterations


def _state(n=40, m=30, eta=50.0, seed=0):
    rng = np.random.default_rng(seed)
    L = -eta * rng.random((n, m)) - 1
    r, c = np.full(n, 1 / n), np.full(m, 1 / m)
    u, v = np.zeros(n), np.zeros(m)
    sinkhorn_iterations(L, u, v, r, c, 5)
    return L, u, v, r, c


def test_top_entries_keeps_exactly_the_largest_by_brute_force():
    P = np.random.default_rng(1).random((30, 20))
    Ps = top_entries(P, 75)
    assert Ps.nnz == 75
    order = np.argsort(P.ravel())[::-1][:75]
    expected = np.zeros(P.size)
    expected[order] = P.ravel()[order]
    np.testing.assert_array_equal(Ps.toarray().ravel(), expected)


@pytest.mark.parametrize("keep", [1, 7, 300, 3000, 59_999])
def test_prefiltered_selection_finds_the_exact_kth_largest(keep):
    rng = np.random.default_rng(keep)
    for flat in (rng.random(60_000), np.sort(rng.random(60_000)), rng.random(60_000) ** 40):
        Ps = top_entries(flat.reshape(300, 200), keep)
        assert Ps.nnz == keep
        np.testing.assert_array_equal(np.sort(Ps.data), np.sort(flat)[::-1][:keep][::-1])


def test_sparsified_hessian_keeps_the_exact_diagonal_and_is_psd():
    L, u, v, _, _ = _state()
    P = plan(L, u, v)
    H = sparsified_hessian(P, 100)
    Ps = H.Ps.toarray()
    dense = np.block([[np.diag(P.sum(1)), Ps], [Ps.T, np.diag(P.sum(0))]])
    x = np.random.default_rng(2).standard_normal(70)
    np.testing.assert_allclose(H.matvec(x), dense @ x, rtol=1e-12, atol=1e-15)
    assert np.linalg.eigvalsh(dense).min() > -1e-14


def test_dense_hessian_is_minus_the_hessian_of_the_lyapunov_potential():
    L, u, v, r, c = _state(8, 6)
    P = plan(L, u, v)
    H = sparsified_hessian(P, P.size)
    z = np.concatenate((u, v))

    def grad(z):
        Pz = plan(L, z[:8], z[8:])
        return np.concatenate((r - Pz.sum(1), c - Pz.sum(0)))

    eps = 1e-6
    num = np.column_stack([(grad(z + eps * e) - grad(z - eps * e)) / (2 * eps) for e in np.eye(14)])
    x = np.arange(14.0)
    np.testing.assert_allclose(-num @ x, H.matvec(x), rtol=1e-6, atol=1e-9)
    phi = lambda z: lyapunov(plan(L, z[:8], z[8:]), z[:8], z[8:], r, c)  # noqa: E731
    num_g = np.array([(phi(z + eps * e) - phi(z - eps * e)) / (2 * eps) for e in np.eye(14)])
    np.testing.assert_allclose(num_g, grad(z), atol=1e-8)


@pytest.mark.parametrize("precondition", [False, True])
def test_conjugate_gradient_solves_the_sparsified_system(precondition):
    L, u, v, r, c = _state()
    H = sparsified_hessian(plan(L, u, v), 120)
    g = np.concatenate((r - H.a, c - H.b))
    d, it, ok = conjugate_gradient(H.matvec, g, np.zeros(70), rtol=1e-10, maxiter=1000,
                                   diagonal=H.diagonal if precondition else None)
    assert ok and it > 0
    assert np.linalg.norm(H.matvec(d) - g) <= 1e-10 * np.linalg.norm(g)


def test_compiled_cg_equals_the_numpy_reference():
    from sparsehub_sinkhorn_newton_sparse.kernels import hessian_cg

    L, u, v, r, c = _state()
    H = sparsified_hessian(plan(L, u, v), 120)
    g = np.concatenate((r - H.a, c - H.b))
    inv = 1 / H.diagonal
    ref, it_ref, _ = conjugate_gradient(H.matvec, g, np.zeros(70), rtol=1e-10, maxiter=1000, diagonal=H.diagonal)
    fast, it, ok = hessian_cg(H.a, H.b, H.Ps.indptr.astype(np.int64), H.Ps.indices.astype(np.int64), H.Ps.data,
                              g, np.zeros(70), inv, 1e-10, 1000)
    assert ok and abs(it - it_ref) <= 1
    np.testing.assert_allclose(fast, ref, rtol=1e-8, atol=1e-12)


def test_sinkhorn_iteration_makes_the_column_marginal_exact():
    L, u, v, r, c = _state(eta=20.0)
    done, err = sinkhorn_iterations(L, u, v, r, c, 3)
    P = plan(L, u, v)
    assert done == 3
    np.testing.assert_allclose(P.sum(0), c, rtol=1e-12)
    assert err == pytest.approx(np.abs(P.sum(1) - r).sum(), rel=1e-6, abs=1e-15)


def test_compiled_plan_equals_numpy_including_underflow_and_overflow():
    L, u, v, _, _ = _state()
    L = L.copy()
    L[0, 0], L[1, 1] = -1e4, 800.0  # exp underflows to 0 / overflows to inf
    fast, ref = plan(L, u, v), plan(L, u, v, compiled=False)
    assert fast[0, 0] == ref[0, 0] == 0 and np.isposinf(fast[1, 1]) and np.isposinf(ref[1, 1])
    np.testing.assert_allclose(fast, ref, rtol=1e-14, atol=0)  # exp implementations differ by an ulp
