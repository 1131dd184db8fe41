"""When the sparse CHW kernel pays: the dense fallback rule (spatial size and sparsity).

The sparse kernel streams nnz(W) weights once per strip of pixels; dense sgemm runs near its peak
once the matrices are large. With few pixels per image there is little to amortise the weight
stream over, and with many nonzeros the sparse work approaches the dense work at a lower FLOP
rate. Measured on the 2-core EPYC (AVX-512), 1 thread, float32, ratios dense sgemm time (numpy /
OpenBLAS) / sparse time, best of 15 (the machine was shared with other jobs; the lead re-measures):

=================================  =====  =====  =====  =====
(Cin, Cout, H*W)                    60%    70%    80%    90%
=================================  =====  =====  =====  =====
(128, 128, 3136)                    0.8    1.4    2.3    3.2
(256, 256, 784)                     0.9    1.3    2.1    3.3
(128, 256, 196) / (256, 256, 196)   -      -      1.6    2.8-3.1
(512, 512, 196)                     0.7    0.9    1.5    3.2
(256, 512, 49) / (512, 512, 49)     -      -      1.0-1.1  1.9-2.1
(1024, 1024, 49)                    0.1    0.2    1.0    2.2
(512, 1024, 16) / (1024, 1024, 16)  -      0.5    0.7    1.4
(512, 512, 4) / (1024, 1024, 4)     -      0.3    0.5    0.7-0.9
=================================  =====  =====  =====  =====

Hence the rule: the sparse kernel from 70% sparsity when H*W >= 196, from 80% when H*W >= 49,
from 90% when 8 < H*W < 49, and never at H*W <= 8 (2x2 maps, global-pooled inputs). The brief's
crossover (another kernel) was dense at H*W <= 49; ours still wins at 7x7 and, at 90%, at 4x4.
"""

from __future__ import annotations

__all__ = ["DENSE_MAX_HW", "THRESHOLDS", "prefers_sparse"]

#: At or below this many pixels per image the dense path runs whatever the sparsity.
DENSE_MAX_HW = 8
#: (minimum pixels per image, minimum sparsity) from the largest images down: the first row whose
#: pixel count the layer reaches gives the sparsity it needs.
THRESHOLDS = ((196, 0.7), (49, 0.8), (DENSE_MAX_HW + 1, 0.9))


def prefers_sparse(sparsity: float, hw: int) -> bool:
    """Whether the sparse CHW kernel is expected to beat dense sgemm for this layer (see the table)."""
    for min_hw, min_sparsity in THRESHOLDS:
        if hw >= min_hw:
            return sparsity >= min_sparsity - 1e-9
    return False
