"""The hook implementations that announce sparsehub-sae-supervised-eval to sparsehub (entry-point group "sparsehub")."""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "sae-supervised-eval",
            entry="sparsehub_sae_supervised_eval:SupervisedDictionary",
            reproduce="sparsehub_sae_supervised_eval.reproduction:reproduce",
            bench="sparsehub_sae_supervised_eval.benchmarks:bench",
        )
    ]
