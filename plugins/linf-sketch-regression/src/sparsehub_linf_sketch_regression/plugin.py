"""The hook implementations that announce sparsehub-linf-sketch-regression to sparsehub.

Entry-point group "sparsehub".
"""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "linf-sketch-regression",
            entry="sparsehub_linf_sketch_regression:sketch_lstsq",
            reproduce="sparsehub_linf_sketch_regression.reproduction:reproduce",
            bench="sparsehub_linf_sketch_regression.benchmarks:bench",
        )
    ]
