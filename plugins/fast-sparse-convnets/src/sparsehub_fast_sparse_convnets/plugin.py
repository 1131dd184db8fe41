"""The hook implementations that announce sparsehub-fast-sparse-convnets to sparsehub (entry-point group "sparsehub").

The method, and the CHW kernel as an extra ``spmm`` implementation (algorithm ``"chw-xnnpack"``)
on backends ``"numba"`` and ``"cuda"``; everything is named by string, so discovery imports
neither torch nor numba.
"""

from sparsehub.hookspecs import hookimpl
from sparsehub.method import KernelImpl
from sparsehub.registry import spec_from_catalog

ALGORITHM = "chw-xnnpack"


@hookimpl
def sparsehub_methods():
    return [spec_from_catalog("fast-sparse-convnets", entry="sparsehub_fast_sparse_convnets:spmm_chw",
                              reproduce="sparsehub_fast_sparse_convnets.reproduction:reproduce",
                              bench="sparsehub_fast_sparse_convnets.benchmarks:bench")]


@hookimpl
def sparsehub_kernels():
    return [
        KernelImpl("spmm", "numba", ALGORITHM, "sparsehub_fast_sparse_convnets.kernels:spmm",
                   "Fast Sparse ConvNets: XNNPACK f32-spmm CHW micro-kernel (pixel strips, input deltas)",
                   priority=5),
        KernelImpl("spmm", "cuda", ALGORITHM, "sparsehub_fast_sparse_convnets.cuda_kernels:spmm",
                   "Fast Sparse ConvNets: CHW sparse 1x1 conv, a thread per pixel, coalesced over pixels",
                   priority=5),
    ]
