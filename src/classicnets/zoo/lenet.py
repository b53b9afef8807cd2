"""LeNet-5 and a LeNet-style ConvNet sized for small images.

LeCun, Bottou, Bengio & Haffner (1998), "Gradient-based learning applied to document recognition",
Proc. IEEE 86(11), figure 2: C1 6@28x28 (5x5) - S2 - C3 16@10x10 (5x5) - S4 - C5 120 - F6 84 - output.

Differences from the paper, as in every modern reimplementation: C3 connects to all six S2 maps
(the paper's table 1 wires each C3 map to a subset), subsampling is max pooling without trainable
coefficients, the squashing function is ReLU, and the RBF output layer is a linear layer. The
parameter count therefore is 61,706, not the paper's 60,000 (rounded).

`lenet` keeps LeNet-5's layout (conv-pool-conv-pool-fc-fc) with 3x3 "same" convolutions, so it fits
images from 4x4 up, such as scikit-learn's 8x8 digits, MNIST's 28x28 or CIFAR's 32x32.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..blocks import pair
from .registry import register_model


class LeNet(nn.Module):
    """conv(k) - pool - conv(k) - pool - flatten - dense... - classifier."""

    def __init__(self, *, in_channels: int = 1, num_classes: int = 10,
                 input_size: Sequence[int] = (32, 32), channels: Sequence[int] = (6, 16),
                 kernel_size: int = 5, padding: int = 0, hidden: Sequence[int] = (120, 84),
                 dropout: float = 0.0):
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size, padding=padding),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size, padding=padding),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        h, w = input_size
        # each stage: conv (k, padding p) then 2x2 pooling; a stage needs at least k - 2p + 1 pixels
        need = kernel_size - 2 * padding + 1
        smallest = 2 * need + need - 2
        if min(h, w) < smallest:
            raise ValueError(f"input size {tuple(input_size)} is too small for this LeNet: it needs at "
                             f"least {smallest}x{smallest} (two {kernel_size}x{kernel_size} "
                             f"convolutions, each followed by 2x2 pooling)")
        for _ in range(2):
            h, w = (h + 2 * padding - kernel_size + 1) // 2, (w + 2 * padding - kernel_size + 1) // 2
        layers: list[nn.Module] = [nn.Flatten()]
        width = c2 * h * w
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU(inplace=True)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = units
        layers.append(nn.Linear(width, num_classes))
        self.classifier = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # (batch, num_classes) logits


@register_model(description="LeNet-5 (1998): 6 and 16 5x5 convolutions, 120-84 dense, on 32x32",
                paper="LeCun et al. 1998, Gradient-based learning applied to document recognition",
                year=1998, input_shape=(1, 32, 32), num_params=61_706,
                params_source="LeNet-5 with full C3 connections: 156+2,416+48,120+10,164+850")
def lenet5(num_classes: int = 10, in_channels: int = 1, input_size: int | tuple[int, int] = 32) -> LeNet:
    return LeNet(in_channels=in_channels, num_classes=num_classes, input_size=pair(input_size))


@register_model(description="LeNet-style ConvNet with 3x3 same convolutions (32, 64), dense 128, "
                            "dropout 0.25; the default model, sized for 8x8 digits",
                paper="after LeCun et al. 1998", year=1998, input_shape=(1, 8, 8), num_params=53_002,
                params_source="320 + 18,496 + 32,896 + 1,290, for 1x8x8 input")
def lenet(num_classes: int = 10, in_channels: int = 1, input_size: int | tuple[int, int] = 8,
          width: int = 32, hidden: int = 128, dropout: float = 0.25) -> LeNet:
    return LeNet(in_channels=in_channels, num_classes=num_classes, input_size=pair(input_size),
                 channels=(width, 2 * width), kernel_size=3, padding=1, hidden=(hidden,), dropout=dropout)
