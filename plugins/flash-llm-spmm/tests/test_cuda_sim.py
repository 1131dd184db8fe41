"""The numba.cuda kernel (load as sparse, compute as dense) agrees with the reference on numba's simulator.

Run in a subprocess: ``NUMBA_ENABLE_CUDASIM=1`` must be set before numba.cuda is first imported.
"""

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("numba")

CODE = """
import numpy as np
from sparsehub import SparseTensor, ops
from sparsehub_flash_llm_spmm import TiledCSL, flash_llm_spmm
from sparsehub_flash_llm_spmm.spmm import spmm_csr_cuda

rng = np.random.default_rng(0)
worst = 0.0
cases = [((130, 70), 3, {"tile_m": 32}), ((40, 64), 1, {"shuffle": True}), ((20, 130), 9, {"tile_m": 16, "tile_k": 128})]
for shape, n, opts in cases:
    w = rng.standard_normal(shape).astype(np.float32)
    w[rng.random(shape) < 0.8] = 0
    x = rng.standard_normal((shape[1], n)).astype(np.float32)
    ref = ops.spmm(SparseTensor.from_dense(w.astype(np.float16).astype(np.float64)), x.astype(np.float64),
                   backend="reference")
    y = flash_llm_spmm(TiledCSL.from_dense(w, **opts), x, backend="cuda")
    assert y.shape == ref.shape and y.dtype == np.float32
    worst = max(worst, float(np.abs(y - ref).max() / np.abs(ref).max()))
a = SparseTensor.from_dense(w.astype(np.float64))
y = spmm_csr_cuda(a.arrays["indptr"], a.arrays["indices"], a.arrays["values"], a.shape, x.astype(np.float64))
assert y.dtype == np.float64 and y.shape == ref.shape
print(worst)
"""


def test_cuda_kernel_matches_the_reference_under_the_simulator():
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(CODE)], capture_output=True, text=True,
                         env={**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}, timeout=300)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip().splitlines()[-1]) < 1e-5


def test_cuda_kernel_rejects_tiles_larger_than_its_shared_memory():
    import numpy as np

    from sparsehub_flash_llm_spmm.cuda_kernels import spmm_tiles_cuda

    with pytest.raises(ValueError, match=r"tile_m \* tile_k=16384"):
        spmm_tiles_cuda(np.zeros(0, np.uint32), np.zeros(2, np.int64), (1, 1), 128, 128,
                        np.zeros((128, 1), np.float32))
