"""Token windows and perplexity agree with the tokenizer and with transformers' own loss."""

from __future__ import annotations

import math

import pytest
import torch

from sparsehub.errors import ShapeError
from sparsehub.models import byte_tokenizer, corpus
from sparsehub.nn.text import perplexity, text_windows


def test_windows_are_consecutive_slices_of_the_token_stream():
    tok = byte_tokenizer()
    text = "hello world, " * 20
    w = text_windows(tok, text, 3, 10, start=5)
    assert w.shape == (3, 10) and w.dtype == torch.long
    assert w.reshape(-1).tolist() == list(text.encode())[5:35]


def test_too_short_text_names_n_and_length():
    with pytest.raises(ValueError, match=r"n, length=\(4, 10\).*has 12 tokens"):
        text_windows(byte_tokenizer(), "twelve bytes", 4, 10)
    with pytest.raises(ValueError, match="length=1"):
        text_windows(byte_tokenizer(), "abc", 1, 1)


def test_perplexity_equals_exp_of_transformers_loss(random_calibration, make_model):
    model = make_model("llama").eval()
    windows = torch.cat(random_calibration)
    with torch.no_grad():
        loss = model(input_ids=windows, labels=windows).loss  # mean over every predicted token
    assert perplexity(model, windows, batch_size=3) == pytest.approx(math.exp(float(loss)), rel=1e-5)


def test_perplexity_rejects_float_or_short_windows(make_model):
    model = make_model("llama")
    with pytest.raises(ShapeError, match="windows"):
        perplexity(model, torch.zeros(2, 8))
    with pytest.raises(ShapeError, match=r"windows.shape=\(2, 1\)"):
        perplexity(model, torch.zeros(2, 1, dtype=torch.long))


def test_corpora_ship_with_python():
    assert len(corpus("pydoc")) > 300_000
    assert "def " in corpus("stdlib")[:100_000]
    with pytest.raises(ValueError, match="name='c4'"):
        corpus("c4")
