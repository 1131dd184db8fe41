"""One torch thread for these small tensors: faster than two, and immune to a busy machine."""

import pytest

from sparsehub.testing import one_torch_thread, torch_threads  # noqa: F401


@pytest.fixture(scope="session")
def task():
    from sparsehub_sae_supervised_eval import toy_ioi

    with torch_threads(1):
        return toy_ioi(seed=0)
