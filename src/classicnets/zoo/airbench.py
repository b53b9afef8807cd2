"""airbench's ConvNet, sized for 28x28 images: the fast network of this project's Fashion-MNIST recipe.

Jordan (2024), "94% on CIFAR-10 in 3.29 seconds on a single GPU", arXiv:2404.00498, section 3.1 and
its `airbench94.py`: after a 2x2 whitening convolution, three blocks of

    conv 3x3 - max pool 2x2 - BatchNorm - GELU - conv 3x3 - BatchNorm - GELU

with 64, 256 and 256 filters, then global max pooling and a linear layer. Pooling straight after each
block's first convolution runs its second convolution, and every BatchNorm and activation, at half
the resolution: a quarter of the work a VGG block (conv-conv-pool) spends there, which is what makes
the network fast.

`airbench28` keeps that layout for 28x28 grayscale images (Fashion-MNIST, MNIST): 28 -> 14 -> 7 -> 3
pixels (the last pooling on 7x7 takes overlapping 3x3 windows, so no row is left out), filters
`width`, 2x and 8x `width` (32, 64, 256). Differences from airbench94, chosen for a
small CPU and this image size: a plain 3x3 first convolution instead of the fixed whitening one
(one input channel has nothing to whiten across), BatchNorm with its learnt scale (airbench fixes
it at 1) and default momentum, and a linear layer with a bias and no output scaling (airbench
multiplies the logits by 1/9 to suit its optimizer's settings).

The model takes its input in channels_last memory order: oneDNN's CPU convolutions and max pooling
run faster on it (a bf16 training step of 128 images took 98.7 ms against 144.2 ms in NCHW, one
thread of the 2-core development CPU), and the trainer converts only on CUDA.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .registry import register_model


def halving_pool(size: int) -> nn.MaxPool2d:
    """2x2 windows, stride 2, on an even side; on an odd one 3x3 windows, stride 2 (AlexNet's
    overlapping pooling), so that the last row and column are pooled too: 7 -> 3 either way, but
    2x2 windows would never look at row 7."""
    return nn.MaxPool2d(2) if size % 2 == 0 else nn.MaxPool2d(3, 2)


class Block(nn.Sequential):
    """conv - pool - BN - GELU - conv - BN - GELU: (N, c_in, H, W) -> (N, c_out, ~H/2, ~W/2)."""

    def __init__(self, c_in: int, c_out: int, size: int):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), halving_pool(size),
                         nn.BatchNorm2d(c_out), nn.GELU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                         nn.BatchNorm2d(c_out), nn.GELU())


class Airbench(nn.Module):
    """Blocks of `widths` filters, each halving the resolution, then global max pooling and a dense layer."""

    def __init__(self, widths: Sequence[int], *, in_channels: int = 1, num_classes: int = 10,
                 input_size: int = 28):
        super().__init__()
        if input_size < 2 ** len(widths):
            raise ValueError(f"{len(widths)} blocks halve the image {len(widths)} times: it needs at least "
                             f"{2 ** len(widths)}x{2 ** len(widths)} pixels, not {input_size}x{input_size}")
        c, size = in_channels, input_size
        blocks = []
        for w in widths:
            blocks.append(Block(c, w, size))
            c, size = w, size // 2  # 2x2 windows on even sides, 3x3 on odd: floor(size / 2) either way
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))
        self.to(memory_format=torch.channels_last)  # the convolutions' weights in the inputs' order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)  # (N, C, H, W), stored NHWC
        return self.head(self.blocks(x))                     # (N, num_classes) logits


@register_model(description="airbench's ConvNet for 28x28: 3 blocks conv-pool-BN-GELU-conv-BN-GELU (32, 64, 256)",
                paper="Jordan 2024, 94% on CIFAR-10 in 3.29 seconds on a single GPU (airbench)", year=2024,
                input_shape=(1, 28, 28), num_params=807_466,
                params_source="3x3 convolutions 288 + 9,216 + 18,432 + 36,864 + 147,456 + 589,824; "
                              "BatchNorm 4 x (32 + 32 + 64 + 64 + 256 + 256); dense 2,570")
def airbench28(num_classes: int = 10, in_channels: int = 1, input_size: int = 28, width: int = 32) -> Airbench:
    return Airbench((width, 2 * width, 8 * width), in_channels=in_channels, num_classes=num_classes,
                    input_size=input_size)
