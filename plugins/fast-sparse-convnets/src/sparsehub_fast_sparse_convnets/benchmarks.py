"""``sparsehub bench fast-sparse-convnets``: the CHW sparse 1x1 convolution against its anchors.

Cases, each at 1 and 2 threads (ours and every anchor at the same count), float32, one image:

* single 1x1 layers at 90% sparsity, (Cin = Cout, H*W) = (128, 3136), (256, 784), (512, 196),
  (1024, 49) with ``--full``; (256, 196) and (512, 196) when quick. Anchors: dense sgemm (numpy
  BLAS), ``torch.matmul``, ``torch.nn.functional.conv2d``, ``torch.sparse.mm`` (CSR, MKL) and scipy
  CSR. Issue targets: >= 1.5x dense sgemm and >= 1.0x ``torch.sparse.mm`` at 1 thread, H*W >= 196.
* MobileNet v1's 13 pointwise layers at 112 px, 90% sparse, timed as one pass over all of them:
  ours sparse everywhere, ours with the dense fallback of :mod:`.dispatch`, against the same
  anchors summed over the layers. Target: sparse total <= 0.6x dense.

Every candidate's result is checked against ours before timing. ``extra`` carries the achieved
bandwidth of our kernel (compulsory bytes: packed weights, input, output) as a fraction of the
machine's copy bandwidth (:func:`sparsehub.bench.bandwidth_fraction`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from sparsehub.bench import BenchResult, bandwidth_fraction, compare

__all__ = ["bench", "layer_case", "pointwise_network_case", "random_layer"]

OURS = "CHW sparse (numba)"


def random_layer(cin: int, cout: int, hw: int, sparsity: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A float32 weight (Cout, Cin) with exactly ``round(sparsity * Cin)`` zeros per row, and an input (Cin, HW)."""
    rng = np.random.default_rng(seed)
    keep = cin - round(sparsity * cin)
    W = np.zeros((cout, cin), dtype=np.float32)
    cols = np.sort(rng.random((cout, cin)).argsort(axis=1)[:, :keep], axis=1)
    W[np.arange(cout)[:, None], cols] = rng.standard_normal((cout, keep)).astype(np.float32)
    return W, rng.standard_normal((cin, hw)).astype(np.float32)


def _bytes_moved(packed: Any, hw: int) -> int:
    cout, cin = packed.shape
    return packed.values.nbytes + packed.channel_deltas.nbytes + packed.nnz_map.nbytes + 4 * hw * (cin + cout)


def _anchors(layers: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Callable[[], list]]:
    """Dense and sparse anchors, each computing W @ X for every layer in the list."""
    import scipy.sparse as sp
    import torch

    tw = [(torch.from_numpy(W), torch.from_numpy(X)) for W, X in layers]
    conv = [(Wt[:, :, None, None], Xt[None, :, :, None]) for Wt, Xt in tw]
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        csr = [(Wt.to_sparse_csr(), Xt) for Wt, Xt in tw]
    scipy_csr = [(sp.csr_array(W), X) for W, X in layers]
    return {
        "dense sgemm (numpy BLAS)": lambda: [W @ X for W, X in layers],
        "torch.matmul (dense)": lambda: [Wt @ Xt for Wt, Xt in tw],
        "torch conv2d (dense)": lambda: [torch.nn.functional.conv2d(Xc, Wc) for Wc, Xc in conv],
        "torch.sparse.mm (CSR)": lambda: [torch.sparse.mm(Wc, Xt) for Wc, Xt in csr],
        "scipy csr @ dense": lambda: [Ws @ X for Ws, X in scipy_csr],
    }


def _checked(candidates: dict[str, Callable[[], list]], shapes: list[tuple[int, int]]) -> dict:
    expected = [np.asarray(o).reshape(s) for o, s in zip(candidates[OURS](), shapes)]
    for name, fn in candidates.items():
        for out, exp, s in zip(fn(), expected, shapes):
            out = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
            np.testing.assert_allclose(out.reshape(s), exp, rtol=1e-4, atol=1e-3, err_msg=name)
    return candidates


def _cases(layers: list[tuple[np.ndarray, np.ndarray]]) -> tuple[dict, list, int]:
    from .dispatch import prefers_sparse
    from .kernels import spmm_chw_packed
    from .packing import pack_xnnpack

    packed = [(pack_xnnpack(W), X.reshape(1, *X.shape)) for W, X in layers]
    ours = {OURS: lambda: [spmm_chw_packed(P, X) for P, X in packed]}
    shapes = [(W.shape[0], X.shape[1]) for W, X in layers]
    candidates = {**ours, **_anchors(layers)}
    if len(layers) > 1:
        sparse_layer = [prefers_sparse(1 - P.nnz / W.size, X.shape[1]) for (P, _), (W, X) in zip(packed, layers)]
        candidates["CHW sparse + dense fallback"] = lambda: [
            spmm_chw_packed(P, X3) if use else W @ X
            for use, (P, X3), (W, X) in zip(sparse_layer, packed, layers)
        ]
    moved = sum(_bytes_moved(P, X.shape[2]) for P, X in packed)
    return _checked(candidates, shapes), shapes, moved


def layer_case(cin: int, cout: int, hw: int, sparsity: float = 0.9, seed: int = 0) -> tuple[dict, dict]:
    """Candidates for one 1x1 layer, and its description (shape, nnz, bytes our kernel must move)."""
    W, X = random_layer(cin, cout, hw, sparsity, seed)
    candidates, _, moved = _cases([(W, X)])
    extra = {"layer": f"(Cout={cout}, Cin={cin}) x (Cin, HW={hw})", "sparsity": sparsity,
             "nnz": int(np.count_nonzero(W)), "dtype": "float32", "bytes moved (ours)": moved}
    return candidates, extra


def pointwise_network_case(resolution: int = 112, sparsity: float = 0.9, seed: int = 0) -> tuple[dict, dict]:
    """Candidates for MobileNet v1's 13 pointwise layers at ``resolution`` px, each run once per call."""
    from .mobilenet import pointwise_shapes

    shapes = pointwise_shapes(resolution)
    layers = [random_layer(cin, cout, h * w, sparsity, seed + i) for i, (cin, cout, h, w) in enumerate(shapes)]
    candidates, _, moved = _cases(layers)
    dense_flops = sum(2 * cin * cout * h * w for cin, cout, h, w in shapes)
    extra = {"layers": f"13 pointwise layers of MobileNet v1-1.0 at {resolution} px", "sparsity": sparsity,
             "dense GFLOP": round(dense_flops / 1e9, 3), "dtype": "float32", "bytes moved (ours)": moved}
    return candidates, extra


def bench(quick: bool = True, threads: tuple[int, ...] = (1, 2)) -> list[BenchResult]:
    """Time the CHW kernel against dense BLAS, torch and torch.sparse / scipy CSR, per thread count."""
    layer_shapes = [(256, 196), (512, 196)] if quick else [(128, 3136), (256, 784), (512, 196), (1024, 49)]
    cases = [(f"1x1 conv 90% sparse, C={c}, HW={hw}", layer_case(c, c, hw)) for c, hw in layer_shapes]
    cases.append(("MobileNet v1 pointwise layers, 112 px, 90% sparse", pointwise_network_case(112, 0.9)))
    results = []
    for t in threads:
        for title, (candidates, extra) in cases:
            res = compare(title, candidates, ours=OURS, threads=t, repeats=7 if quick else 15, warmup=2, extra=extra)
            res.extra.update(bandwidth_fraction(extra["bytes moved (ours)"], res.timings[OURS].median, threads=t))
            res.extra["ours / dense sgemm time"] = round(1 / res.ratios["dense sgemm (numpy BLAS)"], 3)
            results.append(res)
    return results


if __name__ == "__main__":
    import sys

    from sparsehub.bench import format_results

    print(format_results(bench(quick="--full" not in sys.argv)))
