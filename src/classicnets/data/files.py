"""Reading the user's own inputs for `predict`: PNG/JPEG images and .npy arrays.

Inputs are converted to the model's channels and size and returned in the training data's raw units
(e.g. 0..16 for digits, 0..255 for 8-bit images), ready for the run's normalisation:
- images: decoded with Pillow, converted to grayscale or RGB, resized (box filter when shrinking,
  bilinear when enlarging), then 0..255 is mapped to 0..max_value;
- arrays: taken as already in raw units; (H, W), (C, H, W), (H, W, C), or a batch (N, C, H, W) /
  (N, H, W, C) / (N, H, W) for one-channel models.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
LUMA = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601-2, as Pillow's "L" mode


def read_image(path: Path, shape: tuple[int, int, int], max_value: float, invert: bool) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    c, h, w = shape
    if c not in (1, 3):
        raise UserError(f"the model takes {c}-channel inputs; images can only feed 1 or 3 channels "
                        f"(save a {c}-channel .npy array instead)")
    try:
        with Image.open(path) as img:
            img = img.convert("L" if c == 1 else "RGB")
            if img.size != (w, h):
                shrink = img.size[0] >= w and img.size[1] >= h
                img = img.resize((w, h), Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR)
            a = np.asarray(img, dtype=np.float32)
    except FileNotFoundError:
        raise UserError(f"input file {path} does not exist") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise UserError(f"cannot read image {path}: {e}") from None
    if invert:
        a = 255.0 - a
    t = torch.from_numpy(a * (max_value / 255.0))
    return (t.unsqueeze(0) if c == 1 else t.permute(2, 0, 1)).unsqueeze(0)  # (1, C, H, W)


def _to_nchw(a: np.ndarray, c: int, path: Path) -> np.ndarray:
    ch = (1, 3, 4)
    if a.ndim == 2:
        return a[None, None]
    if a.ndim == 3:
        if a.shape[0] == c or (a.shape[0] in ch and a.shape[-1] not in ch):
            return a[None]
        if a.shape[-1] in ch:
            return a.transpose(2, 0, 1)[None]
        if c == 1:
            return a[:, None]
    if a.ndim == 4:
        if a.shape[1] in ch:
            return a
        if a.shape[-1] in ch:
            return a.transpose(0, 3, 1, 2)
    raise UserError(f"array {path} has shape {a.shape}, which is not an image or a batch of images "
                    f"for a {c}-channel model (use (H, W), (C, H, W), (H, W, C) or (N, C, H, W))")


def convert_channels(x: torch.Tensor, c: int, path: Path) -> torch.Tensor:
    have = x.shape[1]
    if have == 4:                 # drop alpha
        x, have = x[:, :3], 3
    if have == c:
        return x
    if have == 3 and c == 1:
        return (x * LUMA.view(1, 3, 1, 1)).sum(1, keepdim=True)
    if have == 1 and c == 3:
        return x.expand(-1, 3, -1, -1)
    raise UserError(f"{path} has {have} channels and the model takes {c}; cannot convert")


def read_array(path: Path, shape: tuple[int, int, int]) -> torch.Tensor:
    c, h, w = shape
    try:
        a = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"input file {path} does not exist") from None
    except (ValueError, OSError, EOFError) as e:
        raise UserError(f"cannot read array {path}: {e}") from None
    if not isinstance(a, np.ndarray) or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise UserError(f"array {path} does not hold numbers (dtype {getattr(a, 'dtype', '?')})")
    x = torch.from_numpy(_to_nchw(a, c, path).astype(np.float32))
    x = convert_channels(x, c, path)
    if tuple(x.shape[2:]) != (h, w):
        shrink = x.shape[2] >= h and x.shape[3] >= w
        x = F.interpolate(x, size=(h, w), mode="area" if shrink else "bilinear", align_corners=None)
    return x


def read_inputs(paths: list[str | os.PathLike], shape: tuple[int, int, int], max_value: float,
                invert: bool = False) -> tuple[list[str], torch.Tensor]:
    """(names, tensor (N, C, H, W) float32 in raw units) for the given files."""
    names: list[str] = []
    parts: list[torch.Tensor] = []
    for p in map(Path, paths):
        if p.suffix.lower() == ".npy":
            x = read_array(p, shape)
            names += [str(p)] if len(x) == 1 else [f"{p}[{i}]" for i in range(len(x))]
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            x = read_image(p, shape, max_value, invert)
            names.append(str(p))
        else:
            raise UserError(f"cannot predict on {p}: use PNG/JPEG images or .npy arrays")
        parts.append(x)
    if not parts:
        raise UserError("no input files given")
    return names, torch.cat(parts)
