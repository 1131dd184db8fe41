"""The per-layer refinement against brute force and its invariants (no model needed)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from sparsehub.mask import NM, Unstructured  # noqa: E402
from sparsehub.nn.oneshot import wanda_keep  # noqa: E402
from sparsehub_dsnot import expected_error, refine_nm, refine_unstructured  # noqa: E402


def _layer(out_f=24, in_f=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(out_f, in_f, generator=gen)
    mean = torch.randn(in_f, generator=gen)
    var = torch.rand(in_f, generator=gen) + 0.1
    norm = (var + mean**2).sqrt()
    return w, mean * 4, var, norm


def test_refinement_keeps_every_row_count_and_never_raises_a_rows_error_with_the_sign_stop():
    """With the sign-flip stop every accepted swap moves e_i towards 0 without crossing it."""
    w, mean, var, norm = _layer()
    keep = wanda_keep(w, norm, 0.6, Unstructured())
    res = refine_unstructured(w, mean, var, norm, keep, update_threshold=0.0, stop_on_sign_flip=True)
    assert torch.equal(res.keep.sum(1), keep.sum(1))
    assert res.swaps > 0
    before = expected_error(w, mean, keep).abs()
    after = expected_error(w, mean, res.keep).abs()
    assert torch.all(after <= before + 1e-12)
    assert res.error_after < res.error_before
    assert abs(float(after.mean()) - res.error_after) < 1e-9


def _brute_force_row(w, mean, var, norm, keep, cycles, threshold):
    """A plain per-row re-implementation of the loop, one row at a time, for comparison."""
    w, mean, var, norm = (t.double() for t in (w, mean, var, norm))
    keep = keep.clone()
    c = w * mean
    e = float((c * ~keep).sum())
    grow = sorted([j for j in range(len(w)) if not keep[j]], key=lambda j: (float(c[j] / var[j]), j))
    wanda = w.abs() * norm
    pos = sorted([j for j in range(len(w)) if keep[j] and c[j] > 0], key=lambda j: (float(wanda[j]), j))
    neg = sorted([j for j in range(len(w)) if keep[j] and c[j] < 0], key=lambda j: (float(wanda[j]), j))
    for _ in range(cycles):
        if abs(e) <= threshold or not grow or not (pos if e < 0 else neg):
            break
        g = grow.pop() if e > 0 else grow.pop(0)
        p = pos.pop(0) if e < 0 else neg.pop(0)
        keep[g], keep[p] = True, False
        e += float(c[p] - c[g])
    return keep


def test_vectorised_loop_matches_a_row_by_row_reference():
    w, mean, var, norm = _layer(12, 40, seed=3)
    keep = wanda_keep(w, norm, 0.5, Unstructured())
    res = refine_unstructured(w, mean, var, norm, keep, max_cycles=7, update_threshold=0.05)
    for i in range(w.shape[0]):
        assert torch.equal(res.keep[i], _brute_force_row(w[i], mean, var, norm, keep[i], 7, 0.05)), i


def test_zero_cycles_or_huge_threshold_return_the_initial_mask():
    w, mean, var, norm = _layer()
    keep = wanda_keep(w, norm, 0.5, Unstructured())
    assert torch.equal(refine_unstructured(w, mean, var, norm, keep, max_cycles=0).keep, keep)
    assert torch.equal(refine_unstructured(w, mean, var, norm, keep, update_threshold=1e9).keep, keep)


def test_zero_variance_inputs_do_not_blow_up():
    w, mean, var, norm = _layer()
    var[:8] = 0.0
    keep = wanda_keep(w, norm, 0.5, Unstructured())
    res = refine_unstructured(w, mean, var, norm, keep, update_threshold=0.0)
    assert torch.equal(res.keep.sum(1), keep.sum(1))
    assert torch.isfinite(torch.tensor(res.error_after))


def test_nm_refinement_keeps_n_of_every_m_and_lowers_the_error():
    w, mean, var, norm = _layer(16, 64, seed=2)
    nm = NM(2, 4)
    keep = wanda_keep(w, norm, 0.5, nm)
    score = w.abs() * norm
    res = refine_nm(w, mean, var, score, keep, 4, update_threshold=0.0)
    assert torch.equal(res.keep.reshape(16, 16, 4).sum(-1), torch.full((16, 16), 2))
    assert res.swaps > 0
    assert res.error_after < res.error_before


def test_refinement_lowers_the_true_output_error_on_fresh_inputs_of_the_same_distribution():
    """The proxy is the mean of the output lost; when inputs have a strong mean (the LLM case DSnoT
    targets), cancelling it must lower ||(W - W*M) x||^2 on new samples, not only the proxy.

    Without the sign stop (the official unstructured default) and a threshold far below one swap's
    step, rows overshoot zero and swap back and forth until ``max_cycles``; on this layer that
    doubles the true error, so the oracle is checked with the stop, and the overshoot is shown."""
    gen = torch.Generator().manual_seed(5)
    out_f, in_f, tokens = 32, 96, 4096
    w = torch.randn(out_f, in_f, generator=gen, dtype=torch.float64)
    mu = torch.randn(in_f, generator=gen, dtype=torch.float64) * 2
    sd = torch.rand(in_f, generator=gen, dtype=torch.float64) + 0.2

    def sample():
        return mu + sd * torch.randn(tokens, in_f, generator=gen, dtype=torch.float64)

    x = sample()
    keep = wanda_keep(w, x.norm(dim=0), 0.6, Unstructured())
    stats = (x.sum(0) / tokens, x.var(0, unbiased=False), x.norm(dim=0))
    res = refine_unstructured(w, *stats, keep, update_threshold=0.01, stop_on_sign_flip=True)
    fresh = sample()

    def mse(k):
        return float((((w * ~k) @ fresh.T) ** 2).mean())

    assert res.swaps > 0
    assert mse(res.keep) < 0.6 * mse(keep)
    bouncing = refine_unstructured(w, *stats, keep, update_threshold=0.01, stop_on_sign_flip=False)
    assert bouncing.swaps > 10 * res.swaps
    assert mse(bouncing.keep) > mse(keep)
