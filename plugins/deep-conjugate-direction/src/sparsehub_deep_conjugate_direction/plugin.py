"""The hook implementations that announce sparsehub-deep-conjugate-direction to sparsehub.

Entry-point group "sparsehub".
"""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "deep-conjugate-direction",
            entry="sparsehub_deep_conjugate_direction:dcdm",
            reproduce="sparsehub_deep_conjugate_direction.reproduction:reproduce",
            bench="sparsehub_deep_conjugate_direction.benchmarks:bench",
        )
    ]
