"""MobileNet v1 (Howard et al. 2017), the paper's main network, and a small digits-sized variant.

Both are built as the paper runs them: a dense 3x3 first convolution, then depthwise-separable
blocks (3x3 depthwise - BN - ReLU, 1x1 pointwise - BN - ReLU), global average pooling and a dense
classifier. Only the 1x1 convolutions are pruned and run sparse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from sparsehub.errors import bad_value

__all__ = ["MOBILENET_V1_BLOCKS", "mobilenet_v1", "pointwise_shapes", "tiny_mobilenet"]

#: (output channels, depthwise stride) of the 13 depthwise-separable blocks of MobileNet v1-1.0.
MOBILENET_V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
                       (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _separable(cin: int, cout: int, stride: int, act: type[nn.Module]) -> list[nn.Module]:
    return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), act(),
            nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), act()]


def _net(in_channels: int, stem: int, stem_stride: int, blocks: Sequence[tuple[int, int]], n_classes: int,
         act: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, stem, 3, stem_stride, 1, bias=False), nn.BatchNorm2d(stem), act()]
    c = stem
    for cout, stride in blocks:
        layers += _separable(c, cout, stride, act)
        c = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, n_classes)]
    return nn.Sequential(*layers)


def _width(c: int, width: float) -> int:
    return max(1, round(c * width))


def mobilenet_v1(width: float = 1.0, n_classes: int = 1000, in_channels: int = 3, *, seed: int = 0) -> nn.Sequential:
    """MobileNet v1 with width multiplier ``width``: 32-channel stride-2 stem, 13 separable blocks.

    One flat ``nn.Sequential`` so that :func:`~.modules.convert` can fuse each pointwise conv with
    its BatchNorm and ReLU. Weights from torch's default initialisation under ``seed``.
    """
    if not (isinstance(width, (int, float)) and 0 < width < math.inf):
        raise bad_value("width", width, "a positive float")
    blocks = [(_width(c, width), s) for c, s in MOBILENET_V1_BLOCKS]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _net(in_channels, _width(32, width), 2, blocks, n_classes, nn.ReLU)


def tiny_mobilenet(width: float = 1.0, n_classes: int = 10, in_channels: int = 1, *, seed: int = 0) -> nn.Sequential:
    """A MobileNet-style net for 16x16 digits: stem 3x3 (16 ch, stride 2 as in MobileNet), separable blocks
    (32, s1), (64, s2), (64, s1), (128, s2), then pooling and a classifier; channels times ``width``.

    16x16 -> 8x8 -> 4x4 -> 2x2: the pointwise layers see 64, 16, 16 and 4 pixels. ReLU6 as in the paper's
    MobileNet v2/EfficientNet models, so the fused clamp is exercised.
    """
    if not (isinstance(width, (int, float)) and 0 < width < math.inf):
        raise bad_value("width", width, "a positive float")
    blocks = [(_width(c, width), s) for c, s in ((32, 1), (64, 2), (64, 1), (128, 2))]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _net(in_channels, _width(16, width), 2, blocks, n_classes, nn.ReLU6)


def pointwise_shapes(resolution: int = 224, width: float = 1.0) -> list[tuple[int, int, int, int]]:
    """(Cin, Cout, H, W) of MobileNet v1's 13 pointwise convolutions for a square input.

    At 112 px: 56x56 after the stem, then 28, 14, 7 and 4 (3x3 convs with padding 1 round up).
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise bad_value("resolution", resolution, "an int >= 1 (pixels)")
    side = (resolution + 1) // 2
    c = _width(32, width)
    shapes = []
    for cout, stride in MOBILENET_V1_BLOCKS:
        side = (side - 1) // stride + 1
        cout = _width(cout, width)
        shapes.append((c, cout, side, side))
        c = cout
    return shapes
