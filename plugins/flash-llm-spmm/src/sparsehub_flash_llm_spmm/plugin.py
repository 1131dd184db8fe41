"""The hook implementations that announce sparsehub-flash-llm-spmm to sparsehub (entry-point group "sparsehub").

Besides the method, the plugin contributes the SparseTensor format ``"tiled-csl"`` and the
``spmm`` kernels of algorithm ``"tiled-csl"`` on backends ``"numba"`` and ``"cuda"`` (used when
those backends are installed). Everything is named by string: discovery imports neither numba
nor torch.
"""

from sparsehub.hookspecs import hookimpl
from sparsehub.method import FormatSpec, KernelImpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "flash-llm-spmm",
            entry="sparsehub_flash_llm_spmm:flash_llm_spmm",
            reproduce="sparsehub_flash_llm_spmm.reproduction:reproduce",
            bench="sparsehub_flash_llm_spmm.benchmarks:bench",
        )
    ]


@hookimpl
def sparsehub_kernels():
    return [
        KernelImpl(
            "spmm", "numba", "tiled-csl", "sparsehub_flash_llm_spmm.spmm:spmm_csr",
            "Flash-LLM load-as-sparse SpMM: A encoded to Tiled-CSL (fp16 values), fp32 accumulation",
        ),
        KernelImpl(
            "spmm", "cuda", "tiled-csl", "sparsehub_flash_llm_spmm.spmm:spmm_csr_cuda",
            "Flash-LLM load-as-sparse, compute-as-dense SpMM on the GPU (Tiled-CSL, fp16 values)",
        ),
    ]


@hookimpl
def sparsehub_formats():
    return [
        FormatSpec(
            "tiled-csl",
            "Flash-LLM Tiled-CSL: 128x64 tiles of 32-bit (fp16 value, 16-bit swizzled location) words",
            "sparsehub_flash_llm_spmm.tiled_csl:tiled_csl_from_csr",
            "sparsehub_flash_llm_spmm.tiled_csl:tiled_csl_to_csr",
        )
    ]
