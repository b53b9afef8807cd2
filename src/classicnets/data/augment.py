"""Batched image augmentation on the device, seeded, applied to raw (uint8) batches.

Each transform draws its randomness for the whole batch at once from the loader's generator.
Parameters are named after Keras's ImageDataGenerator where one exists.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .augment_config import AugmentConfig


def translate(x: torch.Tensor, pad: int, generator: torch.Generator | None, fill: str = "constant") -> torch.Tensor:
    """Shift each image by its own random (dy, dx) in [-pad, pad], filling with zeros, or with the
    nearest edge pixel (`fill="nearest"`)."""
    n, c, h, w = x.shape
    off = torch.randint(0, 2 * pad + 1, (2, n), generator=generator, device=x.device)
    rows = torch.arange(h, device=x.device) + off[0, :, None]              # (N, H), in padded coordinates
    cols = torch.arange(w, device=x.device) + off[1, :, None]              # (N, W)
    ni = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    ci = torch.arange(c, device=x.device).view(1, c, 1, 1)
    if fill == "nearest":  # clamp into the image instead of padding it
        rows, cols = (rows - pad).clamp(0, h - 1), (cols - pad).clamp(0, w - 1)
        return x[ni, ci, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]    # (N, C, H, W)
    xp = F.pad(x, (pad, pad, pad, pad))                                    # (N, C, H+2p, W+2p)
    return xp[ni, ci, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]        # (N, C, H, W)


def horizontal_flip(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    flip = torch.rand(len(x), generator=generator, device=x.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)


def affine(x: torch.Tensor, angle: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor,
           fill: str = "constant") -> torch.Tensor:
    """Rotate each image by `angle` degrees (anticlockwise) about its centre and shift it by (dx, dy)
    pixels (right, down), bilinearly, filling with zeros (or, `fill="nearest"`, with the nearest
    edge pixel, as Keras's fill_mode='nearest'); returns x's dtype (rounded for integers)."""
    n, _, h, w = x.shape
    a = torch.deg2rad(angle.float())
    cos, sin = torch.cos(a), torch.sin(a)
    # output -> input sampling in normalised coordinates; y points down, so anticlockwise is -angle there
    theta = torch.stack([torch.stack([cos, -sin * h / w, -2 * dx.float() / w], 1),
                         torch.stack([sin * w / h, cos, -2 * dy.float() / h], 1)], 1)      # (N, 2, 3)
    theta[:, :, 2] = torch.bmm(theta[:, :, :2], theta[:, :, 2:]).squeeze(2)  # shift after rotation
    grid = F.affine_grid(theta, (n, x.shape[1], h, w), align_corners=False)
    out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border" if fill == "nearest" else "zeros",
                        align_corners=False)
    return out.round().clamp(0, 255).to(x.dtype) if not x.is_floating_point() else out


def random_affine(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None) -> torch.Tensor:
    n, _, h, w = x.shape
    u = lambda: torch.rand(n, generator=generator, device=x.device) * 2 - 1  # noqa: E731  uniform [-1, 1)
    return affine(x, u() * cfg.rotation_range, u() * cfg.width_shift_range * w,
                  u() * cfg.height_shift_range * h, fill=cfg.fill_mode)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator | None) -> torch.Tensor:
    """Zero a size x size square (clipped at the border) centred at a random pixel of each image."""
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n, 1, 1), generator=generator, device=x.device)
    cx = torch.randint(0, w, (n, 1, 1), generator=generator, device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    lo = size // 2
    inside = (ys >= cy - lo) & (ys < cy - lo + size) & (xs >= cx - lo) & (xs < cx - lo + size)  # (N, H, W)
    return x.masked_fill(inside.unsqueeze(1), 0)


def random_erasing(x: torch.Tensor, p: float, generator: torch.Generator | None, area=(0.02, 0.4),
                   aspect=(0.3, 1 / 0.3), tries: int = 10) -> torch.Tensor:
    """Zhong, Zheng, Kang, Li & Yang (2017), "Random erasing data augmentation", algorithm 1: with
    probability `p`, a rectangle of a random share of the image's area (uniform in `area`) and
    aspect ratio height/width (uniform in `aspect`) at a random place is filled with random pixel
    values (0-255 for uint8 images; the batch's range for float ones). A draw that does not fit in
    the image is drawn again, up to `tries` times for the whole batch at once; an image still
    without a fitting rectangle then is left as it is."""
    n, c, h, w = x.shape
    dev = x.device
    erase = torch.rand(n, generator=generator, device=dev) < p
    eh = torch.zeros(n, dtype=torch.long, device=dev)
    ew = torch.zeros(n, dtype=torch.long, device=dev)
    todo = erase.clone()
    for _ in range(tries):  # the paper's "repeat until the rectangle fits", batched
        u = torch.rand(2, n, generator=generator, device=dev)
        s = (area[0] + (area[1] - area[0]) * u[0]) * (h * w)             # pixels erased
        r = aspect[0] + (aspect[1] - aspect[0]) * u[1]                      # height / width
        dh, dw = torch.sqrt(s * r).round().long(), torch.sqrt(s / r).round().long()
        fits = todo & (dh >= 1) & (dw >= 1) & (dh <= h) & (dw <= w)
        eh, ew = torch.where(fits, dh, eh), torch.where(fits, dw, ew)
        todo &= ~fits
        if not bool(todo.any()):
            break
    erase &= ~todo
    u = torch.rand(2, n, generator=generator, device=dev)
    y0 = (u[0] * (h - eh + 1)).long().view(n, 1, 1)                       # top row, so that it fits
    x0 = (u[1] * (w - ew + 1)).long().view(n, 1, 1)
    ys = torch.arange(h, device=dev).view(1, h, 1)
    xs = torch.arange(w, device=dev).view(1, 1, w)
    inside = (ys >= y0) & (ys < y0 + eh.view(n, 1, 1)) & (xs >= x0) & (xs < x0 + ew.view(n, 1, 1))
    inside &= erase.view(n, 1, 1)                                          # (N, H, W)
    if x.is_floating_point():
        lo, hi = (float(x.min()), float(x.max())) if x.numel() else (0.0, 1.0)
        noise = lo + (hi - lo) * torch.rand(x.shape, generator=generator, device=dev, dtype=x.dtype)
    else:
        noise = torch.randint(0, 256, x.shape, generator=generator, device=dev, dtype=torch.int32).to(x.dtype)
    return torch.where(inside.unsqueeze(1), noise, x)


class Augmenter:
    """Callable applying the configured transforms to a batch: `aug(x, generator)`."""

    def __init__(self, config: AugmentConfig):
        self.config = config

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if self.config.horizontal_flip:
            x = horizontal_flip(x, generator)
        c = self.config
        if c.translate:
            x = translate(x, c.translate, generator, c.fill_mode)
        if c.rotation_range or c.width_shift_range or c.height_shift_range:
            x = random_affine(x, c, generator)
        if c.cutout:
            x = cutout(x, c.cutout, generator)
        if c.random_erasing:
            x = random_erasing(x, c.random_erasing, generator)
        return x
