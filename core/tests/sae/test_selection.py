"""Selections: exact counts, agreement with a dense torch.topk oracle, score/value separation."""

import pytest
import torch

from sparsehub.sae import JumpReLU, ReLU, Selection, TopK, select_by_score, topk_codes


def _dense_topk(pre, k):
    keep = torch.zeros_like(pre, dtype=torch.bool)
    keep.scatter_(-1, torch.topk(pre, k, dim=-1).indices, True)
    return torch.where(keep, pre.relu(), torch.zeros_like(pre))


def test_topk_codes_equal_the_dense_topk_oracle_and_select_exactly_k_per_row():
    pre = torch.randn(64, 50, generator=torch.Generator().manual_seed(0))
    codes = topk_codes(pre, 7)
    assert torch.equal(codes, _dense_topk(pre, 7))
    assert ((codes != 0).sum(-1) <= 7).all()
    positive = torch.randn(32, 50, generator=torch.Generator().manual_seed(1)).abs() + 0.1
    assert ((topk_codes(positive, 7) != 0).sum(-1) == 7).all()


def test_select_by_score_picks_by_score_but_carries_the_values():
    values = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    scores = torch.tensor([[9.0, 0.0, 8.0, 0.0]])
    assert torch.equal(select_by_score(values, scores, 2), torch.tensor([[1.0, 0.0, 3.0, 0.0]]))


def test_topk_works_on_leading_batch_dimensions():
    pre = torch.randn(3, 5, 20, generator=torch.Generator().manual_seed(2))
    assert torch.equal(TopK(4)(pre), _dense_topk(pre, 4))


def test_jumprelu_fires_strictly_above_each_threshold():
    sel = JumpReLU([0.5, 1.0, 0.0])
    pre = torch.tensor([[0.5, 1.5, -0.1], [0.6, 1.0, 0.2]])
    assert torch.equal(sel(pre), torch.tensor([[0.0, 1.5, 0.0], [0.6, 0.0, 0.2]]))


def test_relu_selection_is_relu():
    pre = torch.tensor([[-1.0, 0.0, 2.0]])
    assert torch.equal(ReLU()(pre), pre.relu())


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_topk_rejects_a_bad_k(k):
    with pytest.raises(ValueError, match="k="):
        TopK(k)


def test_topk_k_larger_than_the_dictionary_is_refused_by_check():
    with pytest.raises(ValueError, match=r"k=9 .*d_sae"):
        TopK(9).check(8)


def test_jumprelu_rejects_negative_or_nan_thresholds():
    with pytest.raises(ValueError, match="threshold"):
        JumpReLU([-1.0])
    with pytest.raises(ValueError, match="threshold"):
        JumpReLU(float("nan"))


def test_selections_rebuild_from_their_config():
    rebuilt = Selection.from_config("TopK", TopK(3).config())
    assert isinstance(rebuilt, TopK) and rebuilt.k == 3
    with pytest.raises(KeyError, match="selection"):
        Selection.from_config("NoSuchSelection", {})
