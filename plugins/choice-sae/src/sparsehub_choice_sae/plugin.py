"""The hook implementations that announce sparsehub-choice-sae to sparsehub (entry-point group "sparsehub")."""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "choice-sae",
            entry="sparsehub_choice_sae:MutualChoiceSAE",
            reproduce="sparsehub_choice_sae.reproduction:reproduce",
            bench="sparsehub_choice_sae.benchmarks:bench",
        )
    ]
