"""The hook implementations that announce sparsehub-sinkhorn-newton-sparse to sparsehub.

Entry-point group "sparsehub".
"""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "sinkhorn-newton-sparse",
            entry="sparsehub_sinkhorn_newton_sparse:sinkhorn_newton_sparse",
            reproduce="sparsehub_sinkhorn_newton_sparse.reproduction:reproduce",
            bench="sparsehub_sinkhorn_newton_sparse.benchmarks:bench",
        )
    ]
