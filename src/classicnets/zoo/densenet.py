"""DenseNet: Huang, Liu, van der Maaten & Weinberger (2016), "Densely connected convolutional
networks", CVPR 2017.

ImageNet models, table 1 (DenseNet-BC, growth rate k=32, compression 0.5): a 7x7/2 stem with 64
filters and max pooling, dense blocks of (6, 12, 24, 16) / (6, 12, 32, 32) / (6, 12, 48, 32)
bottleneck layers joined by transitions, BN-ReLU, global average pooling; counts as torchvision's.
CIFAR model, section 4: DenseNet-BC with L=100 layers and k=12 (three blocks of 16 bottleneck layers,
a 3x3 stem of 2k filters): the paper's 0.8M parameters (table 2).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..blocks import DenseBlock, Transition
from ..errors import UserError
from .registry import register_builder, register_model

PAPER = "Huang et al. 2016, Densely connected convolutional networks"


class DenseNet(nn.Module):
    def __init__(self, blocks: Sequence[int], growth: int, stem: nn.Module, c_stem: int, num_classes: int,
                 bn_size: int = 4, compression: float = 0.5, drop_rate: float = 0.0):
        super().__init__()
        self.stem = stem
        c = c_stem
        stages: list[nn.Module] = []
        for i, n in enumerate(blocks):
            block = DenseBlock(n, c, growth, bn_size, drop_rate)
            stages.append(block)
            c = block.out_channels
            if i < len(blocks) - 1:
                stages.append(Transition(c, int(c * compression)))
                c = int(c * compression)
        self.features = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(c, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.stem(x)))


IMAGENET = {121: ((6, 12, 24, 16), 7_978_856), 169: ((6, 12, 32, 32), 14_149_480),
            201: ((6, 12, 48, 32), 20_013_928)}


def densenet(depth: int, num_classes: int = 1000, in_channels: int = 3, growth: int = 32) -> DenseNet:
    if depth not in IMAGENET:
        raise UserError(f"DenseNet depth {depth} is not defined; choose one of {sorted(IMAGENET)}")
    stem = nn.Sequential(nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                         nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
    return DenseNet(IMAGENET[depth][0], growth, stem, 64, num_classes)


for _depth, (_blocks, _count) in IMAGENET.items():
    def _build(num_classes: int = 1000, in_channels: int = 3, growth: int = 32, _d=_depth) -> DenseNet:
        return densenet(_d, num_classes, in_channels, growth)
    register_builder(f"densenet{_depth}", _build, globals(),
                     description=f"DenseNet-{_depth} (BC, k=32, blocks {_blocks})", paper=PAPER, year=2016,
                     input_shape=(3, 224, 224), trainable_params=_count,
                     params_source=f"torchvision.models.densenet{_depth}")

@register_model(description="DenseNet-BC for CIFAR: 3 dense blocks of (L-4)/6 bottleneck layers",
                paper=PAPER, year=2016, input_shape=(3, 32, 32), approx_params="0.8M",
                params_source="Huang et al. 2016, table 2 (L=100, k=12)")
def densenet_bc(num_classes: int = 10, in_channels: int = 3, depth: int = 100, growth: int = 12,
                drop_rate: float = 0.0) -> DenseNet:
    if depth < 10 or (depth - 4) % 6:
        raise UserError(f"DenseNet-BC depth must be 6n+4 (e.g. 40, 100, 190); got {depth}")
    n = (depth - 4) // 6
    stem = nn.Conv2d(in_channels, 2 * growth, 3, 1, 1, bias=False)
    return DenseNet((n, n, n), growth, stem, 2 * growth, num_classes, drop_rate=drop_rate)
