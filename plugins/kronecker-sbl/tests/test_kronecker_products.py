"""The Kronecker identities the solver relies on, checked against np.kron on small cases."""

import numpy as np
import pytest

from sparsehub_kronecker_sbl.kronecker import kron_matvec, kron_outer, kron_rmatvec, mode_products


def _factors(rng, shapes, complex_valued=False):
    out = []
    for m, n in shapes:
        a = rng.standard_normal((m, n))
        out.append(a + 1j * rng.standard_normal((m, n)) if complex_valued else a)
    return out


def _dense(factors):
    out = factors[0]
    for f in factors[1:]:
        out = np.kron(out, f)
    return out


@pytest.mark.parametrize("shapes", [[(3, 4), (5, 2)], [(2, 3), (4, 2), (3, 5)], [(1, 3), (3, 1), (2, 2), (2, 3)]])
@pytest.mark.parametrize("complex_valued", [False, True])
def test_kron_matvec_equals_the_dense_kronecker_product(shapes, complex_valued):
    rng = np.random.default_rng(0)
    factors = _factors(rng, shapes, complex_valued)
    n = int(np.prod([s[1] for s in shapes]))
    x = rng.standard_normal(n)
    np.testing.assert_allclose(kron_matvec(factors, x), _dense(factors) @ x, atol=1e-12)
    xs = rng.standard_normal((n, 3))
    np.testing.assert_allclose(kron_matvec(factors, xs), _dense(factors) @ xs, atol=1e-12)


@pytest.mark.parametrize("complex_valued", [False, True])
def test_kron_rmatvec_is_the_conjugate_transpose_product(complex_valued):
    rng = np.random.default_rng(1)
    factors = _factors(rng, [(3, 4), (2, 5), (4, 3)], complex_valued)
    y = rng.standard_normal(24) + (1j * rng.standard_normal(24) if complex_valued else 0)
    np.testing.assert_allclose(kron_rmatvec(factors, y), _dense(factors).conj().T @ y, atol=1e-12)


def test_two_factor_product_is_a1_x_a2_transposed_in_c_order():
    # (A1 ⊗ A2) vec(X) = vec(A1 X A2ᵀ) with numpy's row-major vec.
    rng = np.random.default_rng(2)
    a1, a2, x = rng.standard_normal((3, 4)), rng.standard_normal((5, 6)), rng.standard_normal((4, 6))
    np.testing.assert_allclose(kron_matvec([a1, a2], x.reshape(-1)), (a1 @ x @ a2.T).reshape(-1), atol=1e-12)
    np.testing.assert_allclose(mode_products(x, [a1, a2]), a1 @ x @ a2.T, atol=1e-12)


def test_mode_products_skip_modes_given_none():
    rng = np.random.default_rng(3)
    t, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 3))
    np.testing.assert_allclose(mode_products(t, [None, b, None]), np.einsum("ij,ajc->aic", b, t), atol=1e-12)


def test_kron_outer_flattens_to_np_kron_of_the_vectors():
    rng = np.random.default_rng(4)
    vs = [rng.standard_normal(n) for n in (3, 2, 4)]
    np.testing.assert_allclose(kron_outer(vs).reshape(-1), np.kron(np.kron(vs[0], vs[1]), vs[2]))
