"""One torch thread for these small tensors: faster than two, and immune to a busy machine."""

import pytest
import torch

from sparsehub.testing import one_torch_thread  # noqa: F401


@pytest.fixture(scope="session")
def task():
    from sparsehub_sae_supervised_eval import toy_ioi

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return toy_ioi(seed=0)
    finally:
        torch.set_num_threads(old)
