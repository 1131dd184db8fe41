"""The sequential runner feeds each block exactly what the model would, and its statistics are exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparsehub.errors import ShapeError
from sparsehub.nn.calibration import InputStats, check_calibration, collect_input_stats, sequential_blocks
from sparsehub.nn.layout import layout_of


def test_input_stats_match_a_float64_numpy_oracle():
    rng = np.random.default_rng(0)
    chunks = [rng.standard_normal((5, 7, 6)).astype(np.float32) for _ in range(3)]
    stats = InputStats(6, xtx=True)
    for c in chunks:
        stats.update(torch.from_numpy(c))
    x = np.concatenate([c.reshape(-1, 6) for c in chunks]).astype(np.float64)
    assert stats.n == 105
    np.testing.assert_allclose(stats.mean.numpy(), x.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stats.var.numpy(), x.var(0), rtol=1e-10)
    np.testing.assert_allclose(stats.norm.numpy(), np.linalg.norm(x, axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.xtx.numpy(), x.T @ x, rtol=1e-12)
    assert InputStats(6).xtx is None


def test_each_block_sees_the_hidden_states_the_full_model_computes(random_model, random_calibration):
    layout = layout_of(random_model)
    expected = []
    with torch.no_grad():
        for batch in random_calibration:
            expected.append(random_model(input_ids=batch, output_hidden_states=True).hidden_states)
    for step in sequential_blocks(random_model, random_calibration):
        for b, x in enumerate(step.inputs):
            torch.testing.assert_close(x, expected[b][step.index], rtol=1e-5, atol=1e-5)
    assert step.index == len(layout) - 1


def test_stats_are_the_inputs_of_each_linear(random_model, random_calibration):
    """Oracle: hooks on the dense model record the raw inputs; the streaming stats must equal them."""
    layout = layout_of(random_model)
    seen: dict[str, list[torch.Tensor]] = {}
    hooks = [m.register_forward_hook(lambda mod, a, o, n=n: seen.setdefault(n, []).append(a[0].detach()))
             for n, m in layout.all_linears()]
    with torch.no_grad():
        for batch in random_calibration:
            random_model(input_ids=batch)
    for h in hooks:
        h.remove()
    stats = collect_input_stats(random_model, random_calibration, xtx=True)
    assert list(stats) == [n for n, _ in layout.all_linears()]
    for name, s in stats.items():
        x = torch.cat([t.reshape(-1, t.shape[-1]) for t in seen[name]]).double()
        assert s.n == x.shape[0]
        torch.testing.assert_close(s.xtx, x.t() @ x, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(s.sum, x.sum(0), rtol=1e-5, atol=1e-6)


def test_dict_batches_with_attention_mask_are_accepted(random_calibration, make_model):
    model = make_model("llama").eval()
    batches = [{"input_ids": b, "attention_mask": torch.ones_like(b)} for b in random_calibration]
    a = collect_input_stats(model, batches)
    b = collect_input_stats(model, random_calibration)
    for name in a:
        torch.testing.assert_close(a[name].sq, b[name].sq, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("calibration", "error", "match"),
    [
        ([], ValueError, "calibration='an empty iterable'"),
        (torch.zeros(2, 3), ValueError, r"calibration='tensor\(shape=\(2, 3\), dtype=torch.float32\)'"),
        ([torch.zeros(2, 3)], ShapeError, r"calibration\[0\].dtype=torch.float32"),
        ([torch.zeros(3, dtype=torch.long)], ShapeError, r"calibration\[0\].shape=\(3,\)"),
        ([torch.zeros(1, 2, 3, dtype=torch.long)], ShapeError, r"shape=\(1, 2, 3\)"),
        ([torch.full((1, 4), 96)], ValueError, r"token ids in \[0, 96\)"),
        ([{"attention_mask": torch.ones(1, 4)}], ValueError, "a dict holding 'input_ids'"),
        (5, ValueError, "calibration='5'"),
    ],
)
def test_bad_calibration_is_rejected_with_its_name(calibration, error, match):
    with pytest.raises(error, match=match):
        check_calibration(calibration, vocab_size=96)


def test_one_token_tensor_is_split_into_batches_of_eight():
    batches = check_calibration(torch.zeros(20, 4, dtype=torch.long))
    assert [b["input_ids"].shape[0] for b in batches] == [8, 8, 4]


def test_generators_are_materialised_once():
    gen = (torch.zeros(1, 4, dtype=torch.long) for _ in range(3))
    assert len(check_calibration(gen)) == 3
