"""Feature extractors for the detectors: zoo models' convolutional bases, cut where the papers cut them.

A detector needs one feature map and its stride (input pixels per feature cell): RoI pooling scales
boxes by 1 / stride, and the RPN places anchors every `stride` pixels. Each backbone here is a zoo
model built with the data's input channels, with its head taken off (`transfer.heads.base_of`, or
the layers before it), and cut at the stride the papers use:

- `vgg16`: VGG-16's conv1_1..conv5_3, the last max pooling left out: stride 16, 512 channels. The
  backbone of Fast R-CNN (Girshick 2015, section 4) and Faster R-CNN (Ren et al. 2015, section 4.1).
- `resnet18`, `resnet50`: the stem and conv2_x..conv4_x: stride 16, 256 / 1024 channels, the "C4"
  cut of He et al. 2015 (section A, Object detection baselines) and Mask R-CNN's ResNet-C4
  (He et al. 2017, section 3). The papers run conv5_x as the RoI head; here every backbone shares the
  fully connected head of `roi_heads`.
- `mobilenet`: MobileNet v1 (Howard et al. 2017) up to its last 512-channel unit: stride 16,
  512 * alpha channels (the paper's section 4.6 runs Faster R-CNN on it).
- `cifar_resnet8`, `cifar_resnet20`: the whole convolutional base of a CIFAR ResNet (He et al. 2015,
  section 4.2; 6n+2 layers, n = 1 and 3), which is already stride 4: 16-32-64 filters on maps of
  H, H/2 and H/4. Small and fast: the right size for `digit_boxes`' 12-32 pixel digits on 64x64
  canvases (16x16 feature cells), where a stride-16 map would hold one cell per digit.

`build_backbone(name, in_channels)` makes one; `BACKBONES` lists them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import unknown_name


class Backbone(nn.Module):
    """A convolutional base: images (B, C, H, W) -> features (B, out_channels, ~H / stride, ~W / stride)."""

    def __init__(self, body: nn.Module, out_channels: int, stride: int, name: str):
        super().__init__()
        self.body = body
        self.out_channels, self.stride, self.name = out_channels, stride, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    source: Callable[[int, float], nn.Module]  # source(in_channels, width): the whole zoo model
    cut: Callable[[nn.Module], Backbone]       # its base, cut at the detector's stride (modules shared)
    zoo_name: str                              # the zoo model whose weight files `source` reads
    description: str

    def build(self, in_channels: int, width: float) -> Backbone:
        return self.cut(self.source(in_channels, width))


def _vgg16_source(in_channels: int, width: float) -> nn.Module:
    from ..zoo.vgg import VGG
    return VGG("D", in_channels=in_channels, input_size=32, width=width)  # 32: a small classifier, dropped


def _vgg16_cut(net: nn.Module) -> Backbone:
    body = net.features[:-1]  # conv5_3 and its ReLU; the paper's RoI pooling replaces pool5
    return Backbone(body, body[-2].out_channels, 16, "vgg16")


def _resnet_source(depth: int) -> Callable[[int, float], nn.Module]:
    def source(in_channels: int, width: float) -> nn.Module:
        from ..zoo.resnet import resnet
        return resnet(depth, num_classes=1, in_channels=in_channels)
    return source


def _resnet_cut(depth: int) -> Callable[[nn.Module], Backbone]:
    def cut(net: nn.Module) -> Backbone:
        body = nn.Sequential(net.stem, net.conv2, net.conv3, net.conv4)  # C4: stride 4 * 2 * 2
        return Backbone(body, 256 * net.conv4[0].expansion, 16, f"resnet{depth}")
    return cut


def _mobilenet_source(in_channels: int, width: float) -> nn.Module:
    from ..zoo.mobilenet import MobileNet
    return MobileNet(in_channels=in_channels, alpha=width, include_top=False)


def _mobilenet_cut(net: nn.Module) -> Backbone:
    body = net.features[:12]  # the stem and units 1-11: the last unit before the 1024-channel stride-32 pair
    return Backbone(body, body[-1].pointwise[0].out_channels, 16, "mobilenet")


def _cifar_resnet_source(depth: int) -> Callable[[int, float], nn.Module]:
    def source(in_channels: int, width: float) -> nn.Module:
        from ..zoo.resnet import cifar_resnet
        return cifar_resnet(depth, num_classes=1, in_channels=in_channels, width=max(1, round(16 * width)))
    return source


def _cifar_resnet_cut(depth: int) -> Callable[[nn.Module], Backbone]:
    def cut(net: nn.Module) -> Backbone:
        from ..transfer.heads import base_of
        base = base_of(net)
        channels = [m.out_channels for m in base.modules() if isinstance(m, nn.Conv2d)][-1]
        return Backbone(base, channels, 4, f"cifar_resnet{depth}")
    return cut


BACKBONES: dict[str, BackboneInfo] = {b.name: b for b in (
    BackboneInfo("vgg16", _vgg16_source, _vgg16_cut, "vgg16",
                 "VGG-16 conv1_1..conv5_3, stride 16, 512 channels (Fast / Faster R-CNN)"),
    BackboneInfo("resnet18", _resnet_source(18), _resnet_cut(18), "resnet18",
                 "ResNet-18 stem..conv4_x, stride 16, 256 channels (C4)"),
    BackboneInfo("resnet50", _resnet_source(50), _resnet_cut(50), "resnet50",
                 "ResNet-50 stem..conv4_x, stride 16, 1024 channels (C4, Mask R-CNN)"),
    BackboneInfo("mobilenet", _mobilenet_source, _mobilenet_cut, "mobilenet",
                 "MobileNet v1 up to its last 512-channel unit, stride 16"),
    BackboneInfo("cifar_resnet8", _cifar_resnet_source(8), _cifar_resnet_cut(8), "resnet8",
                 "CIFAR ResNet-8's base, stride 4, 64 channels (digit_boxes)"),
    BackboneInfo("cifar_resnet20", _cifar_resnet_source(20), _cifar_resnet_cut(20), "resnet20",
                 "CIFAR ResNet-20's base, stride 4, 64 channels"),
)}


def build_backbone(name: str, in_channels: int = 3, width: float = 1.0) -> Backbone:
    """The backbone `name` for images of `in_channels` channels; `width` scales its channels (VGG's
    and the CIFAR ResNets' width, MobileNet's alpha; the ImageNet ResNets ignore it)."""
    if name not in BACKBONES:
        raise unknown_name("backbone", name, BACKBONES)
    backbone = BACKBONES[name].build(in_channels, width)
    backbone.source_args = (in_channels, width)  # what `load_backbone_weights` rebuilds the source with
    return backbone


def load_backbone_weights(backbone: Backbone, path, *, model_name: str | None = None):
    """Load a weights file (torchvision `.pth`, Keras `.h5`, safetensors, or a classicnets run) of the
    backbone's zoo model into `backbone`, in place: the whole zoo model is built, loaded with
    `transfer.weights.load_pretrained` (its head may differ and is left out), and cut as the backbone
    was; returns the `LoadReport`. `model_name` names the zoo model the file is for (default: the
    backbone's own, e.g. resnet50)."""
    from ..transfer.weights import load_pretrained

    info = BACKBONES[backbone.name]
    net = info.source(*backbone.source_args)
    report = load_pretrained(net, path, model_name=model_name or info.zoo_name)
    backbone.load_state_dict(info.cut(net).state_dict())
    return report
