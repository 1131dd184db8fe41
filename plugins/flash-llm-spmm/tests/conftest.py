"""Shared fixtures of the flash-llm-spmm tests."""

import numpy as np
import pytest


def _sparse_weight(shape, sparsity, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(dtype)
    w[rng.random(shape) < sparsity] = 0
    return w


@pytest.fixture
def make_weight():
    """``make_weight(shape, sparsity, seed=0)``: a Gaussian matrix with about ``sparsity`` zeros."""
    return _sparse_weight


@pytest.fixture
def weight():
    return _sparse_weight((300, 200), 0.8)
