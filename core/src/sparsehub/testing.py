"""Pytest fixtures that the plugins' test suites share; import the ones you need into a conftest.py.

    from sparsehub.testing import one_torch_thread, smollm2_pair  # noqa: F401

Importing a fixture into a conftest registers it for that directory (``one_torch_thread`` is
autouse there). Only test code imports this module: it needs pytest, and torch or the model
wheels only when a fixture that uses them runs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

__all__ = [
    "assert_discovered", "fresh_smollm2", "one_torch_thread", "random_llama", "smollm2_pair", "torch_threads",
]


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the ``with`` body on ``n`` torch threads and restore the count afterwards (for wider-scoped fixtures)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run each test on one torch thread: small tensors gain nothing from two and lose a lot on a busy machine."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def smollm2_pair():
    """(model, tokenizer) of SmolLM2-135M, loaded once per session; never modify it in a test."""
    pytest.importorskip("transformers")
    from sparsehub import models

    return models.smollm2()


@pytest.fixture
def fresh_smollm2(smollm2_pair):
    """A private deep copy of SmolLM2 that a test may change."""
    return copy.deepcopy(smollm2_pair[0])


def random_llama(seed: int = 0, **config):
    """A seeded, randomly initialised 2-block Llama (vocab 96, hidden 32, 4 query / 2 KV heads), eval mode.

    Small enough for mechanics and invariance tests in milliseconds; ``config`` overrides any
    ``LlamaConfig`` field (e.g. ``tie_word_embeddings=False``, ``attention_bias=True``).
    """
    import torch
    import transformers

    settings = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(**{**settings, **config})).eval()


def assert_discovered(slug: str, entry: Any, reproduce: Callable[..., Any], bench: Callable[..., Any] | None = None):
    """Assert that plugin ``slug`` is found through its entry point and loads exactly these objects.

    Every plugin's own suite runs this (its tox environment does not run the repository's contract
    tests): the entry point must resolve to ``entry`` and ``reproduce`` (and ``bench`` when given).
    """
    from sparsehub.discovery import Plugins

    found = Plugins.discover()
    assert slug in found.methods(), found.errors
    _, spec = found.methods()[slug]
    assert spec.load() is entry
    assert spec.load_reproduce() is reproduce
    if bench is not None:
        assert spec.load_bench() is bench
