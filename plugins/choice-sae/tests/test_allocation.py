"""The allocations of paper 23 against dense oracles and their invariants (exact budgets, per-axis caps)."""

import pytest
import torch

from sparsehub_choice_sae import (
    feature_choice_codes,
    mutual_choice_codes,
    uniform_capacities,
    zipf_capacities,
)


def _pre(b, f, seed=0):
    return torch.randn(b, f, generator=torch.Generator().manual_seed(seed))


def test_mutual_choice_keeps_the_global_top_kb_entries_of_the_relu_matrix():
    pre = _pre(32, 40)
    codes = mutual_choice_codes(pre, pre, 3)
    flat = pre.relu().flatten()
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep[torch.topk(flat, 96).indices] = True  # dense oracle
    assert torch.equal(codes, torch.where(keep, flat, torch.zeros_like(flat)).reshape(32, 40))
    assert int((codes != 0).sum()) == 96  # here more than 96 entries are positive: the budget is exact


def test_mutual_choice_allows_a_variable_number_of_latents_per_token():
    pre = _pre(64, 50)
    pre[:8] += 3.0  # eight "hard" tokens
    per_token = (mutual_choice_codes(pre, pre, 4) != 0).sum(-1)
    assert int(per_token.sum()) == 256 and int(per_token[:8].min()) > 4 and int(per_token[8:].max()) < 8


def test_mutual_choice_separates_scores_from_values():
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    scores = torch.tensor([[5.0, 0.0], [0.0, 6.0]])
    assert torch.equal(mutual_choice_codes(values, scores, 1), torch.tensor([[1.0, 0.0], [0.0, 4.0]]))


def test_feature_choice_takes_each_features_top_m_tokens():
    pre = _pre(30, 12, seed=1).abs() + 0.01
    caps = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 30])
    codes = feature_choice_codes(pre, pre, caps)
    assert torch.equal((codes != 0).sum(0), caps)
    for j in range(12):  # oracle: column-wise torch.topk
        m = int(caps[j])
        if m:
            rows = torch.topk(pre[:, j], m).indices
            assert torch.equal(codes[rows, j], pre[rows, j])


def test_uniform_capacities_sum_to_the_budget_exactly():
    caps = uniform_capacities(100, 30, 4)
    assert int(caps.sum()) == 400 and int(caps.max()) - int(caps.min()) <= 1


def test_zipf_capacities_follow_usage_rank_sum_to_the_budget_and_are_capped_at_b():
    usage = torch.tensor([0.1, 0.5, 0.0, 0.3, 0.2])
    caps = zipf_capacities(10, 3, usage, exponent=2.0)
    assert int(caps.sum()) == 30 and int(caps.max()) <= 10
    order = torch.argsort(-usage, stable=True)
    assert bool((caps[order][:-1] >= caps[order][1:]).all())
    assert torch.equal(zipf_capacities(10, 3, usage, exponent=0.0), uniform_capacities(10, 5, 3))


@pytest.mark.parametrize("k", [0, -1, 41, True])
def test_a_budget_k_outside_0_f_is_refused(k):
    pre = _pre(4, 40)
    with pytest.raises(ValueError, match="k="):
        mutual_choice_codes(pre, pre, k)


def test_capacities_outside_0_b_are_refused():
    pre = _pre(4, 3)
    with pytest.raises(ValueError, match=r"capacities.*\[0, B=4\]"):
        feature_choice_codes(pre, pre, torch.tensor([1, 5, 0]))
    with pytest.raises(ValueError, match=r"capacities\.shape"):
        feature_choice_codes(pre, pre, torch.tensor([1, 1]))


def test_mutual_choice_makes_no_dense_copy_of_the_score_matrix():
    from sparsehub_choice_sae.benchmarks import _mc_memory

    probe = _mc_memory(1024, 8192, 8)  # a fresh process; peak RSS growth of one selection
    assert probe["selected"] == 8 * 1024
    assert probe["peak_growth_in_matrices"] <= 2.0, probe  # the output codes (1) plus one block
