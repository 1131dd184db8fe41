"""``traffic_model(A, B, method)``: what each SpGEMM dataflow fetches, writes and probes.

The thesis argues by memory traffic (ch. 5): row-wise hashing reads A once, fetches one row of B
per stored a_ik, writes only C and never a partial product; the outer product writes (and reads
back) all flops partial products; the inner product re-reads A's rows and B's columns for every
one of the m * n dot products. These counts are exact for our kernels' access patterns (caches
ignored: each element fetched counts, as on PIUMA's cache-less scratchpad path). Bytes use the
operands' index and value item sizes; probes are hash-table slot inspections (counted by running
the symbolic pass), so ``collisions = probes - flops``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .operands import as_csr_pair

__all__ = ["METHODS", "traffic_model"]

METHODS = ("hash", "spa", "outer", "inner")


def traffic_model(A: Any, B: Any, method: str = "hash", *, window: int | None = None) -> dict[str, Any]:
    """Memory traffic of C = A @ B under ``method`` ("hash", "spa", "outer" or "inner").

    Returns a dict of ints: ``flops`` (partial products a_ik * b_kj), ``nnz_C`` (distinct
    output positions, cancellations included), ``bytes_A`` / ``bytes_B`` (fetched),
    ``partial_products_written`` and ``bytes_partial`` (written plus read back), ``bytes_C``
    (written), ``bytes_total``, ``probes`` (hash slots inspected for "hash", accumulator
    accesses for "spa", index comparisons bound m * nnz(B) + n * nnz(A) for "inner", partial
    products sorted for "outer"), ``collisions`` (probes beyond the first per product, "hash"
    only) and ``dot_products`` (outputs attempted: m * n for "inner", else nnz_C).
    A, B: anything :func:`spgemm` accepts, shapes (m, k) and (k, n).
    """
    from .rowwise import symbolic

    if method not in METHODS:
        raise ValueError(f"method={method!r} is not allowed: expected one of {', '.join(METHODS)}")
    a, b, _ = as_csr_pair(A, B)
    (m, k), n = a.shape, b.shape[1]
    a_ptr, a_idx, a_val = (a.arrays[x] for x in ("indptr", "indices", "values"))
    b_ptr, b_idx, b_val = (b.arrays[x] for x in ("indptr", "indices", "values"))
    ib = a_idx.itemsize
    vb = np.result_type(a_val.dtype, b_val.dtype, np.float32).itemsize
    entry = ib + vb
    ub, nnz_rows, probes = symbolic(a_ptr, a_idx, b_ptr, b_idx, n, window)
    flops, nnz_c, nnz_a, nnz_b = int(ub.sum()), int(nnz_rows.sum()), int(a_idx.size), int(b_idx.size)
    bytes_a = nnz_a * entry + (m + 1) * ib
    bytes_c = nnz_c * entry + (m + 1) * ib
    out = {"method": method, "flops": flops, "nnz_C": nnz_c, "partial_products_written": 0,
           "bytes_partial": 0, "collisions": 0, "dot_products": nnz_c}
    if method in ("hash", "spa"):
        # one B row (its two row pointers and its entries) per stored a_ik
        bytes_b = flops * entry + 2 * nnz_a * ib
        out["probes"] = int(probes.sum()) if method == "hash" else flops
        out["collisions"] = out["probes"] - flops if method == "hash" else 0
    elif method == "outer":
        used = np.zeros(k, dtype=bool)
        used[a_idx] = True  # B row k is read once, if column k of A holds anything
        b_len = np.diff(b_ptr)
        bytes_b = int(b_len[used].sum()) * entry + 2 * int(used.sum()) * ib
        out["partial_products_written"] = flops
        out["bytes_partial"] = 2 * flops * entry  # written in the multiply phase, read back to merge
        out["probes"] = flops
    else:  # inner: every (i, j) re-reads row i of A and column j of B (indices; values on a match)
        a_rows = int(np.count_nonzero(np.diff(a_ptr)))
        b_cols = np.bincount(b_idx, minlength=n)
        bytes_a = n * (nnz_a * ib + 2 * a_rows * ib) + flops * vb
        bytes_b = a_rows * (nnz_b * ib + 2 * n * ib) + flops * vb
        out["probes"] = n * nnz_a + a_rows * int(b_cols.sum())
        out["dot_products"] = m * n
    out.update(bytes_A=int(bytes_a), bytes_B=int(bytes_b), bytes_C=int(bytes_c))
    out["bytes_total"] = out["bytes_A"] + out["bytes_B"] + out["bytes_partial"] + out["bytes_C"]
    return out
