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


# The drawing's file format, by the name's suffix (what Pillow writes; JPEG at quality 95).
DRAWING_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
                   ".webp": "WEBP"}


def drawing_format(path: Path) -> str:
    """The image format a drawing named `path` is written in, by its suffix; `UserError` for another suffix."""
    try:
        return DRAWING_FORMATS[path.suffix.lower()]
    except KeyError:
        raise UserError(f"--out {path}: a drawing is written as an image; end its name with "
                        f"{', '.join(sorted(DRAWING_FORMATS))}, or name a directory") from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def drawing_paths(files: Sequence[Path], out: Path | None) -> list[Path]:
    """Where each image's drawing goes: IMAGE-detections.png beside it, or in the folder `out` (an
    existing directory, or a new one: a name without an image suffix), or `out` itself for one image
    (its suffix says the format). Names are made unique (`-2`, `-3`, ... where two images share a stem,
    as a/0.png and b/0.png in one folder), and no drawing ever replaces one of the images: that is
    refused before anything is written."""
    several = len(files) > 1
    if out is not None and several and out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; with several images --out names a directory for their pictures")
    if out is not None and several and not out.exists() and out.suffix.lower() in DRAWING_FORMATS:
        raise UserError(f"--out {out} names one picture, and {len(files)} images make {len(files)}; name a "
                        f"directory for them (e.g. --out {out.with_suffix('')}), or predict one image at a time")
    if out is not None and not several and not out.is_dir() and out.suffix:
        drawing_format(out)
        targets = [out]
    else:
        folder = out
        targets, taken = [], set()
        for f in files:
            where = folder if folder is not None else f.parent
            target, n = where / f"{f.stem}-detections.png", 1
            while str(target.resolve()) in taken:
                n += 1
                target = where / f"{f.stem}-detections-{n}.png"
            taken.add(str(target.resolve()))
            targets.append(target)
    for f in files:
        for t in targets:
            if t.resolve() == f.resolve() or _same_file(t, f):
                raise UserError(f"the drawing would be written to {t}, which is one of the images given; "
                                f"nothing was written: choose another --out")
    return targets


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
        fmt = drawing_format(target)
        picture.save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
        try:
            write_bytes(target, buf.getvalue())
        except OSError as e:
            raise UserError(f"cannot write {target}: {e.strerror or e}") from None
        yield ImageDetections(f, target, boxes.numpy(), labels.numpy(), scores.numpy())
