"""MobileNet: Howard et al. (2017), "MobileNets: efficient convolutional neural networks for mobile
vision applications", table 1 (architecture) and tables 6-7 (width multiplier α, resolution ρ).

A 3x3/2 convolution, 13 depthwise-separable units, global average pooling and a classifier, with
BatchNorm (ε 1e-3) and ReLU6 as in Keras's `applications.MobileNet`, whose counts are the reference:
the course's convolutional base without top at 160x160 has 3,228,864 parameters, 3,206,976
trainable (independent of resolution). The paper gives 4.2M parameters and 569M multiply-adds
for MobileNet-1.0 at 224. `include_top=False` returns the (batch, 1024α, H/32, W/32) feature map.

Keras's padding is reproduced, so that its published weights compute what they compute in Keras:
its stride-2 convolutions pad one pixel at the bottom and right only, where PyTorch's `padding=1`
pads both sides and shifts every later feature map by a pixel. The first convolution uses
TensorFlow's `padding='same'` (`SamePad2d`: (0, 1) on even sizes, (1, 1) on odd ones); the stride-2
depthwise convolutions follow `ZeroPadding2D(((0, 1), (0, 1)))` with a 'valid' convolution, as
Keras writes them (`conv_pad_N`). The classifier is Keras's 1x1 `conv_preds` as a dense layer; the
model returns logits (Keras applies softmax). Keras's BatchNorm momentum 0.99 is PyTorch's 0.01;
the default 0.1 is kept.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from ..blocks import DepthwiseSeparable, conv_bn_act
from .registry import register_model

# table 1: (output channels, stride) of each depthwise-separable unit
UNITS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
         (512, 1), (512, 1), (1024, 2), (1024, 1)]


class SamePad2d(nn.Module):
    """TensorFlow's `padding='same'` before an unpadded convolution: ceil(W / stride) outputs, the
    odd pixel of padding (if any) at the bottom and right."""

    def __init__(self, kernel: int, stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads: list[int] = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad takes (left, right, top, bottom)
            total = max((math.ceil(size / self.stride) - 1) * self.stride + self.kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return nn.functional.pad(x, pads)


def _padded(pad: nn.Module, block: nn.Sequential) -> nn.Sequential:
    """A conv-BN-ReLU6 block (built with padding 0) behind an explicit padding layer named `pad`, so
    the weights keep `conv_bn_act`'s names (`0.weight` the convolution, `1.*` the BatchNorm)."""
    return nn.Sequential(OrderedDict([("pad", pad), *block.named_children()]))


def _unit(c_in: int, c_out: int, stride: int) -> DepthwiseSeparable:
    unit = DepthwiseSeparable(c_in, c_out, stride)
    if stride == 2:  # Keras: ZeroPadding2D(((0, 1), (0, 1))), then the 3x3/2 depthwise conv, 'valid'
        unit.depthwise = _padded(nn.ZeroPad2d((0, 1, 0, 1)),
                                 conv_bn_act(c_in, c_in, 3, 2, 0, groups=c_in, act=nn.ReLU6, eps=1e-3))
    return unit


class MobileNet(nn.Module):
    def __init__(self, num_classes: int = 1000, in_channels: int = 3, alpha: float = 1.0,
                 include_top: bool = True, dropout: float = 1e-3):
        super().__init__()
        c = int(32 * alpha)
        if c < 1:  # Keras's int(filters * alpha) would leave the first layer without channels
            raise ValueError(f"alpha must be at least 1/32 = 0.03125 to keep a channel in the first layer; got {alpha}")
        layers: list[nn.Module] = [_padded(SamePad2d(3, 2), conv_bn_act(in_channels, c, 3, 2, 0, act=nn.ReLU6,
                                                                         eps=1e-3))]
        for out, stride in UNITS:
            out = int(out * alpha)
            layers.append(_unit(c, out, stride))
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
