"""The hook implementations that announce sparsehub-dsnot to sparsehub (entry-point group "sparsehub")."""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "dsnot",
            entry="sparsehub_dsnot:prune",
            reproduce="sparsehub_dsnot.reproduction:reproduce",
            bench="sparsehub_dsnot.benchmarks:bench",
        )
    ]
