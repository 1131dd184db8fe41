"""The hook implementations that announce sparsehub-gradient-sae to sparsehub (entry-point group "sparsehub")."""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "gradient-sae",
            entry="sparsehub_gradient_sae:GradientTopKSAE",
            reproduce="sparsehub_gradient_sae.reproduction:reproduce",
            bench="sparsehub_gradient_sae.benchmarks:bench",
        )
    ]
