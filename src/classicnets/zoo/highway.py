"""Highway networks: Srivastava, Greff & Schmidhuber (2015), "Training very deep networks", NIPS.

Each layer computes y = H(x)·T(x) + x·(1 − T(x)): a transform H, a sigmoid transform gate T and the
carry gate 1 − T, with T's bias initialised negative (−1 to −3 in the paper) so that a deep stack
starts close to the identity and trains. `highway` is the paper's fully connected network for MNIST
(a plain first layer to `width` units, then `depth` highway layers, section 3.1: 50 units);
`highway_conv` is the convolutional variant (3x3 highway convolutions, as in its CIFAR-10 models).
"""
from __future__ import annotations

from torch import nn

from ..blocks import Highway, pair
from .registry import register_model

PAPER = "Srivastava et al. 2015, Training very deep networks"


@register_model(description="fully connected highway network: dense layer, then `depth` highway layers",
                paper=PAPER, year=2015, input_shape=(1, 28, 28),
                num_params=39_250 + 10 * 5_100 + 510,
                params_source="784*50+50 + 10 x 2*(50*50+50) + 50*10+10")
def highway(num_classes: int = 10, in_channels: int = 1, input_size: int | tuple[int, int] = 28,
            depth: int = 10, width: int = 50, carry_bias: float = -2.0) -> nn.Sequential:
    h, w = pair(input_size)
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * h * w, width), nn.ReLU(inplace=True),
                         *[Highway(width, carry_bias) for _ in range(depth)], nn.Linear(width, num_classes))


@register_model(description="convolutional highway network: 3x3 highway convolutions, global pooling",
                paper=PAPER, year=2015, input_shape=(3, 32, 32))
def highway_conv(num_classes: int = 10, in_channels: int = 3, depth: int = 9, width: int = 32,
                 carry_bias: float = -2.0) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, 1, 1), nn.ReLU(inplace=True)]
    for i in range(depth):
        layers.append(Highway(width, carry_bias, conv=True))
        if i % 3 == 2 and i < depth - 1:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
