"""Fixtures: seeded random transformers models (fast mechanics) and SmolLM2 loaded once per session."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from sparsehub.testing import random_llama  # noqa: E402


def _random(family: str):
    torch.manual_seed(0)
    t = transformers
    if family == "llama":
        return random_llama()
    cfg = t.GPT2Config(
        vocab_size=96, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=1, eos_token_id=2
    )
    return t.GPT2LMHeadModel(cfg).eval()


@pytest.fixture(params=("llama", "gpt2"))
def random_model(request):
    """A randomly initialised 2-block Llama (GQA, SwiGLU) or GPT-2 (Conv1D, biases) model."""
    return _random(request.param)


@pytest.fixture
def make_model():
    """``make_model("llama")``: the seeded random model builder."""
    return _random


@pytest.fixture
def calibration():
    """Four batches of 2 x 16 random token ids (vocab 96): 128 tokens."""
    gen = torch.Generator().manual_seed(1)
    return [torch.randint(0, 96, (2, 16), generator=gen) for _ in range(4)]
