"""VGG: Simonyan & Zisserman (2014), "Very deep convolutional networks for large-scale image
recognition", ICLR 2015, table 1. Configurations keyed by the paper's column labels:
A (11 weight layers), B (13), D (16), E (19); `M` is 2x2 max pooling. The `_bn` variants put
BatchNorm after every convolution (not in the paper; torchvision's, with the same counts).

The classifier is the paper's: 4096-4096-classes on the flattened 7x7x512 map of a 224x224 input.
`input_size` sizes the first dense layer for other inputs; `width` scales every layer (1.0: the
paper), for quick experiments.
"""
from __future__ import annotations

from torch import nn

from ..blocks import pair
from .course import ConvHead
from .registry import register_builder

CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


class VGG(ConvHead):
    def __init__(self, config: str, *, batch_norm: bool = False, num_classes: int = 1000,
                 in_channels: int = 3, input_size: int | tuple[int, int] = 224, width: float = 1.0,
                 dropout: float = 0.5):
        layers: list[nn.Module] = []
        c = in_channels
        for v in CONFIGS[config]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            out = max(1, int(v * width))
            layers.append(nn.Conv2d(c, out, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU(inplace=True))
            c = out
        h, w = pair(input_size)
        if h < 32 or w < 32:
            raise ValueError(f"VGG needs inputs of at least 32x32 (five 2x2 poolings); got {h}x{w}")
        hidden = max(1, int(4096 * width))
        classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c * (h // 32) * (w // 32), hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes))
        super().__init__(nn.Sequential(*layers), classifier)


def _register(name: str, config: str, bn: bool, trainable: int | None, non_trainable: int | None = None):
    depth = {"A": 11, "B": 13, "D": 16, "E": 19}[config]

    def build(num_classes: int = 1000, in_channels: int = 3, input_size: int | tuple[int, int] = 224,
              width: float = 1.0, dropout: float = 0.5) -> VGG:
        return VGG(config, batch_norm=bn, num_classes=num_classes, in_channels=in_channels,
                   input_size=input_size, width=width, dropout=dropout)
    register_builder(name, build, globals(),
                     description=f"VGG-{depth} (configuration {config}){' with BatchNorm' if bn else ''}",
                     paper="Simonyan & Zisserman 2014, Very deep convolutional networks", year=2014,
                     input_shape=(3, 224, 224), trainable_params=trainable, non_trainable_params=non_trainable,
                     params_source=f"torchvision.models.{name}" if trainable else None)


for _name, _cfg, _tv in (("vgg11", "A", 132_863_336), ("vgg13", "B", 133_047_848),
                         ("vgg16", "D", 138_357_544), ("vgg19", "E", 143_667_240)):
    _register(_name, _cfg, False, _tv)
_register("vgg11_bn", "A", True, None)
_register("vgg13_bn", "B", True, None)
_register("vgg16_bn", "D", True, 138_365_992, 8_448)
_register("vgg19_bn", "E", True, None)
