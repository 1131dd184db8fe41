"""The hook implementations that announce sparsehub-lord to sparsehub (entry-point group "sparsehub")."""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "lord",
            entry="sparsehub_lord:decompose",
            reproduce="sparsehub_lord.reproduction:reproduce",
            bench="sparsehub_lord.benchmarks:bench",
        )
    ]
