"""The hook implementations that announce sparsehub-kronecker-sbl to sparsehub (entry-point group "sparsehub")."""

from sparsehub.hookspecs import hookimpl
from sparsehub.registry import spec_from_catalog


@hookimpl
def sparsehub_methods():
    return [spec_from_catalog("kronecker-sbl", entry="sparsehub_kronecker_sbl:kron_sbl",
                              reproduce="sparsehub_kronecker_sbl.reproduction:reproduce",
                              bench="sparsehub_kronecker_sbl.benchmarks:bench")]
