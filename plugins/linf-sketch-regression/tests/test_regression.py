"""sketch_lstsq: exact on consistent systems, equal to the explicit sketched problem, the paper's
row count and error measure, and clear errors on bad input."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from sparsehub.errors import ShapeError
from sparsehub.solver import SolverResult
from sparsehub_linf_sketch_regression import (
    RankDeficiencyWarning,
    coherent_spike_problem,
    default_rows,
    linf_epsilon,
    linf_error,
    linf_reference,
    linf_rows,
    make_sketch,
    sketch_lstsq,
)
from sparsehub_linf_sketch_regression.sketches import KINDS

RNG = np.random.default_rng(0)
A = RNG.standard_normal((600, 8))
B = A @ RNG.standard_normal(8) + 0.5 * RNG.standard_normal(600)


@pytest.mark.parametrize("kind", KINDS)
def test_consistent_system_is_solved_exactly_by_every_sketch(kind):
    x = np.arange(8.0)
    res = sketch_lstsq(A, A @ x, 60, kind, random_state=1)
    np.testing.assert_allclose(res.x, x, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_solution_is_the_lstsq_of_the_explicitly_sketched_problem(kind):
    res = sketch_lstsq(A, B, 50, kind, random_state=4)
    S = make_sketch(kind, n=600, m=50, random_state=4).to_dense()
    np.testing.assert_allclose(res.x, np.linalg.lstsq(S @ A, S @ B, rcond=None)[0], atol=1e-10)
    assert isinstance(res, SolverResult) and res.converged and res.n_iter == 1
    assert res.info["m"] == 50 and res.info["kind"] == kind and res.info["rank"] == 8
    assert res.info["sketched_residual"] == pytest.approx(np.linalg.norm(S @ A @ res.x - S @ B))


def test_sparse_a_gives_the_dense_answer():
    As = sp.csr_matrix(np.where(np.abs(A) > 1, A, 0.0))
    for kind in ("countsketch", "srht"):
        np.testing.assert_allclose(sketch_lstsq(As, B, 80, kind, random_state=2).x,
                                   sketch_lstsq(As.toarray(), B, 80, kind, random_state=2).x, atol=1e-10)


def test_inputs_are_not_mutated():
    A0, B0 = A.copy(), B.copy()
    for kind in KINDS:
        sketch_lstsq(A, B, 40, kind, random_state=0)
    assert np.array_equal(A, A0) and np.array_equal(B, B0)


def test_more_rows_approach_the_exact_solution():
    x_star = np.linalg.lstsq(A, B, rcond=None)[0]
    err = [np.abs(sketch_lstsq(A, B, m, "srht", random_state=0).x - x_star).max() for m in (20, 500)]
    assert err[1] < err[0]


def test_row_count_from_eps_delta_follows_the_paper():
    n, d = 2**14, 5
    assert linf_rows(d, n, 10.0, 0.1, "srht") == math.ceil(d * math.log(n / 0.1) ** 3 / 100)
    assert linf_rows(d, n, 10.0, 0.1, "gaussian") == math.ceil(d * math.log(n / 0.1) ** 2 / 100)
    assert linf_epsilon(linf_rows(d, n, 3.0), d, n) == pytest.approx(3.0, rel=1e-3)
    P = coherent_spike_problem(n, d, seed=0)
    res = sketch_lstsq(P.A, P.b, eps=10.0, delta=0.1, random_state=0)
    assert res.info["m"] == linf_rows(d, n, 10.0, 0.1, "srht")
    assert sketch_lstsq(P.A, P.b, random_state=0).info["m"] == default_rows(n, d) == 4 * d * 14


def test_linf_error_matches_its_definition():
    ref = linf_reference(A, B)
    x_star = np.linalg.lstsq(A, B, rcond=None)[0]
    pinv = np.linalg.norm(np.linalg.pinv(A), 2)
    assert ref.pinv_norm == pytest.approx(pinv)
    x_hat = x_star + np.array([0.0, 0.3] + [0.0] * 6)
    err = linf_error(x_hat, A, B)
    scale = np.linalg.norm(A @ x_star - B) * pinv / np.sqrt(8)
    assert err["linf"] == pytest.approx(0.3)
    assert err["eps_eff"] == pytest.approx(0.3 / scale)
    assert err["cost_ratio"] >= 1.0
    assert linf_error(x_star, A, B)["linf"] < 1e-12


def test_coherent_problem_has_heavy_rows_and_an_orthogonal_residual():
    P = coherent_spike_problem(4096, 6, spikes=2, seed=1)
    Q, _ = np.linalg.qr(P.A)
    leverage = (Q**2).sum(axis=1)
    assert np.all(leverage[:6] > 0.95)
    assert np.abs(P.A.T @ P.residual).max() < 1e-10
    np.testing.assert_allclose(np.linalg.lstsq(P.A, P.b, rcond=None)[0], P.x_true, atol=1e-8)


def test_rank_deficient_a_warns_and_reports_the_rank():
    Ad = np.column_stack([A[:, :4], A[:, :4]])
    with pytest.warns(RankDeficiencyWarning, match="rank 4"):
        res = sketch_lstsq(Ad, B, 40, "srht", random_state=0)
    assert res.info["rank"] == 4


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((A, B, 5), {}, ValueError, r"m=5 .*\[8, 600\]"),
        ((A, B, 601), {}, ValueError, "m=601"),
        ((A, B), {"kind": "bogus"}, ValueError, "kind='bogus'"),
        ((A, B, 40), {"eps": 0.5}, ValueError, "eps=0.5.*not both"),
        ((A, B), {"eps": 0.5}, ValueError, "eps=0.5 .*needs m ="),
        ((A, B), {"eps": 1.0, "kind": "countsketch"}, ValueError, "kind='countsketch'"),
        ((A, B), {"eps": -1.0}, ValueError, "eps=-1.0"),
        ((A, B), {"eps": 50.0, "delta": 1.5}, ValueError, "delta=1.5"),
        ((A, B[:-1]), {}, ShapeError, "b.shape"),
        ((A[:5], B[:5]), {}, ShapeError, "n >= d"),
        ((A[:, 0], B), {}, ShapeError, "A.ndim"),
        ((A.astype(complex), B), {}, ValueError, "real"),
        ((np.where(A > 2, np.nan, A), B), {}, ValueError, "NaN"),
        ((A, np.full(600, np.inf)), {}, ValueError, "b has 600 NaN/Inf"),
        ((A, B, 40), {"kind": "osnap", "s": 0}, ValueError, "s=0"),
    ],
)
def test_bad_input_raises_a_clear_error(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        sketch_lstsq(*args, **kwargs)
