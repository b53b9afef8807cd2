"""Reading the user's own inputs for `predict`: PNG/JPEG images and .npy arrays.

Inputs are converted to the model's channels and size and returned in the training data's raw units
(e.g. 0..16 for digits, 0..255 for 8-bit images), ready for the run's normalisation:
- images: decoded with Pillow, turned upright by their EXIF orientation (phone photos), 16-bit and
  float pixels scaled to 8 bits (16-bit / 257, float 0..1 x 255; floats outside 0..1 and 32-bit
  integers refused, see `to_8bit`), transparency composited onto a background (see
  `flatten_alpha`), converted to grayscale or RGB, resized (box filter when shrinking, bilinear
  when enlarging), then 0..255 is mapped to 0..max_value. Images larger than Pillow's decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS`) are refused;
- arrays: taken as already in raw units; (H, W), (C, H, W), (H, W, C), or a batch (N, C, H, W) /
  (N, H, W, C) / (N, H, W) for one-channel models. Channels-first or channels-last is told by the
  rule the user's training arrays are read by (`image_layout`), except that a reading matching the
  model's input shape exactly wins, and a true tie is refused. `invert` maps x to max_value - x,
  as it maps an image's 0..255 to 255..0. A 4th (alpha) channel is dropped when it is the
  same everywhere and refused otherwise: an array carries no scale telling how opaque a value is,
  so composite it yourself (or save a PNG, which is composited as above). Arrays are read without
  unpickling, and a header claiming more data than the file holds is refused before anything is
  allocated (`load_npy`, `open_npz`, also used for the user's training arrays).
"""
from __future__ import annotations

import math
import os
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from .core import check_finite_array

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
LUMA = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601-2, as Pillow's "L" mode


# -- .npy / .npz without unpickling, header checked against the file size --------------------------

def nbytes_text(n: int) -> str:
    """1,234 bytes / 3.4 MiB / 373.0 GiB."""
    if n < 1 << 20:
        return f"{n:,} bytes"
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    raise AssertionError  # unreachable


def _npy_header(f, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) from the header of an open .npy stream."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            return fmt.read_array_header_1_0(f)
        if version == (2, 0):
            return fmt.read_array_header_2_0(f)
        return fmt._read_array_header(f, version)  # 3.0 (utf-8 field names) has no public reader
    except (ValueError, EOFError, OSError, SyntaxError, TypeError) as e:
        raise UserError(f"{name} is not a readable .npy array ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def _read_npy(f, name: str, size: int) -> np.ndarray:
    """The array of an open .npy stream of `size` bytes, its header checked before allocating."""
    shape, fortran, dtype = _npy_header(f, name)
    if dtype.hasobject:
        raise UserError(f"{name} holds Python objects (dtype {dtype}), which are not loaded because "
                        f"unpickling can run code; save an array of numbers")
    count = math.prod(shape)
    need, have = count * dtype.itemsize, size - f.tell()
    if need > have:
        raise UserError(f"{name} header claims an array of shape {shape} and dtype {dtype} "
                        f"({nbytes_text(need)}) but the file holds only {nbytes_text(max(have, 0))}; "
                        f"it is truncated or damaged")
    buf = bytearray(need)
    if f.readinto(buf) != need:
        raise UserError(f"{name} ended early; it is truncated or damaged")
    a = np.frombuffer(buf, dtype=dtype, count=count)
    return a.reshape(shape[::-1]).transpose() if fortran else a.reshape(shape)


def load_npy(path: str | os.PathLike, name: str | None = None) -> np.ndarray:
    """A .npy file's array; `UserError` naming `name` (default the path) if it is missing, not a
    file, damaged, holds objects, or its header claims more data than the file has."""
    path = Path(path)
    name = name or str(path)
    try:
        with open(path, "rb") as f:
            return _read_npy(f, name, os.fstat(f.fileno()).st_size)
    except FileNotFoundError:
        raise UserError(f"{name} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"{name} is a folder, not a .npy file") from None
    except OSError as e:
        raise UserError(f"cannot read {name}: {e.strerror or e}") from None


def open_npz(path: str | os.PathLike) -> tuple[list[str], Callable[[str], np.ndarray], Callable[[], None]]:
    """(array names, read(name) -> array, close) of a .npz file, each array read as `load_npy` reads."""
    path = Path(path)
    try:
        z = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise UserError(f"array file {path} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not a .npz file") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise UserError(f"cannot read {path}: it is not a .npz file (a zip of .npy arrays) or it is "
                        f"damaged ({e})") from None
    members = {i.filename.removesuffix(".npy"): i for i in z.infolist() if i.filename.endswith(".npy")}

    def read(key: str) -> np.ndarray:
        info = members[key]
        try:
            with z.open(info) as f:
                return _read_npy(f, f"{path}:{key}", info.file_size)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as e:
            raise UserError(f"cannot read {key} from {path}: it is damaged ({e})") from None
    return list(members), read, z.close


# -- images -----------------------------------------------------------------------------------------

def flatten_alpha(img):
    """`img` (a PIL image) with its transparency composited onto a background, as RGB; unchanged if
    it has none. The background is white paper, so a dark drawing on a transparent canvas reads as
    ink on paper; when what is drawn is light (the mean luminance of its visible pixels is over
    half) the background is black instead, so a drawing never vanishes into its background."""
    from PIL import Image, ImageStat

    if img.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in img.info:
        return img
    rgba = img.convert("RGBA")
    alpha = rgba.getchannel("A")
    lo, hi = alpha.getextrema()
    if lo == 255:
        return rgba.convert("RGB")
    ink = ImageStat.Stat(rgba.convert("L"), mask=alpha.point(lambda v: 255 if v else 0)).mean[0] if hi else 0.0
    paper = (255, 255, 255, 255) if ink <= 127.5 else (0, 0, 0, 255)
    return Image.alpha_composite(Image.new("RGBA", rgba.size, paper), rgba).convert("RGB")


def to_8bit(img, path: str | os.PathLike, file_format: str | None):
    """`img` (a PIL image) with more than 8 bits a pixel as 8-bit grayscale ("L"), scaled so its
    full white stays white; other images unchanged. Pillow's own conversion clips instead (16-bit
    65535 and 300 both become 255, float 0..1 becomes 0 or 1), so this runs first:
    - 16-bit grayscale (PNG, TIFF, PGM: modes "I;16*", or "I" from a PNG or PGM file, which Pillow
      scales to 0..65535) is divided by 257, so 65535 -> 255;
    - floats (TIFF mode "F") are read as 0 = black .. 1 = white, times 255; floats outside 0..1
      (or not finite) are refused: the file does not say which value is white;
    - 32-bit integers (TIFF mode "I") are refused for the same reason.
    16-bit colour PNGs need none of this: Pillow reads them as 8-bit RGB(A) already."""
    from PIL import Image

    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N") or (mode == "I" and file_format in ("PNG", "PPM")):
        scaled = np.asarray(img, dtype=np.float32) / 257.0           # 0..65535 -> 0..255
    elif mode == "F":
        a = np.asarray(img, dtype=np.float32)
        if not np.isfinite(a).all():
            raise UserError(f"image {path} holds floating-point pixels that are NaN or infinite; "
                            f"replace them, or save it as an 8- or 16-bit image")
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo < 0 or hi > 1:
            raise UserError(f"image {path} holds floating-point pixels from {lo:g} to {hi:g}, and float images "
                            f"are read as 0..1 (black to white); scale it to 0..1 or save it as an 8- or "
                            f"16-bit image")
        scaled = a * 255.0
    elif mode.startswith("I"):
        raise UserError(f"image {path} holds 32-bit integer pixels, whose white value the file does not say; "
                        f"save it as an 8- or 16-bit image")
    else:
        return img
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")


def decode_image(path: str | os.PathLike, mode: str):
    """The image at `path` as a PIL image in `mode` ("L" or "RGB"): upright by its EXIF orientation,
    16-bit and float pixels scaled to 8 bits (`to_8bit`), transparency composited (`flatten_alpha`).
    `UserError` if it is missing, unreadable, of a depth with no known white, or over Pillow's
    decompression-bomb limit."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                file_format = img.format    # before exif_transpose, whose copy has none
                try:
                    img = ImageOps.exif_transpose(img)
                except (SyntaxError, ValueError, KeyError, TypeError, struct.error):
                    pass  # a damaged EXIF block: keep the pixels as stored
                return flatten_alpha(to_8bit(img, path, file_format)).convert(mode)
    except FileNotFoundError:
        raise UserError(f"input file {path} does not exist") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(f"image {path} has more pixels than Pillow's limit of {Image.MAX_IMAGE_PIXELS:,}, "
                        f"which guards against decompression bombs; resize it to a smaller image first") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        raise UserError(f"cannot read image {path}: {e}") from None


def resize_and_crop(img, size: int, h: int, w: int):
    """torchvision's ImageNet evaluation transform (`Resize(size)`, `CenterCrop((h, w))`) on a PIL image:
    the shorter side scaled to `size` (bilinear; the longer one to int(size * long / short)), then the
    centre (h, w), its offsets rounded as torchvision rounds them."""
    from PIL import Image

    iw, ih = img.size
    nw, nh = (size, int(size * ih / iw)) if iw <= ih else (int(size * iw / ih), size)
    if (nw, nh) != (iw, ih):
        img = img.resize((nw, nh), Image.Resampling.BILINEAR)
    top, left = int(round((nh - h) / 2.0)), int(round((nw - w) / 2.0))
    return img.crop((left, top, left + w, top + h))


def read_image(path: Path, shape: tuple[int, int, int], max_value: float, invert: bool,
               resize: int | None = None) -> torch.Tensor:
    """One image as (1, C, H, W) in raw units 0..max_value: resized straight to (H, W), or with
    `resize` its shorter side to `resize` then centre-cropped (`resize_and_crop`)."""
    from PIL import Image

    c, h, w = shape
    if c not in (1, 3):
        raise UserError(f"the model takes {c}-channel inputs; images can only feed 1 or 3 channels "
                        f"(save a {c}-channel .npy array instead)")
    img = decode_image(path, "L" if c == 1 else "RGB")
    if resize is not None:
        img = resize_and_crop(img, resize, h, w)
    if img.size != (w, h):
        shrink = img.size[0] >= w and img.size[1] >= h
        img = img.resize((w, h), Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR)
    a = np.asarray(img, dtype=np.float32)
    if invert:
        a = 255.0 - a
    t = torch.from_numpy(a * (max_value / 255.0))
    return (t.unsqueeze(0) if c == 1 else t.permute(2, 0, 1)).unsqueeze(0)  # (1, C, H, W)


# -- arrays -----------------------------------------------------------------------------------------

Layout = Literal["channels_first", "channels_last"]
LAYOUT_WORDS = {"channels_first": "channels-first (N, C, H, W)", "channels_last": "channels-last (N, H, W, C)"}


def image_layout(shape: tuple[int, ...]) -> Layout | None:
    """The layout of a batch of images of `shape` (N, A, B, C), or None when its shape cannot tell.

    The channel axis is A or C. Square images decide first: B == C reads (N, C, H, W) with H == W,
    A == B reads (N, H, W, C) with H == W. Otherwise the smaller of A and C holds the channels, as
    images have more rows and columns than channels. When A == C the two readings are mirror
    images ((N, 3, 32, 3), (N, 32, 32, 32)) and None is returned; the caller refuses or asks.
    This cannot mistake (N, 4, 32, 32) or (N, 2, 32, 32) for channels-last, nor (N, 64, 8, 8)
    feature maps; it misreads only non-square images with more channels than rows (or columns)."""
    _, a, b, c = shape
    if a == c:
        return None
    if b == c:
        return "channels_first"
    if a == b:
        return "channels_last"
    return "channels_first" if a < c else "channels_last"


def _usable(have: int, c: int) -> bool:
    """Whether `have` channels can feed a `c`-channel model (see `convert_channels`)."""
    return have == c or (c in (1, 3) and have in (1, 3, 4))


def _to_nchw(a: np.ndarray, shape: tuple[int, int, int], path: Path) -> tuple[np.ndarray, str]:
    """(images (N, C, H, W), how they were read) from an array for a model taking `shape` (C, H, W).
    A batch (or one image, (C, H, W) / (H, W, C)) is read by `image_layout`'s rule, except that a
    reading matching the model's input shape exactly wins; a 3-axis array is a batch of one-channel
    images (N, H, W) when the model takes one channel and neither end axis is a channel count it takes."""
    c, h, w = shape
    given = a.shape
    if a.ndim == 2:
        return a[None, None], "one image (H, W)"
    if a.ndim == 3:
        if c == 1 and not _usable(a.shape[0], c) and not _usable(a.shape[2], c):
            return a[:, None], "a batch of one-channel images (N, H, W)"
        a = a[None]                                   # one image: (C, H, W) or (H, W, C)
    if a.ndim != 4:
        raise UserError(f"array {path} has shape {given}, which is not an image or a batch of images "
                        f"for a {c}-channel model (use (H, W), (C, H, W), (H, W, C) or (N, C, H, W))")
    first, last = a.shape[1:] == (c, h, w), (a.shape[3], a.shape[1], a.shape[2]) == (c, h, w)
    layout = image_layout(a.shape) if first == last else "channels_first" if first else "channels_last"
    if layout is None:
        raise UserError(f"array {path} has shape {given}, which reads as channels-first or channels-last alike; "
                        f"resize it to the model's input, {c}x{h}x{w} as (N, {c}, {h}, {w}), first")
    how = LAYOUT_WORDS[layout] if given == a.shape else LAYOUT_WORDS[layout].replace("(N, ", "(")
    return (a if layout == "channels_first" else a.transpose(0, 3, 1, 2)), how


def convert_channels(x: torch.Tensor, c: int, path: Path, what: str = "") -> torch.Tensor:
    """`x` (N, have, H, W) as `c` channels: a constant alpha dropped, RGB to gray by ITU-R 601
    luma, gray repeated; `what` ("array A has shape S, read as L:") begins the refusal otherwise."""
    have = x.shape[1]
    if have == 4 and c != 4:      # an alpha channel: only a constant one carries nothing to composite
        if torch.any(x[:, 3] != x[:1, 3, :1, :1]):
            raise UserError(f"array {path} has 4 channels and its 4th (alpha) varies, which an array "
                            f"cannot say how to composite; blend it onto a background yourself or "
                            f"save the image as a PNG, whose transparency is composited")
        x, have = x[:, :3], 3
    if have == c:
        return x
    if have == 3 and c == 1:
        return (x * LUMA.view(1, 3, 1, 1)).sum(1, keepdim=True)
    if have == 1 and c == 3:
        return x.expand(-1, 3, -1, -1)
    raise UserError(f"{what or f'{path} has'} {have} channels, and the model takes {c}; cannot convert")


def read_array(path: Path, shape: tuple[int, int, int]) -> torch.Tensor:
    c, h, w = shape
    a = load_npy(path, f"array {path}")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or np.issubdtype(a.dtype, np.complexfloating):
        raise UserError(f"array {path} does not hold real numbers (dtype {a.dtype})")
    if a.size == 0:
        raise UserError(f"array {path} holds no images (shape {a.shape})")
    check_finite_array(a, f"array {path}", "replace them before predicting")
    nchw, how = _to_nchw(a, shape, path)
    x = torch.from_numpy(nchw.astype(np.float32))
    x = convert_channels(x, c, path, f"array {path} has shape {a.shape}, read as {how}:")
    if tuple(x.shape[2:]) != (h, w):
        shrink = x.shape[2] >= h and x.shape[3] >= w
        x = F.interpolate(x, size=(h, w), mode="area" if shrink else "bilinear", align_corners=None)
    return x


def read_inputs(paths: list[str | os.PathLike], shape: tuple[int, int, int], max_value: float,
                invert: bool = False, resize: int | None = None) -> tuple[list[str], torch.Tensor]:
    """(names, tensor (N, C, H, W) float32 in raw units) for the given files; `invert` turns dark
    on light into light on dark (images: 255 - value; arrays: max_value - value); `resize`: images'
    shorter side resized to it, then centre-cropped (see `read_image`)."""
    names: list[str] = []
    parts: list[torch.Tensor] = []
    for p in map(Path, paths):
        if p.suffix.lower() == ".npy":
            x = read_array(p, shape)
            if invert:
                x = max_value - x   # raw units: 0..max_value, as an image's 0..255 is inverted
            names += [str(p)] if len(x) == 1 else [f"{p}[{i}]" for i in range(len(x))]
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            x = read_image(p, shape, max_value, invert, resize)
            names.append(str(p))
        else:
            raise UserError(f"cannot predict on {p}: use PNG/JPEG images or .npy arrays")
        parts.append(x)
    if not parts:
        raise UserError("no input files given")
    return names, torch.cat(parts)


def read_sequences(paths: list[str | os.PathLike], shape: tuple[int, ...]) -> tuple[list[str], torch.Tensor]:
    """(names, tensor) for sequence models from .npy files: word ids / symbols (T,) or a batch (N, T)
    for a model taking `shape` == (T,); float sequences (T, F) or (N, T, F) for `shape` == (T, F)."""
    names: list[str] = []
    parts: list[torch.Tensor] = []
    for p in map(Path, paths):
        if p.suffix.lower() != ".npy":
            raise UserError(f"cannot predict on {p}: this model reads sequences; give .npy arrays of shape "
                            f"{shape} or a batch (N, {', '.join(map(str, shape))})")
        a = load_npy(p, f"array {p}")
        if a.shape == shape:
            a = a[None]
        if a.ndim != len(shape) + 1 or tuple(a.shape[1:]) != tuple(shape) or not len(a):
            raise UserError(f"array {p} has shape {a.shape}; the model takes sequences of shape {shape} "
                            f"or a batch (N, {', '.join(map(str, shape))})")
        if len(shape) == 1:  # word ids / symbols
            if not np.issubdtype(a.dtype, np.integer):
                if not (np.issubdtype(a.dtype, np.floating) and np.isfinite(a).all() and (a == np.round(a)).all()):
                    raise UserError(f"array {p} must hold integer symbol ids; it holds {a.dtype}")
            x = torch.from_numpy(a.astype(np.int64))
            if (x < 0).any():
                raise UserError(f"array {p} holds negative symbol ids")
        else:
            if not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
                raise UserError(f"array {p} must hold finite numbers")
            x = torch.from_numpy(a.astype(np.float32))
        names += [str(p)] if len(x) == 1 else [f"{p}[{i}]" for i in range(len(x))]
        parts.append(x)
    return names, torch.cat(parts)
