"""The layout adapter finds the same roles in every supported family and rejects the others by name."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparsehub.nn.layout import UnsupportedArchitecture, is_linear, layout_of, weight_matrix


def test_every_block_has_readers_writers_and_two_norms(random_model):
    layout = layout_of(random_model)
    modules = dict(random_model.named_modules())
    assert len(layout) == 2
    for index in range(len(layout)):
        names = list(layout.readers(index).values()) + list(layout.writers(index).values())
        assert all(is_linear(modules[n]) for n in names)
        assert set(layout.writers(index)) == {"o", "down"}
        assert {"attn", "mlp"} <= set(layout.norms(index))
        assert all(n in modules for n in layout.norms(index).values())
        assert list(layout.linears(index)) and all(n.startswith(layout.block_name(index)) for n in names)
    assert all(e in modules for e in layout.embeddings)


def test_family_specific_facts(make_model):
    llama = layout_of(make_model("llama"))
    assert (llama.family, llama.n_heads, llama.n_kv_heads, llama.head_dim) == ("llama", 4, 2, 8)
    assert set(llama.readers(0)) == {"q", "k", "v", "gate", "up"} and llama.norm_position == "pre"
    gpt2 = layout_of(make_model("gpt2"))
    assert set(gpt2.readers(0)) == {"qkv", "up"} and gpt2.tied_head
    bert = layout_of(make_model("bert"))
    assert bert.norm_position == "post" and bert.head is None and bert.final_norm is None
    assert bert.norms(0)["embeddings"] == "embeddings.LayerNorm" and "embeddings" not in bert.norms(1)


def test_bare_model_without_head_is_recognised(make_model):
    model = make_model("llama").model
    layout = layout_of(model)
    assert layout.blocks_name == "layers" and layout.head is None


def test_weight_matrix_of_conv1d_is_the_out_by_in_view_sharing_storage(make_model):
    model = make_model("gpt2")
    c_fc = model.transformer.h[0].mlp.c_fc  # Conv1D: weight (in=32, out=128)
    w = weight_matrix(c_fc)
    assert w.shape == (128, 32)
    x = torch.randn(3, 32)
    torch.testing.assert_close(c_fc(x) - c_fc.bias, x @ w.t())
    w[0, 0] = 123.0
    assert c_fc.weight[0, 0] == 123.0


def test_unknown_architecture_error_names_the_class():
    with pytest.raises(UnsupportedArchitecture, match="Sequential"):
        layout_of(nn.Sequential(nn.Linear(2, 2)))

    class FakeT5(nn.Module):
        config = type("C", (), {"model_type": "t5"})()

    with pytest.raises(UnsupportedArchitecture, match=r"FakeT5 \(model_type='t5'\)"):
        layout_of(FakeT5())
    with pytest.raises(UnsupportedArchitecture, match="LayerNorm"):
        weight_matrix(nn.LayerNorm(3))
