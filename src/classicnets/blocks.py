"""Building blocks shared by the model families.

Classes with `is_block = True` are the units `summary(..., fold_blocks=True)` shows as one row:
residual units, Inception modules, dense blocks, depthwise-separable blocks, highway layers.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def conv_bn_act(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int | None = None,
                groups: int = 1, act: type[nn.Module] | None = nn.ReLU, eps: float = 1e-5) -> nn.Sequential:
    """Conv (no bias) - BatchNorm - activation; padding defaults to 'same' for odd kernels."""
    padding = kernel // 2 if padding is None else padding
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out, eps=eps)]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """ResNet basic unit (He et al. 2015, fig. 2 left): two 3x3 convolutions and a shortcut.

    `shortcut="B"` projects with a 1x1 convolution when the shape changes (ImageNet ResNets);
    `shortcut="A"` pads the identity with zero channels after 2x subsampling (the CIFAR ResNets of
    section 4.2, which add no parameters); `shortcut="none"` leaves it out: the same two layers of
    the section's "plain" networks, with the same parameters as option A. With `preact=True` the
    unit is the pre-activation one of He et al. 2016 (BN-ReLU-conv, nothing after the addition).
    """

    is_block = True
    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int = 1, shortcut: str = "B", preact: bool = False):
        super().__init__()
        c_out = width * self.expansion
        self.preact = preact
        if preact:
            self.bn1 = nn.BatchNorm2d(c_in)
            self.conv1 = nn.Conv2d(c_in, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, c_out, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(c_in, width, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(c_in, c_out, stride, shortcut, bn=not preact)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.preact:
            out = self.relu(self.bn1(x))
            identity = (None if self.shortcut is None else self.shortcut(out)
                        if isinstance(self.shortcut, nn.Sequential) else self.shortcut(x))
            out = self.conv2(self.relu(self.bn2(self.conv1(out))))
            return out if self.shortcut is None else out + identity
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out if self.shortcut is None else out + self.shortcut(x))


class Bottleneck(nn.Module):
    """ResNet bottleneck unit (He et al. 2015, fig. 5 right): 1x1 reduce, 3x3, 1x1 expand (x4).

    The stride sits on the 3x3 convolution, as in torchvision (ResNet v1.5)."""

    is_block = True
    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1, shortcut: str = "B", preact: bool = False):
        super().__init__()
        if preact:
            raise ValueError("pre-activation bottleneck units are not provided; use basic units")
        c_out = width * self.expansion
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(c_in, c_out, stride, shortcut, bn=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out if self.shortcut is None else out + self.shortcut(x))


class PadShortcut(nn.Module):
    """Option A shortcut: subsample by `stride` and append zero channels (no parameters)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.extra, self.stride = c_out - c_in, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra))


def _shortcut(c_in: int, c_out: int, stride: int, kind: str, bn: bool) -> nn.Module | None:
    if kind == "none":  # a plain unit: nothing is added back
        return None
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    if kind == "A":
        return PadShortcut(c_in, c_out, stride)
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 1, stride, bias=False)]
    if bn:
        layers.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*layers)


class InceptionModule(nn.Module):
    """GoogLeNet's Inception module with dimension reductions (Szegedy et al. 2014, fig. 2b).

    Four branches concatenated on channels: 1x1; 1x1 -> 3x3; 1x1 -> kxk (k = `k5`, 5 in the paper);
    3x3 max pool -> 1x1. `conv` builds each convolution (with or without BatchNorm).

    `reductions=False` is the paper's "naive" module (fig. 2a): the 3x3 and kxk convolutions read
    all `c_in` channels and the pooled input is concatenated as it is (`c3r`, `c5r`, `pool_proj`
    are unused), so the output has c1 + c3 + c5 + c_in channels."""

    is_block = True

    def __init__(self, c_in: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int,
                 conv, k5: int = 5, reductions: bool = True):
        super().__init__()
        self.branch1 = conv(c_in, c1, 1)
        pool = nn.MaxPool2d(3, 1, 1, ceil_mode=True)
        if reductions:
            self.branch2 = nn.Sequential(conv(c_in, c3r, 1), conv(c3r, c3, 3))
            self.branch3 = nn.Sequential(conv(c_in, c5r, 1), conv(c5r, c5, k5))
            self.branch4 = nn.Sequential(pool, conv(c_in, pool_proj, 1))
        else:
            self.branch2, self.branch3, self.branch4 = conv(c_in, c3, 3), conv(c_in, c5, k5), pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class DenseLayer(nn.Module):
    """DenseNet-B layer (Huang et al. 2016): BN-ReLU-1x1 conv (4k) - BN-ReLU-3x3 conv (k).
    Without a bottleneck (`bn_size=0`): BN-ReLU-3x3 conv."""

    def __init__(self, c_in: int, growth: int, bn_size: int = 4, drop_rate: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        if bn_size:
            layers += [nn.BatchNorm2d(c_in), nn.ReLU(inplace=True),
                       nn.Conv2d(c_in, bn_size * growth, 1, bias=False)]
            c_in = bn_size * growth
        layers += [nn.BatchNorm2d(c_in), nn.ReLU(inplace=True), nn.Conv2d(c_in, growth, 3, 1, 1, bias=False)]
        if drop_rate:
            layers.append(nn.Dropout(drop_rate))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.layers(x)], 1)  # (batch, c_in + growth, H, W)


class DenseBlock(nn.Sequential):
    """`n` dense layers, each seeing the concatenation of all earlier feature maps."""

    is_block = True

    def __init__(self, n: int, c_in: int, growth: int, bn_size: int = 4, drop_rate: float = 0.0):
        super().__init__(*[DenseLayer(c_in + i * growth, growth, bn_size, drop_rate) for i in range(n)])
        self.out_channels = c_in + n * growth


class Transition(nn.Sequential):
    """DenseNet transition: BN-ReLU-1x1 conv (compression) - 2x2 average pooling."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.BatchNorm2d(c_in), nn.ReLU(inplace=True), nn.Conv2d(c_in, c_out, 1, bias=False),
                         nn.AvgPool2d(2, 2))


class DepthwiseSeparable(nn.Module):
    """MobileNet unit (Howard et al. 2017, fig. 3): 3x3 depthwise conv-BN-ReLU6, 1x1 conv-BN-ReLU6."""

    is_block = True

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.depthwise = conv_bn_act(c_in, c_in, 3, stride, 1, groups=c_in, act=nn.ReLU6, eps=1e-3)
        self.pointwise = conv_bn_act(c_in, c_out, 1, 1, 0, act=nn.ReLU6, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class Highway(nn.Module):
    """Highway layer (Srivastava et al. 2015): y = H(x) * T(x) + x * (1 - T(x)).

    T is a sigmoid gate whose bias starts negative (`carry_bias`), so the layer begins by carrying
    its input through. `conv=True` makes H and T 3x3 convolutions instead of dense layers."""

    is_block = True

    def __init__(self, width: int, carry_bias: float = -2.0, conv: bool = False):
        super().__init__()
        make = (lambda: nn.Conv2d(width, width, 3, 1, 1)) if conv else (lambda: nn.Linear(width, width))
        self.transform, self.gate = make(), make()
        self.act = nn.ReLU()
        nn.init.constant_(self.gate.bias, carry_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(self.gate(x))
        return self.act(self.transform(x)) * t + x * (1 - t)


def pair(size: int | Sequence[int]) -> tuple[int, int]:
    """An image size given as one int (square) or (height, width) -> (height, width)."""
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def channels(spec: Sequence[int], mult: float) -> list[int]:
    return [max(1, int(c * mult)) for c in spec]
