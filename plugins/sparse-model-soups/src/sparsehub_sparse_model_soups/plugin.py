"""The hook implementations that announce sparsehub-sparse-model-soups to sparsehub (entry-point group "sparsehub")."""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [
        spec_from_catalog(
            "sparse-model-soups",
            entry="sparsehub_sparse_model_soups:SparseModelSoup",
            reproduce="sparsehub_sparse_model_soups.reproduction:reproduce",
        )
    ]
