"""The numba.cuda atomic-hashing kernel, run on numba's CUDA simulator in a subprocess.

The simulator must be enabled before numba is first imported, hence the subprocess; it runs each
GPU thread as a Python thread, so the matrices are tiny.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("numba")
pytest.importorskip("scipy")

_CODE = textwrap.dedent(
    """
    import numpy as np, scipy.sparse as sp
    from numba import config
    assert config.ENABLE_CUDASIM
    from sparsehub_smash_spgemm import cuda_kernels, spgemm

    def rnd(m, n, density, seed, integer):
        rng = np.random.default_rng(seed)
        A = sp.random_array((m, n), density=density, rng=rng, format="csr")
        if integer:
            A.data[:] = rng.integers(-3, 4, A.nnz)
        A.sum_duplicates()
        A.indptr, A.indices = A.indptr.astype(np.int32), A.indices.astype(np.int32)
        return A

    def ref(A, B):
        C = sp.csr_array(A @ B)
        C.sort_indices()
        return C

    # integer-valued data: atomic float adds are exact in any order, so the result is bit-exact
    A, B = rnd(24, 18, 0.25, 1, True), rnd(18, 20, 0.25, 2, True)
    C, R = spgemm(A, B, backend="cuda"), ref(A, B)
    assert np.array_equal(C.arrays["indptr"], R.indptr)
    assert np.array_equal(C.arrays["indices"], R.indices)
    assert np.array_equal(C.arrays["values"], R.data)
    assert C.nnz < 24 * 20  # some products cancelled or rows stayed empty: exact zeros dropped

    # random floats: same pattern, values to rounding (atomics add in no fixed order)
    A, B = rnd(20, 15, 0.3, 3, False), rnd(15, 22, 0.3, 4, False)
    got = cuda_kernels.hash_spgemm(A.indptr, A.indices, A.data, A.shape, B.indptr, B.indices, B.data, B.shape)
    R = ref(A, B)
    assert np.array_equal(got[0], R.indptr) and np.array_equal(got[1], R.indices)
    assert np.allclose(got[2], R.data, rtol=1e-12, atol=0)

    # empty operands
    E = sp.csr_array((5, 18))
    C = spgemm(E, rnd(18, 4, 0.3, 5, True), backend="cuda")
    assert C.shape == (5, 4) and C.nnz == 0
    print("ok")
    """
)


def test_cuda_hash_kernel_matches_scipy_on_the_simulator():
    out = subprocess.run(
        [sys.executable, "-c", _CODE],
        capture_output=True,
        text=True,
        env={**os.environ, "NUMBA_ENABLE_CUDASIM": "1"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def test_row_tables_are_powers_of_two_at_load_at_most_one_half():
    import numpy as np

    from sparsehub_smash_spgemm.cuda_kernels import row_tables

    ub = np.array([0, 1, 3, 4, 64, 1000], dtype=np.int64)
    off = row_tables(ub, 100)
    sizes = np.diff(off)
    assert sizes.tolist() == [0, 2, 8, 8, 128, 256]
