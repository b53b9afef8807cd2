"""Drawing detections onto an image: boxes, class names and scores, and masks, with Pillow and numpy.

`draw_detections` takes an image (H, W, 3) uint8 array or a PIL image and one image's detections in
its pixel coordinates (x1, y1, x2, y2, continuous: a box over columns 0..9 is 0..10), and returns a
new RGB PIL image: each mask blended in its class's colour (40 % opacity), then each box outlined in
that colour with "name score" on a filled label above it (inside it where there is no room above).
Colours come from a fixed palette by class, so one class looks the same in every picture. An image
whose shorter side is under `min_side` pixels (256; digit_boxes' canvases are 64) is first enlarged
by a whole factor, each pixel a block, so that the labels do not cover what they name; never past
`MAX_SIDE` (4096) pixels on its longer side, so a long thin strip is not blown up to gigabytes.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# Distinct, saturated colours (Kelly's 1965 list, the first twelve after white and black), by class index.
PALETTE = [(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0),
           (204, 121, 167), (255, 0, 0), (0, 200, 0), (150, 75, 255), (255, 128, 192), (128, 128, 0)]
MASK_OPACITY = 0.4
MAX_SIDE = 4096  # no enlargement takes a drawing's longer side past this (an image already longer stays as it is)


def colour(label: int) -> tuple[int, int, int]:
    return PALETTE[int(label) % len(PALETTE)]


def _as_rgb(image) -> np.ndarray:
    from PIL import Image

    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"an image to draw on is (H, W), (H, W, 1) or (H, W, 3); got shape {a.shape}")
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a.copy()


def upscale_factor(height: int, width: int, min_side: int = 256, max_side: int = MAX_SIDE) -> int:
    """The whole factor `draw_detections` enlarges an image of this size by (1: none): its shorter side
    to `min_side`, as long as its longer side stays within `max_side` (a 2000x1 strip would otherwise
    become 512000x256, 1.2 GB of drawing)."""
    want = math.ceil(min_side / max(1, min(height, width)))
    return max(1, min(want, max_side // max(1, height, width)))


def draw_detections(image, boxes, labels, scores, classes: Sequence[str], masks=None,
                    line_width: int | None = None, min_side: int = 256, max_side: int = MAX_SIDE):
    """`image` with the detections drawn (see the module docstring), enlarged by
    `upscale_factor(H, W, min_side, max_side)`; `boxes` in the image's pixels, `masks` (D, H, W) in
    [0, 1] or bool at the image's size, drawn where above 0.5."""
    from PIL import Image, ImageDraw, ImageFont

    rgb = _as_rgb(image)
    k = upscale_factor(*rgb.shape[:2], min_side, max_side)
    rgb = np.repeat(np.repeat(rgb, k, axis=0), k, axis=1) if k > 1 else rgb
    h, w = rgb.shape[:2]
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * k
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if masks is not None and len(boxes):
        m = np.asarray(masks) > 0.5                                   # (D, H, W)
        if k > 1:
            m = np.repeat(np.repeat(m, k, axis=1), k, axis=2)
        tint = np.array([colour(c) for c in labels], dtype=np.float64)  # (D, 3)
        for k in np.argsort(scores):  # the most confident mask painted last, so on top
            sel = m[k]
            rgb[sel] = (rgb[sel] * (1 - MASK_OPACITY) + tint[k] * MASK_OPACITY).round().astype(np.uint8)
    img = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    lw = line_width or max(1, round(min(h, w) / 160))
    for k in np.argsort(scores):
        x1, y1, x2, y2 = boxes[k]
        c = colour(labels[k])
        name = classes[labels[k]] if 0 <= labels[k] < len(classes) else str(labels[k])
        # continuous coordinates -> the pixels covered: columns x1 .. x2 - 1
        draw.rectangle([round(x1), round(y1), max(round(x1), round(x2) - 1), max(round(y1), round(y2) - 1)],
                       outline=c, width=lw)
        text = f"{name} {scores[k]:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left + 2, bottom - top + 2
        ty = y1 - th if y1 - th >= 0 else y1
        tx = min(max(0.0, x1), max(0.0, w - tw))
        draw.rectangle([tx, ty, tx + tw, ty + th], fill=c)
        ink = (0, 0, 0) if sum(c) > 380 else (255, 255, 255)
        draw.text((tx + 1 - left, ty + 1 - top), text, fill=ink, font=font)
    return img
