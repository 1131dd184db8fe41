"""SMASH: Sparse Matrix Atomic Scratchpad Hashing (M.S. thesis, arXiv:2105.14156).

Row-wise (Gustavson) SpGEMM that merges partial products as they are made by hashing them into a
scratchpad table, never storing a partial-product matrix. :func:`spgemm` runs it (one or two
passes, numba on the CPU or numba.cuda with atomic CAS on a GPU) or one of the dataflows the
paper compares against (outer product, inner product, dense accumulator); :func:`traffic_model`
counts what each dataflow fetches, writes and probes. The CPU and GPU kernels are also
registered as ``spgemm`` kernels of the ``numba`` and ``cuda`` backends (algorithm ``"hash"``).

Distribution ``sparsehub-smash-spgemm``; paper: https://arxiv.org/abs/2105.14156

The names below are imported on first use (``sparsehub.lazy``), so that discovering this plugin
through its entry point imports no torch and compiles no numba.
"""

from sparsehub.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "spgemm": ".multiply",
        "traffic_model": ".traffic",
        "hash_spgemm": ".rowwise",
        "hash_spgemm_two_pass": ".rowwise",
        "spa_spgemm": ".rowwise",
        "outer_spgemm": ".dataflows",
        "inner_spgemm": ".dataflows",
        "row_upper_bounds": ".rowwise",
        "index_dtype": ".rowwise",
        "table_size": ".rowwise",
        "sort_rows": ".rowwise",
        "reproduce": ".reproduction",
        "bench": ".benchmarks",
    },
)
