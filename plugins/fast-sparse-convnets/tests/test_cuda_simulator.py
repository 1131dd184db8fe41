"""The numba.cuda kernel agrees with the dense oracle on numba's CUDA simulator.

Run in a subprocess: the simulator must be enabled before numba is first imported.
"""

import json
import os
import subprocess
import sys
import textwrap

SIMULATED = """
import json
import numpy as np
from sparsehub import reference
from sparsehub_fast_sparse_convnets import spmm_chw
from sparsehub_fast_sparse_convnets import cuda_kernels

rng = np.random.default_rng(0)
errors = {}
for name, (cout, cin, shape, density, dtype, clamp) in {
    "batch, relu6, empty channel": (6, 5, (2, 5, 3, 4), 0.5, np.float32, "relu6"),
    "float64, one pixel": (4, 7, (7, 1), 0.6, np.float64, None),
    "no nonzeros": (3, 4, (4, 5), 0.0, np.float32, "relu"),
    "more pixels than a block": (5, 3, (3, 150), 0.7, np.float32, (-0.3, 0.3)),
}.items():
    W = (rng.standard_normal((cout, cin)) * (rng.random((cout, cin)) < density)).astype(dtype)
    W[0] = 0
    b = rng.standard_normal(cout).astype(dtype)
    x = rng.standard_normal(shape).astype(dtype)
    out = spmm_chw(W, x, b, clamp=clamp, backend="cuda")
    ref = spmm_chw(W, x, b, clamp=clamp, backend="reference")
    assert out.dtype == dtype and out.shape == ref.shape, name
    errors[name] = float(np.abs(out - ref).max()) if out.size else 0.0
A = (rng.standard_normal((5, 6)) * (rng.random((5, 6)) < 0.5)).astype(np.float32)
B = rng.standard_normal((6, 9)).astype(np.float32)
from sparsehub import SparseTensor
st = SparseTensor.from_dense(A)
args = [st.arrays[k] for k in ("indptr", "indices", "values")]
errors["ops spmm kernel"] = float(np.abs(cuda_kernels.spmm(*args, A.shape, B) - reference.spmm(*args, A.shape, B)).max())
print(json.dumps(errors))
"""


def test_cuda_kernel_agrees_with_the_reference_on_the_simulator():
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(SIMULATED)], capture_output=True, text=True,
                         env={**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}, timeout=180)
    assert out.returncode == 0, out.stderr
    errors = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(errors) == 5
    assert all(err <= 1e-5 for err in errors.values()), errors


def test_launch_shape_covers_every_pixel_channel_and_image():
    from sparsehub_fast_sparse_convnets.cuda_kernels import launch_shape

    for hw, cout, n in [(1, 1, 1), (49, 17, 2), (3136, 64, 1), (129, 8, 3)]:
        (gx, gy, gz), width = launch_shape(hw, cout, n)
        assert gx * width >= hw > (gx - 1) * width
        assert gy * 8 >= cout > (gy - 1) * 8 and gz == n and width <= 128
