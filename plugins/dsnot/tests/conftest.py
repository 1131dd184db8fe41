"""Fixtures: a seeded random 2-block Llama (fast mechanics) and SmolLM2-135M loaded once per session."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from sparsehub.testing import fresh_smollm2, random_llama, smollm2_pair  # noqa: E402, F401


@pytest.fixture
def tiny_llama():
    """A randomly initialised 2-block Llama (hidden 32, GQA), seeded, eval mode."""
    return random_llama()


@pytest.fixture
def calibration():
    """Four batches of 2 x 16 random token ids (vocab 96)."""
    gen = torch.Generator().manual_seed(1)
    return [torch.randint(0, 96, (2, 16), generator=gen) for _ in range(4)]
