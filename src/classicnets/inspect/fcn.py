"""Fully connected -> convolutional conversion (the course's "Fully Convolutional Networks").

An FC layer that looks at a C x h x w volume is a convolution with an h x w kernel; the FC layers
after it are 1x1 convolutions. The converted VGG16 gives the same scores on a 224x224 input, and on
a 384x384 input a 6x6 map of scores, each the original network's on the 224x224 crop at that
position (stride 32), in one pass that shares the computation of the 36 crops.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..blocks import pair
from ..errors import UserError

KEEP = (nn.ReLU, nn.ReLU6, nn.Dropout, nn.Identity, nn.Tanh, nn.Sigmoid)


class FullyConvolutional(nn.Module):
    """`features` then `head` of convolutions: (batch, C, H, W) -> (batch, classes, h', w') scores."""

    def __init__(self, features: nn.Module, head: nn.Sequential):
        super().__init__()
        self.features, self.head = features, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_fully_convolutional(model: nn.Module, input_size: Sequence[int]) -> FullyConvolutional:
    """Convert a `features` + `classifier` model (VGG, AlexNet, the course's convnets) trained on
    inputs of `input_size` (C, H, W) into an equivalent fully convolutional network sharing weights."""
    features, classifier = getattr(model, "features", None), getattr(model, "classifier", None)
    if not isinstance(features, nn.Module) or not isinstance(classifier, nn.Sequential):
        raise UserError(f"{type(model).__name__} has no `features` + `classifier` layout to convert")
    device = next(model.parameters()).device
    with torch.no_grad():
        was = features.training
        features.eval()
        fmap = features(torch.zeros(1, *input_size, device=device)).shape[1:]  # (C, h, w)
        features.train(was)
    pool = getattr(model, "avgpool", None)
    if isinstance(pool, nn.modules.pooling._AdaptiveAvgPoolNd) and tuple(fmap[1:]) != pair(pool.output_size):
        raise UserError(f"the adaptive pooling of {type(model).__name__} resizes {tuple(fmap[1:])} maps at "
                        f"input {tuple(input_size)}; convert at its native input size")
    layers: list[nn.Module] = []
    c, kernel = fmap[0], tuple(fmap[1:])
    for m in classifier:
        if isinstance(m, nn.Flatten):
            continue
        if isinstance(m, nn.Linear):
            conv = nn.Conv2d(c, m.out_features, kernel, bias=m.bias is not None).to(device)
            with torch.no_grad():
                conv.weight.copy_(m.weight.view(m.out_features, c, *kernel))  # flatten order is (C, h, w)
                if m.bias is not None:
                    conv.bias.copy_(m.bias)
            layers.append(conv)
            c, kernel = m.out_features, (1, 1)
        elif isinstance(m, KEEP):
            layers.append(m)
        else:
            raise UserError(f"cannot convert {type(m).__name__} in the classifier of {type(model).__name__}: "
                            f"only dense layers, activations and dropout have convolutional equivalents")
    if not any(isinstance(m, nn.Conv2d) for m in layers):
        raise UserError(f"the classifier of {type(model).__name__} has no dense layer to convert")
    return FullyConvolutional(features, nn.Sequential(*layers))
