"""`classicnets export RUN`: a run's model as an ONNX or TorchScript file (`classicnets.export`), with
the run card's classes, input shape, normalisation (and vocabulary) in the JSON beside it.

A classifier is checked on random inputs (`export.check`); a detector on a few real images of its
data set where they load without downloading (its detections on random images may be none at all,
which would check nothing), else on random images, and the summary says which.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import UserError

Log = Callable[[str], None]
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
CHECK_IMAGES = 3


def default_path(run: str | os.PathLike, format: str) -> Path:
    """RUN/model.onnx or RUN/model.pt."""
    if format not in SUFFIXES:
        raise UserError(f"format must be one of {', '.join(SUFFIXES)}; got {format!r}")
    return Path(run) / f"model{SUFFIXES[format]}"


def export_run(run: str | os.PathLike, format: str, out: str | os.PathLike | None = None, *,
               dynamic_batch: bool = False, overwrite: bool = False, tolerance: float | None = None,
               note: Log = lambda s: None):
    """Export the model of run directory `run` to `out` (default `default_path`); an `ExportResult`.
    `note` hears where a detector's check images came from."""
    from ..export import TOLERANCE, export_model
    from ..record import read_config
    from .rundir import load_model

    path = Path(out) if out is not None else default_path(run, format)
    model, card = load_model(run)
    check_inputs = None
    if card.task == "detection":
        check_inputs, said = detection_check_images(run, card, read_config(run))
        note(said)
    meta = {"name": card.name, "args": card.args, "run": str(run), "data": card.data}
    if card.resize is not None:  # published torchvision weights: their evaluation's resizing, before normalising
        h, w = card.input_shape[1:]
        meta["resize"] = (f"shorter side resized to {card.resize} (bilinear), then the centre {h}x{w} cropped, "
                          f"before the normalisation")
    return export_model(model, path, format=format, input_shape=card.input_shape, task=card.task,
                        classes=card.classes, normalization=card.normalization, vocabulary=card.vocab,
                        dynamic_batch=dynamic_batch, overwrite=overwrite, check_inputs=check_inputs,
                        tolerance=TOLERANCE if tolerance is None else tolerance, meta=meta)


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """`$CLASSICNETS_OFFLINE` set for the length of the block: a data set that is not here is refused,
    not downloaded, for the sake of a check."""
    before = os.environ.get("CLASSICNETS_OFFLINE")
    os.environ["CLASSICNETS_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["CLASSICNETS_OFFLINE"]
        else:
            os.environ["CLASSICNETS_OFFLINE"] = before


def detection_check_images(run, card, cfg):
    """(up to 3 normalised images of the run's data set, at its input size, or None for random ones;
    a sentence saying which)."""
    from ..data import load_dataset

    try:
        with _offline():
            data = load_dataset(card.data, data_dir=cfg.data_dir, **cfg.data_args)
    except UserError as e:
        return None, f"checking on random images: {card.data} does not load without a download ({e})"
    split = next((s for s in (data.test, data.val, data.train) if s is not None and len(s)), None)
    images = getattr(split, "images", None)
    if images is None or list(images.shape[1:]) != list(card.input_shape):
        return None, f"checking on random images: {card.data}'s images are not the model's {card.input_shape}"
    x = images[:CHECK_IMAGES].float()
    x = card.norm(x) if card.norm is not None else x
    return x, f"checking on {len(x)} images of {card.data}"
