"""sparsehub-fast-sparse-convnets: discovery through its entry point and the paper's reproduction."""

import sparsehub_fast_sparse_convnets
from sparsehub.testing import assert_discovered
from sparsehub_fast_sparse_convnets import mobilenet_v1, pointwise_shapes


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("fast-sparse-convnets", sparsehub_fast_sparse_convnets.spmm_chw, sparsehub_fast_sparse_convnets.reproduce)


def test_pointwise_shapes_are_those_mobilenet_v1_feeds_its_1x1_convs():
    import torch

    model, seen = mobilenet_v1(seed=0).eval(), []
    for m in model:
        if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1):
            m.register_forward_hook(lambda mod, inp, out: seen.append((mod.in_channels, mod.out_channels,
                                                                         *inp[0].shape[2:])))
    with torch.no_grad():
        model(torch.zeros(1, 3, 112, 112))
    assert seen == pointwise_shapes(112) and len(seen) == 13


def test_bench_cases_check_every_anchor_against_ours():
    from sparsehub_fast_sparse_convnets.benchmarks import layer_case

    candidates, extra = layer_case(16, 24, 30, 0.75)  # raises if an anchor disagrees
    assert {"dense sgemm (numpy BLAS)", "torch.sparse.mm (CSR)", "torch conv2d (dense)"} <= set(candidates)
    assert extra["nnz"] == 24 * 4


def test_reproduce_quick_holds_every_claim_of_the_paper():
    report = sparsehub_fast_sparse_convnets.reproduce(quick=True, seed=0)
    assert report.slug == "fast-sparse-convnets"
    assert report.passed, report.table()
