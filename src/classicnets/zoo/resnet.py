"""ResNet: He, Zhang, Ren & Sun (2015), "Deep residual learning for image recognition", CVPR 2016.

ImageNet models, table 1: a 7x7/2 stem and max pooling, then stages conv2_x..conv5_x of basic
(18, 34) or bottleneck (50, 101, 152) units with 1x1 projection shortcuts when the shape changes
(option B), global average pooling and a dense layer; counts as torchvision's references.

CIFAR-10 models, section 4.2: a 3x3 stem with 16 filters, three stages of n basic units with 16, 32
and 64 filters on 32x32, 16x16 and 8x8 maps (depth 6n+2: 20, 32, 44, 56, 110), identity shortcuts
padded with zeros (option A), global average pooling; the paper's 0.27M-1.7M parameters.
`preact_resnet*`: the same with pre-activation units, He et al. (2016), "Identity mappings in deep
residual networks", ECCV, figure 4(e).
`plain*`: section 4.2's plain networks, the CIFAR ResNets with every shortcut left out (figure 6
left: deeper plain networks have higher training error). Option A shortcuts hold no parameters, so
plainN counts exactly what resnetN does (table PLAIN; tests compare the two). Every CIFAR builder
takes `width`, the first stage's filters (16; `classicnets study degradation` uses 8).

`resnet50_keras`, `resnet101_keras`, `resnet152_keras`: the same table 1 networks in the form of
Keras's `applications.ResNet50/101/152` (keras/src/applications/resnet.py, `residual_block_v1`), so
that Keras's published weights load and compute what they compute in Keras: the stride of a unit
sits on its first 1x1 convolution (the paper's ResNet v1; torchvision's, "v1.5", puts it on the 3x3),
every convolution has a bias, and BatchNorm's epsilon is 1.001e-5. Counted as Keras counts them
(`count_params()`, BatchNorm statistics included): 25,636,712, 44,707,176 and 60,419,944.
"""
from __future__ import annotations

import torch
from torch import nn

from ..blocks import BasicBlock, Bottleneck
from ..errors import UserError
from .registry import register_builder

IMAGENET = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)), 50: (Bottleneck, (3, 4, 6, 3)),
            101: (Bottleneck, (3, 4, 23, 3)), 152: (Bottleneck, (3, 8, 36, 3))}
TORCHVISION = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}
KERAS = {50: 25_636_712, 101: 44_707_176, 152: 60_419_944}  # keras.applications.ResNetN(weights=None).count_params()
KERAS_EPS = 1.001e-5  # Keras's ResNets (and DenseNets) give BatchNormalization this epsilon
CIFAR = {20: "0.27M", 32: "0.46M", 44: "0.66M", 56: "0.85M", 110: "1.7M"}
# trainable parameters of plainN and resnetN: stem 3*9*16 + 2*16; per unit of width w reading c,
# 9*c*w + 9*w*w + 4*w (two convolutions, two BatchNorms); head 64*10 + 10
PLAIN = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962}


class ResNet(nn.Module):
    """Stem, stages `conv2`.. (one per entry of `widths`), global average pooling, dense layer."""

    def __init__(self, block, depths, widths, *, stem: nn.Module, c_stem: int, num_classes: int,
                 shortcut: str = "B", preact: bool = False):
        super().__init__()
        self.stem = stem
        c = c_stem
        for i, (n, w) in enumerate(zip(depths, widths)):
            units = []
            for j in range(n):
                stride = 2 if (j == 0 and i > 0) else 1
                units.append(block(c, w, stride, shortcut, preact))
                c = w * block.expansion
            self.add_module(f"conv{i + 2}", nn.Sequential(*units))
        self.num_stages = len(depths)
        self.post = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True)) if preact else nn.Identity()
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for i in range(self.num_stages):
            x = getattr(self, f"conv{i + 2}")(x)
        return self.head(self.post(x))  # (batch, num_classes)


class KerasBottleneck(nn.Module):
    """Keras's `residual_block_v1`: 1x1 (stride here) - 3x3 - 1x1 (x4) convolutions with biases,
    each followed by BatchNorm (epsilon 1.001e-5), and a projection shortcut (`_0_conv`, `_0_bn`)
    where the shape changes. Same interface as `blocks.Bottleneck`, so `ResNet` stacks either."""

    is_block = True
    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1, shortcut: str = "B", preact: bool = False):
        super().__init__()
        if preact or shortcut != "B":
            raise ValueError("Keras's ResNet v1 units have projection shortcuts and no pre-activation")
        c_out = width * self.expansion
        self.conv1 = nn.Conv2d(c_in, width, 1, stride)
        self.bn1 = nn.BatchNorm2d(width, eps=KERAS_EPS)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(width, eps=KERAS_EPS)
        self.conv3 = nn.Conv2d(width, c_out, 1)
        self.bn3 = nn.BatchNorm2d(c_out, eps=KERAS_EPS)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride), nn.BatchNorm2d(c_out, eps=KERAS_EPS))
                         if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + self.shortcut(x))


def resnet_keras(depth: int, num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ResNet-50/101/152 as Keras's applications build them (see the module docstring)."""
    if depth not in KERAS:
        raise UserError(f"Keras's ResNets have depth {', '.join(map(str, KERAS))}; got {depth}")
    # conv1_pad (3) + conv1_conv 7x7/2 with bias, conv1_bn, relu; pool1_pad (1) + 3x3/2 max pooling
    stem = nn.Sequential(nn.Conv2d(in_channels, 64, 7, 2, 3), nn.BatchNorm2d(64, eps=KERAS_EPS),
                         nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
    return ResNet(KerasBottleneck, IMAGENET[depth][1], (64, 128, 256, 512), stem=stem, c_stem=64,
                  num_classes=num_classes)


def resnet(depth: int, num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ImageNet ResNet of a depth in table 1."""
    if depth not in IMAGENET:
        raise UserError(f"ResNet depth {depth} is not defined; choose one of {sorted(IMAGENET)}")
    block, depths = IMAGENET[depth]
    stem = nn.Sequential(nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                         nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
    return ResNet(block, depths, (64, 128, 256, 512), stem=stem, c_stem=64, num_classes=num_classes)


def cifar_resnet(depth: int, num_classes: int = 10, in_channels: int = 3, preact: bool = False,
                 shortcut: str = "A", width: int = 16) -> ResNet:
    """CIFAR ResNet of depth 6n+2 (section 4.2); `shortcut="none"`: the section's plain network.
    `width` is the first stage's filters (the paper's 16; the stages have width, 2x, 4x)."""
    if depth < 8 or (depth - 2) % 6:
        raise UserError(f"a CIFAR ResNet has depth 6n+2 (20, 32, 44, 56, 110, ...); got {depth}")
    n = (depth - 2) // 6
    stem: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)]
    if not preact:
        stem += [nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
    return ResNet(BasicBlock, (n, n, n), (width, 2 * width, 4 * width), stem=nn.Sequential(*stem),
                  c_stem=width, num_classes=num_classes, shortcut=shortcut, preact=preact)


def _register_all() -> None:
    for depth, count in TORCHVISION.items():
        def build(num_classes: int = 1000, in_channels: int = 3, _d=depth) -> ResNet:
            return resnet(_d, num_classes, in_channels)
        kind = "basic" if IMAGENET[depth][0] is BasicBlock else "bottleneck"
        _named(build, f"resnet{depth}", f"ResNet-{depth} (ImageNet, {kind} units)", (3, 224, 224),
               trainable_params=count, params_source=f"torchvision.models.resnet{depth}")
    for depth, count in KERAS.items():
        def build(num_classes: int = 1000, in_channels: int = 3, _d=depth) -> ResNet:
            return resnet_keras(_d, num_classes, in_channels)
        _named(build, f"resnet{depth}_keras", f"ResNet-{depth} in Keras's form (v1: stride on the first 1x1, "
               f"convolution biases), for its published weights", (3, 224, 224), num_params=count,
               params_source=f"keras.applications.ResNet{depth} (count_params)")
    for depth, approx in CIFAR.items():
        for pre in (False, True):
            def build(num_classes: int = 10, in_channels: int = 3, width: int = 16, _d=depth, _p=pre) -> ResNet:
                return cifar_resnet(_d, num_classes, in_channels, preact=_p, width=width)
            name = f"{'preact_' if pre else ''}resnet{depth}"
            _named(build, name, f"{'pre-activation ' if pre else ''}ResNet-{depth} for CIFAR "
                   f"(16-32-64 filters, option A shortcuts)", (3, 32, 32),
                   approx_params=None if pre else approx,
                   params_source=None if pre else "He et al. 2015, table 6",
                   paper="He et al. 2016, Identity mappings in deep residual networks" if pre else None,
                   year=2016 if pre else 2015)
    for depth, count in PLAIN.items():
        def build(num_classes: int = 10, in_channels: int = 3, width: int = 16, _d=depth) -> ResNet:
            return cifar_resnet(_d, num_classes, in_channels, shortcut="none", width=width)
        _named(build, f"plain{depth}", f"plain {depth}-layer CIFAR network: ResNet-{depth} without shortcuts",
               (3, 32, 32), trainable_params=count,
               params_source=f"resnet{depth}'s count, as option A shortcuts have none; He et al. 2015, sec. 4.2")


def _named(build, name, description, input_shape, paper=None, year=2015, **refs) -> None:
    register_builder(name, build, globals(), description=description,
                     paper=paper or "He et al. 2015, Deep residual learning", year=year,
                     input_shape=input_shape, **refs)

_register_all()
