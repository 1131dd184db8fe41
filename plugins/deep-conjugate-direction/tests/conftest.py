"""The tests run on one thread (torch, BLAS): the networks are small, and on a shared 2-core machine
two spinning torch threads made a 150-step training 18x slower than one."""

import pytest
import torch  # noqa: F401  (imported first so that sparsehub.bench.threads sets its thread count)

from sparsehub.bench import threads


@pytest.fixture(autouse=True)
def _one_thread():
    with threads(1):
        yield
