"""The hook implementations that announce sparsehub-slicegpt to sparsehub (entry-point group "sparsehub")."""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "slicegpt",
            entry="sparsehub_slicegpt:slice_model",
            reproduce="sparsehub_slicegpt.reproduction:reproduce",
            bench="sparsehub_slicegpt.benchmarks:bench",
        )
    ]
