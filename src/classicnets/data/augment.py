"""Batched image augmentation on the device, seeded, applied to raw (uint8) batches.

Each transform draws its randomness for the whole batch at once from the loader's generator.
Parameters are named after Keras's ImageDataGenerator where one exists.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    translate: int = 0          # pixels: pad with zeros by this much, then crop back at a random offset
    horizontal_flip: bool = False  # mirror left-right with probability 1/2 (Keras: horizontal_flip)

    @property
    def enabled(self) -> bool:
        return bool(self.translate or self.horizontal_flip)


def translate(x: torch.Tensor, pad: int, generator: torch.Generator | None) -> torch.Tensor:
    """Shift each image by its own random (dy, dx) in [-pad, pad], filling with zeros."""
    n, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))                                    # (N, C, H+2p, W+2p)
    off = torch.randint(0, 2 * pad + 1, (2, n), generator=generator, device=x.device)
    rows = torch.arange(h, device=x.device) + off[0, :, None]              # (N, H)
    cols = torch.arange(w, device=x.device) + off[1, :, None]              # (N, W)
    ni = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    ci = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return xp[ni, ci, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]        # (N, C, H, W)


def horizontal_flip(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    flip = torch.rand(len(x), generator=generator, device=x.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)


class Augmenter:
    """Callable applying the configured transforms to a batch: `aug(x, generator)`."""

    def __init__(self, config: AugmentConfig):
        self.config = config

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if self.config.horizontal_flip:
            x = horizontal_flip(x, generator)
        if self.config.translate:
            x = translate(x, self.config.translate, generator)
        return x
