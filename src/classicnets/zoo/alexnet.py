"""AlexNet and ZFNet.

Krizhevsky, Sutskever & Hinton (2012), "ImageNet classification with deep convolutional neural
networks", NIPS, figure 2. `alexnet` is the single-tower form torchvision uses (from Krizhevsky's
2014 "One weird trick"): 64-192-384-256-256 filters, no grouped convolutions or LRN, 6x6 adaptive
average pooling before the classifier; 61,100,840 parameters, as torchvision's reference.

Zeiler & Fergus (2013), "Visualizing and understanding convolutional networks", ECCV, figure 3:
`zfnet` is AlexNet with a 7x7 stride-2 first layer (96 filters) instead of 11x11 stride 4, a 5x5
stride-2 second layer, and 384-384-256 middle layers; feature maps 110-55-26-13-13-13-6 on 224x224.
"""
from __future__ import annotations

from torch import nn

from .course import ConvHead
from .registry import register_model


def _classifier(c: int, spatial: int, hidden: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(c * spatial * spatial, hidden),
                         nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, hidden),
                         nn.ReLU(inplace=True), nn.Linear(hidden, num_classes))


class AlexNet(ConvHead):
    def __init__(self, features: nn.Sequential, classifier: nn.Sequential, pool: int):
        super().__init__(features, classifier)
        self.avgpool = nn.AdaptiveAvgPool2d(pool)  # a no-op at 224x224; lets larger inputs through

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


@register_model(description="AlexNet (2012), torchvision's single-tower form: 5 conv, 3 dense layers",
                paper="Krizhevsky et al. 2012, ImageNet classification with deep CNNs", year=2012,
                input_shape=(3, 224, 224), trainable_params=61_100_840,
                params_source="torchvision.models.alexnet")
def alexnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> AlexNet:
    relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
    features = nn.Sequential(
        nn.Conv2d(in_channels, 64, 11, 4, 2), relu(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), relu(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), relu(),
        nn.Conv2d(384, 256, 3, padding=1), relu(),
        nn.Conv2d(256, 256, 3, padding=1), relu(), nn.MaxPool2d(3, 2))
    return AlexNet(features, _classifier(256, 6, 4096, num_classes, dropout), 6)


@register_model(description="ZFNet (2013): 7x7/2 first layer, 5x5/2 second, 384-384-256 middle layers",
                paper="Zeiler & Fergus 2013, Visualizing and understanding convolutional networks",
                year=2013, input_shape=(3, 224, 224))
def zfnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> AlexNet:
    relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
    features = nn.Sequential(
        nn.Conv2d(in_channels, 96, 7, 2, 1), relu(), nn.MaxPool2d(3, 2, 1),   # 110 -> 55
        nn.Conv2d(96, 256, 5, 2), relu(), nn.MaxPool2d(3, 2, 1),              # 26 -> 13
        nn.Conv2d(256, 384, 3, padding=1), relu(),
        nn.Conv2d(384, 384, 3, padding=1), relu(),
        nn.Conv2d(384, 256, 3, padding=1), relu(), nn.MaxPool2d(3, 2))       # 13 -> 6
    return AlexNet(features, _classifier(256, 6, 4096, num_classes, dropout), 6)
