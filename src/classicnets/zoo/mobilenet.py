"""MobileNet: Howard et al. (2017), "MobileNets: efficient convolutional neural networks for mobile
vision applications", table 1 (architecture) and tables 6-7 (width multiplier α, resolution ρ).

A 3x3/2 convolution, 13 depthwise-separable units, global average pooling and a classifier, with
BatchNorm (ε 1e-3) and ReLU6 as in Keras's `applications.MobileNet`, whose counts are the reference:
the course's convolutional base without top at 160x160 has 3,228,864 parameters, 3,206,976
trainable (independent of resolution). The paper gives 4.2M parameters and 569M multiply-adds
for MobileNet-1.0 at 224. `include_top=False` returns the (batch, 1024α, H/32, W/32) feature map.
"""
from __future__ import annotations

import torch
from torch import nn

from ..blocks import DepthwiseSeparable, conv_bn_act
from .registry import register_model

# table 1: (output channels, stride) of each depthwise-separable unit
UNITS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
         (512, 1), (512, 1), (1024, 2), (1024, 1)]


class MobileNet(nn.Module):
    def __init__(self, num_classes: int = 1000, in_channels: int = 3, alpha: float = 1.0,
                 include_top: bool = True, dropout: float = 1e-3):
        super().__init__()
        c = int(32 * alpha)
        if c < 1:  # Keras's int(filters * alpha) would leave the first layer without channels
            raise ValueError(f"alpha must be at least 1/32 = 0.03125 to keep a channel in the first layer; got {alpha}")
        layers: list[nn.Module] = [conv_bn_act(in_channels, c, 3, 2, 1, act=nn.ReLU6, eps=1e-3)]
        for out, stride in UNITS:
            out = int(out * alpha)
            layers.append(DepthwiseSeparable(c, out, stride))
            c = out
        self.features = nn.Sequential(*layers)
        self.out_channels = c
        self.head = (nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                   nn.Linear(c, num_classes)) if include_top else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.head(x) if self.head is not None else x


@register_model(description="MobileNet v1 (2017): 13 depthwise-separable units, width multiplier alpha",
                paper="Howard et al. 2017, MobileNets", year=2017, input_shape=(3, 224, 224),
                approx_params="4.2M", approx_macs="569M",
                params_source="Howard et al. 2017, table 8 (1.0 MobileNet-224)")
def mobilenet(num_classes: int = 1000, in_channels: int = 3, alpha: float = 1.0, include_top: bool = True,
              dropout: float = 1e-3) -> MobileNet:
    return MobileNet(num_classes, in_channels, alpha, include_top, dropout)
