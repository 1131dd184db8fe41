"""The hook implementations that announce sparsehub-block-coordinate-descent to sparsehub.

Entry-point group "sparsehub".
"""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "block-coordinate-descent",
            entry="sparsehub_block_coordinate_descent:bcd_minimize",
            reproduce="sparsehub_block_coordinate_descent.reproduction:reproduce",
            bench="sparsehub_block_coordinate_descent.benchmarks:bench",
        )
    ]
