"""Each sketch is the matrix its definition says, unbiased (E[S^T S] = I), deterministic per seed."""

import itertools

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

from sparsehub.errors import ShapeError
from sparsehub_linf_sketch_regression import make_sketch
from sparsehub_linf_sketch_regression.sketches import KINDS


@pytest.mark.parametrize("n", [256, 200])
def test_srht_is_p_h_d_over_sqrt_m_on_zero_padded_rows(n):
    sk = make_sketch("srht", n=n, m=40, random_state=3)
    H = scipy.linalg.hadamard(256)
    expected = H[sk.rows][:, :n] * sk.signs / np.sqrt(40)
    np.testing.assert_allclose(sk.to_dense(), expected, atol=1e-12)
    assert len(set(sk.rows.tolist())) == 40 and sk.N == 256  # m distinct rows, no replacement
    assert set(np.unique(sk.signs)) <= {-1.0, 1.0}
    assert np.all(sk.to_dense() != 0)  # dense: every entry of S is non-zero


def test_srht_column_chunks_give_the_same_sketch(monkeypatch):
    import sparsehub_linf_sketch_regression.sketches as mod

    sk = make_sketch("srht", n=1000, m=50, random_state=0)
    A = np.random.default_rng(0).standard_normal((1000, 7))
    whole = sk.apply(A)
    monkeypatch.setattr(mod, "_DENSE_BUDGET", 1024 * 3)  # three columns per chunk
    np.testing.assert_allclose(sk.apply(A), whole, atol=1e-12)
    SA, Sb = sk.apply_system(A[:, :6], A[:, 6])
    np.testing.assert_allclose(np.column_stack([SA, Sb]), whole, atol=1e-12)


def test_countsketch_has_one_signed_entry_per_column():
    S = make_sketch("countsketch", n=500, m=30, random_state=0).to_dense()
    assert np.all((S != 0).sum(axis=0) == 1)
    assert set(np.unique(S[S != 0])) <= {-1.0, 1.0}


def test_osnap_has_s_entries_per_column_one_per_block():
    m, s = 30, 4
    S = make_sketch("osnap", n=500, m=m, s=s, random_state=0).to_dense()
    assert np.all((S != 0).sum(axis=0) == s)
    np.testing.assert_allclose(np.abs(S[S != 0]), 1 / np.sqrt(s))
    bounds = np.linspace(0, m, s + 1).astype(int)
    for lo, hi in itertools.pairwise(bounds):
        assert np.all((S[lo:hi] != 0).sum(axis=0) == 1)


def test_gaussian_entries_have_variance_one_over_m():
    S = make_sketch("gaussian", n=5000, m=100, random_state=0).to_dense()
    assert abs(S.mean()) < 5 * 0.1 / np.sqrt(S.size)
    assert abs(S.var() * 100 - 1) < 0.01


@pytest.mark.parametrize("kind", KINDS)
def test_every_sketch_is_unbiased(kind):
    n, m, draws = 32, 8, 1500
    acc = np.zeros((n, n))
    for seed in range(draws):
        S = make_sketch(kind, n=n, m=m, random_state=seed).to_dense()
        acc += S.T @ S
    np.testing.assert_allclose(acc / draws, np.eye(n), atol=0.12)


@pytest.mark.parametrize("kind", KINDS)
def test_a_sketch_is_deterministic_and_linear(kind):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((300, 4))
    sk = make_sketch(kind, n=300, m=20, random_state=7)
    again = make_sketch(kind, n=300, m=20, random_state=7)
    np.testing.assert_allclose(sk.apply(A), again.apply(A))
    np.testing.assert_allclose(sk.apply(A), sk.apply(A))
    np.testing.assert_allclose(sk.apply(A[:, 1]), sk.apply(A)[:, 1], atol=1e-12)
    np.testing.assert_allclose(sk.apply(A), sk.to_dense() @ A, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_sparse_input_gives_the_dense_result(kind):
    A = sp.random(400, 5, density=0.3, random_state=0, format="csr")
    sk = make_sketch(kind, n=400, m=30, random_state=1)
    np.testing.assert_allclose(sk.apply(A), sk.apply(A.toarray()), atol=1e-12)


@pytest.mark.parametrize("kind", ["srht", "gaussian"])
def test_dense_sketch_of_a_very_sparse_matrix_warns(kind):
    A = sp.random(1000, 5, density=0.01, random_state=0, format="csr")
    with pytest.warns(UserWarning, match="densifies"):
        make_sketch(kind, n=1000, m=30, random_state=1).apply(A)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "fjlt", "n": 10, "m": 5}, "kind='fjlt'"),
        ({"n": 10, "m": 11}, r"m=11 .*\[1, 10\]"),
        ({"n": 10, "m": 0}, "m=0"),
        ({"n": 10, "m": True}, "m=True"),
        ({"n": 0, "m": 1}, "n=0"),
        ({"kind": "osnap", "n": 10, "m": 3, "s": 4}, "s=4"),
    ],
)
def test_bad_sketch_parameters_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_sketch(**kwargs)


def test_bad_data_for_apply():
    sk = make_sketch("srht", n=10, m=5, random_state=0)
    with pytest.raises(ShapeError, match=r"A\.shape"):
        sk.apply(np.zeros((9, 2)))
    with pytest.raises(ValueError, match="real"):
        sk.apply(np.zeros((10, 2), dtype=complex))
    with pytest.raises(ShapeError):
        sk.apply_system(np.zeros((10, 2)), np.zeros(9))
