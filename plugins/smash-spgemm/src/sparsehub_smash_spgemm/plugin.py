"""The hook implementations that announce sparsehub-smash-spgemm to sparsehub (entry-point group "sparsehub").

Besides the method, the plugin registers its kernels for the op ``spgemm``: on backend
``"numba"`` the row-wise hash kernel (algorithm ``"hash"``, the backend's pick for spgemm), its
two-pass variant and the comparison dataflows (``"spa"``, ``"outer"``, ``"inner"``, low
priority so they only run when named); on backend ``"cuda"`` the atomic-CAS hash kernel. The
kernels are named by ``"module:object"`` strings, so discovery imports no numba.
"""

from sparsehub.hookspecs import hookimpl
from sparsehub.method import KernelImpl
from sparsehub.registry import spec_from_catalog

_MOD = "sparsehub_smash_spgemm"


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "smash-spgemm",
            entry=f"{_MOD}:spgemm",
            reproduce=f"{_MOD}.reproduction:reproduce",
            bench=f"{_MOD}.benchmarks:bench",
        )
    ]


@hookimpl
def sparsehub_kernels():
    return [
        KernelImpl("spgemm", "numba", "hash", f"{_MOD}.rowwise:hash_spgemm",
                   "SMASH row-wise SpGEMM, hash-table accumulation, one pass (upper-bound buffers)", 10),
        KernelImpl("spgemm", "numba", "hash-2pass", f"{_MOD}.rowwise:hash_spgemm_two_pass",
                   "SMASH row-wise SpGEMM, hash-table accumulation, symbolic then numeric pass", 5),
        KernelImpl("spgemm", "numba", "spa", f"{_MOD}.rowwise:spa_spgemm",
                   "row-wise SpGEMM with a dense accumulator (comparison method)", -10),
        KernelImpl("spgemm", "numba", "outer", f"{_MOD}.dataflows:outer_spgemm",
                   "outer-product dataflow: partial products written, then merged (comparison method)", -20),
        KernelImpl("spgemm", "numba", "inner", f"{_MOD}.dataflows:inner_spgemm",
                   "inner-product dataflow: m*n sparse dot products (comparison method)", -30),
        KernelImpl("spgemm", "cuda", "hash", f"{_MOD}.cuda_kernels:hash_spgemm",
                   "SMASH atomic hashing on the GPU: cuda.atomic.cas on keys, atomic add on values", 10),
    ]
