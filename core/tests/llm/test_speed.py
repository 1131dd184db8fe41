"""sparsehub.nn.speed: the multiply-add count and the forward-pass comparison's bookkeeping."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from sparsehub.nn import compare_forward, forward_runner, linear_macs  # noqa: E402


def _llama(hidden: int):
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=50, hidden_size=hidden, intermediate_size=2 * hidden,
                                   num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                   max_position_embeddings=32, tie_word_embeddings=False)
    return transformers.LlamaForCausalLM(cfg).eval()


def test_linear_macs_counts_every_linear_weight_and_nothing_else():
    model = _llama(16)
    # per block: q, k, v, o (16 x 16 each) + gate, up, down (16 x 32 each); the head 50 x 16
    assert linear_macs(model) == 2 * (4 * 16 * 16 + 3 * 16 * 32) + 50 * 16


def test_forward_runner_leaves_no_graph_and_no_cache():
    model = _llama(16)
    calls = []
    model.register_forward_hook(lambda m, a, kw, out: calls.append((torch.is_grad_enabled(), kw.get("use_cache"))),
                                with_kwargs=True)
    forward_runner(model, torch.randint(0, 50, (1, 8)))()
    assert calls == [(False, False)]


def test_compare_forward_records_expected_and_measured_ratios():
    dense, small = _llama(32), _llama(16)
    result = compare_forward("toy", small, dense, torch.randint(0, 50, (1, 8)), name="small", threads=1,
                             quick=True, extra={"note": 1})
    assert result.extra["expected_ratio"] == pytest.approx(linear_macs(dense) / linear_macs(small), abs=1e-3)
    assert result.extra["measured_ratio"] == result.ratios["dense"] > 0
    assert result.extra["parameters"] == {"dense": sum(p.numel() for p in dense.parameters()),
                                          "small": sum(p.numel() for p in small.parameters())}
    assert result.extra["note"] == 1
    copy.deepcopy(result)  # plain data, as the CLI's JSON output needs
