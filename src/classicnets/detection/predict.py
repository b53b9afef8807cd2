"""A trained detector on the user's pictures: each image read at the model's input size, detected,
its detections taken back to the image's own pixels and drawn on it (boxes, class names, scores and
masks), the drawing written as a PNG."""
from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.core import Normalization
from ..errors import UserError
from .base import Detector, raw_pixels


@dataclass
class ImageDetections:
    """One image's detections, in its own pixel coordinates, and where their drawing was written."""

    image: Path
    drawing: Path
    boxes: np.ndarray     # (D, 4) x1, y1, x2, y2
    labels: np.ndarray    # (D,) 0-based classes
    scores: np.ndarray    # (D,)


def drawing_paths(files: Sequence[Path], out: Path | None) -> list[Path]:
    """Where each image's drawing goes: IMAGE-detections.png beside it, or in the folder `out`, or
    `out` itself for one image."""
    if out is not None and len(files) > 1 and out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; with several images --out names a directory for their pictures")
    if out is None:
        return [f.with_name(f"{f.stem}-detections.png") for f in files]
    if len(files) > 1 or out.is_dir():
        return [out / f"{f.stem}-detections.png" for f in files]
    return [out]


@torch.no_grad()
def detect_image(model: Detector, path: Path, input_shape: Sequence[int], normalization: Normalization | None,
                 invert: bool = False):
    """(the picture as decoded, its detections as the model gives them at its input size); `invert`
    turns dark on light into light on dark first."""
    from ..data.files import decode_image, read_image

    original = decode_image(path, "RGB")                                  # what the picture is drawn on
    max_value = normalization.max_value if normalization else 255.0
    x = read_image(path, tuple(input_shape), max_value, invert)          # (1, C, H, W) raw units
    xn = normalization(x) if normalization is not None else x
    model.eval()
    if model.needs_proposals:  # selective search on the raw pixels, not on the normalised image
        return original, model(xn, [{"proposals": model.search(raw_pixels(x[0], max_value))}])[0]
    return original, model(xn)[0]


def detect_images(model: Detector, files: Sequence[str | Path], *, input_shape: Sequence[int],
                  normalization: Normalization | None, classes: list[str], threshold: float = 0.5,
                  out: str | Path | None = None, invert: bool = False) -> Iterator[ImageDetections]:
    """Detect objects in each image file and draw them; yields each image's detections scoring at
    least `threshold`, once its drawing is written (see `drawing_paths`)."""
    from ..data.files import IMAGE_SUFFIXES
    from ..fileio import write_bytes
    from .draw import draw_detections

    files = [Path(f) for f in files]
    for f in files:
        if f.suffix.lower() not in IMAGE_SUFFIXES:
            raise UserError(f"cannot detect objects in {f}: give PNG/JPEG images")
    _, h, w = input_shape
    for f, target in zip(files, drawing_paths(files, Path(out) if out is not None else None)):
        original, det = detect_image(model, f, input_shape, normalization, invert)
        keep = det["scores"] >= threshold
        w0, h0 = original.size
        boxes = det["boxes"][keep].float().cpu() * torch.tensor([w0 / w, h0 / h, w0 / w, h0 / h])  # image pixels
        labels, scores = det["labels"][keep].cpu(), det["scores"][keep].float().cpu()
        masks = None
        if "masks" in det and keep.any():
            masks = F.interpolate(det["masks"][keep].float().cpu()[:, None], size=(h0, w0), mode="bilinear",
                                  align_corners=False)[:, 0].numpy()
        picture = draw_detections(original, boxes.numpy(), labels.numpy(), scores.numpy(), classes, masks)
        buf = io.BytesIO()
        picture.save(buf, format="PNG")
        try:
            write_bytes(target, buf.getvalue())
        except OSError as e:
            raise UserError(f"cannot write {target}: {e.strerror or e}") from None
        yield ImageDetections(f, target, boxes.numpy(), labels.numpy(), scores.numpy())
