"""The hook implementations that announce sparsehub-random-pruning to sparsehub (entry point "sparsehub")."""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "random-pruning",
            entry="sparsehub_random_pruning:RandomPruner",
            reproduce="sparsehub_random_pruning.reproduction:reproduce",
        )
    ]
