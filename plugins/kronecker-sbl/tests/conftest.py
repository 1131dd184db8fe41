"""Run this plugin's tests with one BLAS thread.

On a shared 2-core machine two OpenBLAS threads competing with other processes make the dense
baselines (classical SBL, ARD) an order of magnitude slower; one thread keeps every file fast.
"""

import pytest
import scipy.linalg  # noqa: F401  (loaded first: thread limits only reach libraries already loaded)
import sklearn.linear_model  # noqa: F401

from sparsehub.bench import threads


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threads(1):
        yield
