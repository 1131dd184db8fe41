"""Hook implementations announcing sparsehub-gradual-magnitude-pruning (entry-point group "sparsehub")."""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "gradual-magnitude-pruning",
            entry="sparsehub_gradual_magnitude_pruning:GradualMagnitudePruner",
            reproduce="sparsehub_gradual_magnitude_pruning.reproduction:reproduce",
            bench="sparsehub_gradual_magnitude_pruning.benchmarks:bench",
        )
    ]
