"""Unit tests run torch on one thread: tiny models gain nothing from two, and lose a lot on a busy machine."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
