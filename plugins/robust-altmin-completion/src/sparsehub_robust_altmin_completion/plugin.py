"""The hook implementations that announce sparsehub-robust-altmin-completion to sparsehub.

Entry-point group "sparsehub"; loading this module imports nothing heavy.
"""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "robust-altmin-completion",
            entry="sparsehub_robust_altmin_completion:altmin_complete",
            reproduce="sparsehub_robust_altmin_completion.reproduction:reproduce",
            bench="sparsehub_robust_altmin_completion.benchmarks:bench",
        )
    ]
