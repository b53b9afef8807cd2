"""The course's own networks, named as in its chapters, with the Keras summaries they reproduce.

- `mlp`: the two-layer perceptron on flattened images of the introduction (512 hidden units, dropout).
- `small_vgg`: "Small VGG-like convnet in Keras" (Large ConvNets chapter): 100x100x3 input, two blocks
  of two valid 3x3 convolutions, 2x2 max pooling and dropout 0.25, dense 256, dropout 0.5.
  Keras summary: 7,998,250 parameters.
- `cifar_convnet`: the CIFAR-10 ConvNet of "ConvNets part 1": 32-32-pool-64-64-pool-64 valid 3x3
  convolutions, Flatten, dense 1024. Keras summary: 703,594. With `global_pool=True`
  (`cifar_convnet_gmp`) GlobalMaxPooling2D replaces Flatten: 179,306.
- `cifar_dropout_convnet`: "ConvNets for newcomers": 32-32-pool-64-64-pool with same padding,
  dropout 0.25 after each pooling, dense 512, dropout 0.5. 2,168,362 parameters. The rates are the
  text's `drop_prob_1` and `drop_prob_2`; 0 leaves that dropout out (`classicnets study dropout`).
- `resnet_mini`: the Keras ResNet "MiniModel" of "Residual networks explained": a 3x3 stem and 12
  pre-activation units (32, 64, 128, 256 filters, three each); the first unit of each new width
  max-pools and projects its shortcut with a 1x1 stride-2 convolution; BN-ReLU, dropout 0.25, 4x4
  average pooling, dense 10. Keras summary: 4,374,538 parameters, 5,824 non-trainable.
- `mnist_cnn`: Keras 2's `examples/mnist_cnn.py`, the "CNN dropout" MNIST result the ConvNets chapter
  cites (99.3%): two valid 3x3 convolutions (32, 64), 2x2 max pooling, dropout 0.25, dense 128,
  dropout 0.5. 1,199,882 parameters.

Keras's final softmax is left to the loss: these modules return logits. Each builder takes
`init="keras"` for Keras's initial weights and `resnet_mini` `bn_momentum` for Keras's BatchNorm
momentum (see `zoo.keras_literal`); their defaults are PyTorch's, and the recipes set Keras's.
"""
from __future__ import annotations

import torch
from torch import nn

from ..blocks import pair
from .keras_literal import check_bn_momentum, initialise
from .registry import register_model

COURSE = "the course"


@register_model(description="two-layer perceptron on flattened images (512 hidden, dropout 0.2)",
                paper="the course (introduction: MLP on MNIST)", year=2015, input_shape=(1, 28, 28),
                num_params=669_706, params_source="784*512+512 + 512*512+512 + 512*10+10")
def mlp(num_classes: int = 10, in_channels: int = 1, input_size: int | tuple[int, int] = 28,
        hidden: int = 512, layers: int = 2, dropout: float = 0.2, init: str = "torch") -> nn.Sequential:
    h, w = pair(input_size)
    mods: list[nn.Module] = [nn.Flatten()]
    width = in_channels * h * w
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        width = hidden
    mods.append(nn.Linear(width, num_classes))
    return initialise(nn.Sequential(*mods), init)


class ConvHead(nn.Module):
    """`features` (convolutions) then `classifier` (dense layers): the layout FC->conv conversion reads."""

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential):
        super().__init__()
        self.features, self.classifier = features, classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _conv(c_in: int, c_out: int, padding: int = 0) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=padding), nn.ReLU(inplace=True)]


def _flat_size(features: nn.Module, in_channels: int, size) -> int:
    h, w = pair(size)
    with torch.no_grad():
        return features(torch.zeros(1, in_channels, h, w)).numel()


@register_model(description="the course's small VGG-like convnet (Keras example), 100x100x3",
                paper="the course (Large ConvNets: small VGG-like convnet in Keras)", year=2014,
                input_shape=(3, 100, 100), num_params=7_998_250, params_source="course's Keras summary")
def small_vgg(num_classes: int = 10, in_channels: int = 3, input_size: int | tuple[int, int] = 100,
              init: str = "torch") -> ConvHead:
    features = nn.Sequential(*_conv(in_channels, 32), *_conv(32, 32), nn.MaxPool2d(2), nn.Dropout(0.25),
                             *_conv(32, 64), *_conv(64, 64), nn.MaxPool2d(2), nn.Dropout(0.25))
    n = _flat_size(features, in_channels, input_size)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(n, 256), nn.ReLU(inplace=True), nn.Dropout(0.5),
                               nn.Linear(256, num_classes))
    return initialise(ConvHead(features, classifier), init)


def _cifar_features(in_channels: int) -> nn.Sequential:
    return nn.Sequential(*_conv(in_channels, 32), *_conv(32, 32), nn.MaxPool2d(2),
                         *_conv(32, 64), *_conv(64, 64), nn.MaxPool2d(2), *_conv(64, 64))


@register_model(description="the course's CIFAR-10 ConvNet: five valid 3x3 convolutions, Flatten, dense 1024",
                paper="the course (ConvNets part 1: CIFAR-10 ConvNet)", year=2019, input_shape=(3, 32, 32),
                num_params=703_594, params_source="course's Keras summary")
def cifar_convnet(num_classes: int = 10, in_channels: int = 3, input_size: int | tuple[int, int] = 32,
                  global_pool: bool = False, init: str = "torch") -> ConvHead:
    features = _cifar_features(in_channels)
    if global_pool:  # GlobalMaxPooling2D: one value per feature map, any input size
        head: list[nn.Module] = [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(64, 1024)]
    else:
        head = [nn.Flatten(), nn.Linear(_flat_size(features, in_channels, input_size), 1024)]
    classifier = nn.Sequential(*head, nn.ReLU(inplace=True), nn.Linear(1024, num_classes))
    return initialise(ConvHead(features, classifier), init)


@register_model(description="the course's CIFAR-10 ConvNet with global max pooling instead of Flatten",
                paper="the course (ConvNets part 1: global max pooling)", year=2019, input_shape=(3, 32, 32),
                num_params=179_306, params_source="course's Keras summary")
def cifar_convnet_gmp(num_classes: int = 10, in_channels: int = 3, init: str = "torch") -> ConvHead:
    return cifar_convnet(num_classes, in_channels, global_pool=True, init=init)


@register_model(description="the course's CIFAR-10 ConvNet with dropout: same padding, dense 512",
                paper="the course (ConvNets for newcomers: CIFAR-10 with dropout)", year=2016,
                input_shape=(3, 32, 32), num_params=2_168_362,
                params_source="896 + 9,248 + 18,496 + 36,928 + 4,096*512+512 + 5,130")
def cifar_dropout_convnet(num_classes: int = 10, in_channels: int = 3,
                          input_size: int | tuple[int, int] = 32, drop_prob_1: float = 0.25,
                          drop_prob_2: float = 0.5, init: str = "torch") -> ConvHead:
    features = nn.Sequential(*_conv(in_channels, 32, 1), *_conv(32, 32, 1), nn.MaxPool2d(2), nn.Dropout(drop_prob_1),
                             *_conv(32, 64, 1), *_conv(64, 64, 1), nn.MaxPool2d(2), nn.Dropout(drop_prob_1))
    n = _flat_size(features, in_channels, input_size)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(n, 512), nn.ReLU(inplace=True), nn.Dropout(drop_prob_2),
                               nn.Linear(512, num_classes))
    return initialise(ConvHead(features, classifier), init)


class MiniUnit(nn.Module):
    """The course's `Unit`: pre-activation residual unit; with `pool`, max-pool the main path and
    project the shortcut with a 1x1 stride-2 convolution. Convolutions keep their biases (Keras default);
    BatchNorm has Keras's epsilon 1e-3 and PyTorch's `momentum` (1 - Keras's)."""

    is_block = True

    def __init__(self, c_in: int, filters: int, pool: bool = False, bn_momentum: float = 0.1):
        super().__init__()
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()
        self.shortcut = nn.Conv2d(c_in, filters, 1, 2) if pool else nn.Identity()
        self.body = nn.Sequential(nn.BatchNorm2d(c_in, eps=1e-3, momentum=bn_momentum), nn.ReLU(inplace=True),
                                  nn.Conv2d(c_in, filters, 3, 1, 1),
                                  nn.BatchNorm2d(filters, eps=1e-3, momentum=bn_momentum), nn.ReLU(inplace=True),
                                  nn.Conv2d(filters, filters, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.body(self.pool(x))


@register_model(description="the course's Keras ResNet MiniModel: 12 pre-activation units, 32-256 filters",
                paper="the course (Residual networks explained: MiniModel on CIFAR-10)", year=2018,
                input_shape=(3, 32, 32), num_params=4_374_538, non_trainable_params=5_824,
                params_source="course's Keras summary")
def resnet_mini(num_classes: int = 10, in_channels: int = 3, dropout: float = 0.25, init: str = "torch",
                bn_momentum: float = 0.1) -> nn.Sequential:
    """`bn_momentum` is PyTorch's: the course's `BatchNormalization()` has Keras's default momentum 0.99,
    which is `bn_momentum=0.01`; the default 0.1 is Keras's 0.9."""
    check_bn_momentum(bn_momentum)
    units: list[nn.Module] = [nn.Conv2d(in_channels, 32, 3, 1, 1)]
    c = 32
    for filters in (32, 64, 128, 256):
        for i in range(3):
            units.append(MiniUnit(c, filters, pool=(i == 0 and filters != 32), bn_momentum=bn_momentum))
            c = filters
    model = nn.Sequential(*units, nn.BatchNorm2d(c, eps=1e-3, momentum=bn_momentum), nn.ReLU(inplace=True),
                          nn.Dropout(dropout), nn.AvgPool2d(4), nn.Flatten(), nn.Linear(c, num_classes))
    return initialise(model, init)


@register_model(description="Keras 2's mnist_cnn example: two valid 3x3 convolutions (32, 64), max pool, "
                            "dropout 0.25, dense 128, dropout 0.5",
                paper="the course (ConvNets for newcomers: 'CNN dropout' 99.3% on MNIST); Keras 2 "
                      "examples/mnist_cnn.py", year=2015, input_shape=(1, 28, 28), num_params=1_199_882,
                params_source="320 + 18,496 + 9,216*128+128 + 1,290 (Keras's summary of the example)")
def mnist_cnn(num_classes: int = 10, in_channels: int = 1, input_size: int | tuple[int, int] = 28,
              init: str = "torch") -> ConvHead:
    features = nn.Sequential(*_conv(in_channels, 32), *_conv(32, 64), nn.MaxPool2d(2), nn.Dropout(0.25))
    n = _flat_size(features, in_channels, input_size)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(n, 128), nn.ReLU(inplace=True), nn.Dropout(0.5),
                               nn.Linear(128, num_classes))
    return initialise(ConvHead(features, classifier), init)
