"""GoogLeNet: Szegedy et al. (2014), "Going deeper with convolutions", CVPR 2015, table 1 and figure 3.

Nine Inception modules (3a-5b) with 1x1 reductions, max pooling between stages, 7x7 average
pooling, dropout 0.4 and one dense layer; two optional auxiliary classifiers after 4a and 4d
(5x5/3 average pooling, 1x1 conv 128, dense 1024, dropout 0.7), used in training only.

Default: torchvision's form, whose parameter count (6,624,904 trainable without auxiliary heads) is
the reference checked here: BatchNorm after every convolution (from Inception v2) and, as
torchvision keeps for weight compatibility, a 3x3 kernel in the "5x5" branch. `paper=True` builds
table 1 literally: 5x5 kernels, biases, no BatchNorm.
"""
from __future__ import annotations

import torch
from torch import nn

from ..blocks import InceptionModule, conv_bn_act
from .registry import register_model

# table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
TABLE1 = {
    "3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128), "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


def _plain_conv(c_in: int, c_out: int, k: int, stride: int = 1, padding: int | None = None) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, k // 2 if padding is None else padding),
                         nn.ReLU(inplace=True))


def _bn_conv(c_in: int, c_out: int, k: int, stride: int = 1, padding: int | None = None) -> nn.Sequential:
    return conv_bn_act(c_in, c_out, k, stride, padding, eps=1e-3)


class AuxHead(nn.Module):
    def __init__(self, c_in: int, num_classes: int, conv):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)  # 5x5/3 average pooling on the 14x14 maps
        self.conv = conv(c_in, 128, 1)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(2048, 1024), nn.ReLU(inplace=True), nn.Dropout(0.7),
                                nn.Linear(1024, num_classes))

    def forward(self, x):
        return self.fc(self.conv(self.pool(x)))


class GoogLeNet(nn.Module):
    def __init__(self, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = False,
                 paper: bool = False, dropout: float = 0.4):
        super().__init__()
        conv = _plain_conv if paper else _bn_conv
        k5 = 5 if paper else 3
        self.stem = nn.Sequential(
            conv(in_channels, 64, 7, 2, 3), nn.MaxPool2d(3, 2, ceil_mode=True),
            *([nn.LocalResponseNorm(5)] if paper else []),
            conv(64, 64, 1), conv(64, 192, 3),
            *([nn.LocalResponseNorm(5)] if paper else []), nn.MaxPool2d(3, 2, ceil_mode=True))
        inc = {k: InceptionModule(*v, conv=conv, k5=k5) for k, v in TABLE1.items()}
        self.inception3a, self.inception3b = inc["3a"], inc["3b"]
        self.pool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a, self.inception4b, self.inception4c = inc["4a"], inc["4b"], inc["4c"]
        self.inception4d, self.inception4e = inc["4d"], inc["4e"]
        self.pool4 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.inception5a, self.inception5b = inc["5a"], inc["5b"]
        self.aux1 = AuxHead(512, num_classes, conv) if aux_logits else None
        self.aux2 = AuxHead(528, num_classes, conv) if aux_logits else None
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(1024, num_classes))

    def forward(self, x: torch.Tensor):
        x = self.pool3(self.inception3b(self.inception3a(self.stem(x))))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.pool4(self.inception4e(x))
        x = self.head(self.inception5b(self.inception5a(x)))  # (batch, num_classes)
        if aux1 is not None:
            return x, aux1, aux2  # training with auxiliary heads: weight their losses by 0.3
        return x


@register_model(description="GoogLeNet (2014): 9 Inception modules, average-pooling head (torchvision form)",
                paper="Szegedy et al. 2014, Going deeper with convolutions", year=2014,
                input_shape=(3, 224, 224), trainable_params=6_624_904,
                params_source="torchvision.models.googlenet(aux_logits=False)")
def googlenet(num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = False,
              paper: bool = False, dropout: float = 0.4) -> GoogLeNet:
    return GoogLeNet(num_classes, in_channels, aux_logits, paper, dropout)
