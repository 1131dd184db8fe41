"""Reproduction of Fast Sparse ConvNets at small scale: ``reproduce(quick=True, seed=0) -> Report``.

Claims (the paper's, as far as a CPU and a minute allow):

1. The CHW sparse kernel computes the 1x1 convolution: fused bias + ReLU6, 90% sparse, against
   dense ``torch.nn.functional.conv2d`` in float64 (relative error <= 1e-5, float32 kernel).
2. Gradual magnitude pruning of the 1x1 convolutions to 90% keeps accuracy: a MobileNet-style net
   on scikit-learn's digits (8x8 upsampled to 16x16) within 2 points of the same net trained dense.
3. Sparse beats dense at equal non-zeros: a 2x-wider net whose 1x1 convolutions are pruned to 75%
   (the same 1x1 non-zeros as the narrow net) is at least as accurate as the narrow dense net.
4. The converted model (every pruned 1x1 conv run by the CHW kernel, BatchNorm and ReLU6 fused)
   gives the trained masked model's logits (relative error <= 1e-5) and its accuracy.

Timing claims (sparse faster than dense) are benchmarks, not reproductions: ``sparsehub bench
fast-sparse-convnets``; ``quick=False`` adds the MobileNet v1 pointwise-layer timing as a claim.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from sparsehub.bench import threads
from sparsehub.progress import progress
from sparsehub.repro import Claim, Report

__all__ = ["reproduce"]


def _digits16(seed: int) -> tuple[torch.Tensor, ...]:
    from sparsehub.nn.fixtures import digits

    X_train, y_train, X_test, y_test = digits(image=True, seed=seed)
    up = [F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False) for x in (X_train, X_test)]
    return up[0], y_train, up[1], y_test


def _kernel_error(seed: int) -> float:
    from .chw import spmm_chw

    rng = np.random.default_rng(seed)
    cin, cout, n, h, w = 96, 128, 2, 14, 14
    W = rng.standard_normal((cout, cin)) * (rng.random((cout, cin)) >= 0.9)
    b = rng.standard_normal(cout)
    x = rng.standard_normal((n, cin, h, w)) * 3
    ours = spmm_chw(W.astype(np.float32), x.astype(np.float32), b.astype(np.float32), clamp="relu6")
    ref = F.relu6(F.conv2d(torch.from_numpy(x), torch.from_numpy(W)[:, :, None, None], torch.from_numpy(b))).numpy()
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


def _train(width: float, sparsity: float | None, data: tuple, epochs: int, seed: int) -> tuple[torch.nn.Module, float]:
    from sparsehub.nn.fixtures import evaluate, train
    from sparsehub.nn.schedule import PolynomialSchedule

    from .mobilenet import tiny_mobilenet
    from .pruning import PointwisePruner

    model = tiny_mobilenet(width, seed=seed)
    steps = epochs * -(-data[0].shape[0] // 64)  # batches of 64
    pruner = None
    if sparsity is not None:  # prune from 10% to 60% of training, every 5% of it (the paper's shape)
        schedule = PolynomialSchedule(final=sparsity, begin_step=steps // 10, end_step=6 * steps // 10,
                                      frequency=max(1, steps // 20))
        pruner = PointwisePruner(schedule).attach(model)
    with threads(1):  # tiny convolutions: one torch thread is faster than two (and than a busy pool)
        train(model, data[:2], epochs=epochs, lr=0.1, batch_size=64, seed=seed, masking=pruner)
    if pruner is not None:
        pruner.remove()
    return model, evaluate(model, data[2], data[3])


def _converted_agreement(model: torch.nn.Module, data: tuple) -> tuple[float, float, dict]:
    from sparsehub.nn.fixtures import evaluate

    from .modules import convert

    sparse, report = convert(model, fallback="never")
    model.eval()
    with torch.no_grad():
        ref = model(data[2]).double()
        ours = sparse(data[2]).double()
    err = float((ours - ref).abs().max() / ref.abs().max())
    return err, evaluate(sparse, data[2], data[3]), report


def _mobilenet_timing(seed: int) -> tuple[float, float]:
    from sparsehub.bench import compare

    from .benchmarks import pointwise_network_case

    candidates, _ = pointwise_network_case(112, 0.9, seed=seed)
    res = compare("MobileNet v1 pointwise layers", candidates, ours="CHW sparse (numba)", threads=1, repeats=7)
    return res.timings["CHW sparse (numba)"].median, res.timings["dense sgemm (numpy BLAS)"].median


def reproduce(quick: bool = True, seed: int = 0) -> Report:
    """Measure the paper's claims; ``quick=True`` runs in about 20-30 s on 2 CPU cores."""
    report = Report("fast-sparse-convnets", [], quick=quick, seed=seed)
    epochs = 10 if quick else 30
    with report.timed():
        report.add(Claim.check(
            "The CHW sparse kernel (fused bias + ReLU6) computes the 90%-sparse 1x1 convolution",
            "max relative error vs dense conv2d (float64)", _kernel_error(seed), op="<=", bound=1e-5))
        data = _digits16(seed)
        runs = {}
        for key, width, sparsity in progress([("dense", 1.0, None), ("sparse", 1.0, 0.9), ("wide", 2.0, 0.75)],
                                             desc="fast-sparse-convnets: training", label=lambda r: r[0]):
            runs[key] = _train(width, sparsity, data, epochs, seed)
        dense_acc, sparse_acc, wide_acc = (runs[k][1] for k in ("dense", "sparse", "wide"))
        report.add(Claim.compare(
            "1x1 convs pruned to 90% by gradual magnitude pruning keep accuracy (within 2 points of dense)",
            "test accuracy, digits 16x16, MobileNet-style net", sparse_acc, dense_acc,
            baseline_name="same net, dense", op=">=", margin=-0.02))
        report.add(Claim.compare(
            "At equal 1x1 non-zeros, a 2x-wider net pruned to 75% is at least as accurate as the narrow dense net",
            "test accuracy, digits 16x16", wide_acc, dense_acc, baseline_name="narrow net, dense", op=">="))
        err, conv_acc, conv_report = _converted_agreement(runs["sparse"][0], data)
        report.add(Claim.check(
            "The converted model (1x1 convs on the CHW kernel, BN + ReLU6 fused) reproduces the trained logits",
            "max relative logit error vs the masked torch model", err, op="<=", bound=1e-5,
            details={"converted accuracy": conv_acc, "trained accuracy": sparse_acc, "layers": conv_report}))
        if not quick:
            ours, dense = _mobilenet_timing(seed)
            report.add(Claim.compare(
                "Over MobileNet v1's 13 pointwise layers at 112 px and 90% sparsity, sparse takes <= 0.6x dense",
                "seconds, 1 thread", ours, dense, baseline_name="dense sgemm (numpy BLAS)", op="<=", scale=0.6))
    return report
