"""Augmentation settings (torch-free, so the command line can build its options without importing torch)."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

from ..errors import UserError, check_range


@dataclass
class AugmentConfig:
    translate: int = 0          # pixels: pad with zeros by this much, then crop back at a random offset
    horizontal_flip: bool = False  # mirror left-right with probability 1/2 (Keras: horizontal_flip)
    width_shift_range: float = 0.0   # fraction of the width: shift by up to this much, left or right (Keras)
    height_shift_range: float = 0.0  # fraction of the height: shift by up to this much, up or down (Keras)
    rotation_range: float = 0.0      # degrees: rotate by up to this much either way (Keras)
    cutout: int = 0                  # pixels: blank a random square of this side in each image (DeVries & Taylor 2017)
    random_erasing: float = 0.0      # probability: fill a random rectangle (2-40% of the image, aspect 0.3-3.3) with noise (Zhong et al. 2017)
    fill_mode: Literal["constant", "nearest"] = "constant"  # what shifts and rotations bring in: zeros, or the nearest edge pixel (Keras's ImageDataGenerator default)

    @property
    def enabled(self) -> bool:
        return bool(self.translate or self.horizontal_flip or self.width_shift_range
                    or self.height_shift_range or self.rotation_range or self.cutout or self.random_erasing)

    def validate(self) -> AugmentConfig:
        """Raise a `UserError` naming the first setting out of its range; return self."""
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise UserError(f"--{f.name.replace('_', '-')} must be a finite number; got {v}")
        check_range("translate", self.translate, 0, None)
        check_range("width_shift_range", self.width_shift_range, 0, 1, high_open=True)
        check_range("height_shift_range", self.height_shift_range, 0, 1, high_open=True)
        check_range("rotation_range", self.rotation_range, 0, 180)
        check_range("cutout", self.cutout, 0, None)
        check_range("random_erasing", self.random_erasing, 0, 1)
        return self

    def check_image_size(self, height: int, width: int) -> None:
        """Refuse shifts and cutouts that do not fit images of this size."""
        side = min(height, width)
        if self.translate >= side:
            raise UserError(f"--translate {self.translate} shifts {height}x{width} images by their whole size; "
                            f"use at most {side - 1}")
        if self.cutout > max(height, width):
            raise UserError(f"--cutout {self.cutout} is larger than the {height}x{width} images; "
                            f"use at most {max(height, width)}")

