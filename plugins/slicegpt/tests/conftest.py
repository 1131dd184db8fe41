"""Fixtures: small seeded random models of each family (built in memory, no download)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from sparsehub.testing import random_llama as _random_llama  # noqa: E402


def random_llama(*, tied: bool = True, bias: bool = True):
    """A 2-block Llama with GQA (4 query / 2 KV heads), biases, tied head and random norm scales."""
    model = _random_llama(tie_word_embeddings=tied, attention_bias=bias, mlp_bias=bias)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:  # random positive scales, so folding them is actually tested
                p.copy_(torch.rand_like(p) + 0.5)
            elif name.endswith("bias"):
                p.normal_(0, 0.1)
    return model


def random_other(family: str, **overrides):
    """A randomly initialised 2-block OPT, GPT-2 or BERT model; ``overrides`` go into its config.

    OPT and GPT-2 get random LayerNorm scales and shifts and random biases (the stock init sets
    them to 1 and 0), so centring and folding them is actually tested.
    """
    torch.manual_seed(0)
    t = transformers
    if family == "opt":
        settings = dict(
            vocab_size=96,
            hidden_size=32,
            ffn_dim=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            word_embed_proj_dim=32,
            max_position_embeddings=64,
        )
        model = t.OPTForCausalLM(t.OPTConfig(**{**settings, **overrides})).eval()
    elif family == "gpt2":
        settings = dict(vocab_size=96, n_embd=32, n_layer=2, n_head=4, n_positions=64)
        model = t.GPT2LMHeadModel(t.GPT2Config(**{**settings, **overrides})).eval()
    else:
        return t.BertModel(
            t.BertConfig(
                vocab_size=96,
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=64,
            )
        ).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or ".ln_" in name:
                if name.endswith("weight"):
                    p.copy_(torch.rand_like(p) + 0.5)
                else:
                    p.normal_(0, 0.3)
            elif name.endswith("bias"):
                p.normal_(0, 0.1)
    return model


@pytest.fixture
def llama():
    """The default random Llama (GQA, biases, tied head)."""
    return random_llama()


@pytest.fixture
def make_llama():
    """The builder ``make_llama(tied=..., bias=...)``."""
    return random_llama


@pytest.fixture
def make_other():
    """The builder ``make_other("opt" | "gpt2" | "bert")``."""
    return random_other


@pytest.fixture
def calibration():
    """Three batches of 4 x 16 random token ids (vocab 96)."""
    gen = torch.Generator().manual_seed(1)
    return [torch.randint(0, 96, (4, 16), generator=gen) for _ in range(3)]


@pytest.fixture
def tokens():
    gen = torch.Generator().manual_seed(2)
    return torch.randint(0, 96, (2, 24), generator=gen)
