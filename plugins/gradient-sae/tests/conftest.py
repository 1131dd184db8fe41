"""Unit tests run torch on one thread (the shared fixture): small tensors gain nothing from two."""

from sparsehub.testing import one_torch_thread  # noqa: F401
