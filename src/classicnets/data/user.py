"""The user's own data: image folders (one sub-folder per class) and .npz arrays.

Image folders follow the course's cats-vs-dogs layout: `DIR/<class>/*.jpg`, or split folders
`DIR/train/<class>/`, `DIR/validation/<class>/` (or `val/`), `DIR/test/<class>/`. Images are
decoded once as `predict` decodes them (upright by EXIF orientation, 16-bit and float pixels scaled
to 8 bits, transparency composited, see `files.decode_image`), converted to RGB, resized to `size` x `size` and cached as uint8 arrays in
the data cache, keyed by the folder's path, file names, sizes and times. Files that are not readable
images (or exceed Pillow's decompression-bomb limit) are skipped; `Dataset.meta["skipped"]` lists
them. A damaged cache file is moved aside (`NAME.bad-<md5 prefix>`, reported on stderr) and rebuilt.

.npz arrays use Keras's names: `x_train`, `y_train`, optional `x_val`/`y_val` and `x_test`/`y_test`;
images as (N, H, W), (N, H, W, C) or (N, C, H, W); uint8 (0..255) or floats (used as they are, and
all finite). Channels-first or channels-last is told by the shape (`files.image_layout`: square
images decide, else the smaller of the second and last axes holds the channels; when those two are
equal the arrays are refused unless the data option layout=channels_first or layout=channels_last
says which); `Dataset.meta["layout"]` says how they were read. Labels are class numbers 0..K-1 with every class present in training (whole-number
floats are accepted); validation and test labels must be among the training classes.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..errors import UserError
from .core import Dataset, Split, check_finite_array, option_int
from .download import data_home, keep_in_cache, move_aside
from .files import LAYOUT_WORDS, decode_image, image_layout, load_npy, open_npz

SPLITS = {"train": "train", "validation": "val", "val": "val", "test": "test"}
MIN_SIZE = 8             # pixels per side: digits' 8x8 is the smallest the models learn from
MAX_SIZE = 4096          # pixels per side of a decoded image folder; far beyond what the models take
CACHE_NAME_BYTES = 64    # a longer folder name is cut in the cache's file name (its key tells folders apart)
CACHE_VERSION = 3        # bump when decoding changes, so older caches are not reused


def _class_files(root: Path) -> dict[str, list[Path]]:
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return {c.name: sorted(f for f in c.rglob("*") if f.is_file() and not f.name.startswith(".")) for c in classes}


def _decode(files: dict[str, list[Path]], classes: list[str], size: int, skipped: list[str]):
    from PIL import Image

    xs, ys = [], []
    for label, c in enumerate(classes):
        for f in files.get(c, []):
            try:
                img = decode_image(f, "RGB").resize((size, size), Image.Resampling.BILINEAR)
            except UserError:
                skipped.append(str(f))
                continue
            xs.append(np.asarray(img, np.uint8).transpose(2, 0, 1))  # (3, size, size)
            ys.append(label)
    x = np.stack(xs) if xs else np.zeros((0, 3, size, size), np.uint8)
    return x, np.array(ys, np.int64)


def _read_cache(cache: Path, splits, size: int, classes: int) -> dict[str, np.ndarray] | None:
    """The arrays of an image-folder cache file, or None if there is none or it is damaged (then
    it is moved aside, so the images are decoded again)."""
    if cache.is_dir():
        raise UserError(f"{cache} is a folder where classicnets caches decoded images; move or rename it")
    if not cache.exists():
        return None
    try:
        names, read, close = open_npz(cache)
        try:
            arrays = {k: read(k) for k in names}
        finally:
            close()
        problem = None if arrays.get("skipped", np.zeros(0, np.int8)).dtype.kind == "U" else "no list of skipped files"
        for s in splits:
            x, y = arrays.get(f"x_{s}"), arrays.get(f"y_{s}")
            if x is None or y is None:
                problem = problem or f"no x_{s} or y_{s}"
            elif (x.dtype != np.uint8 or x.shape[1:] != (3, size, size) or y.dtype != np.int64
                  or y.shape != (len(x),) or (len(y) and not 0 <= y.min() <= y.max() < classes)):
                problem = problem or f"x_{s} {x.shape} {x.dtype} and y_{s} {y.shape} {y.dtype} are not what it stores"
        if problem is None:
            return arrays
    except UserError as e:
        problem = str(e)
    move_aside(cache, f"the image cache {cache} is damaged ({problem}), so the images are decoded again")
    return None


def _readable_prefix(name: str) -> str:
    """`name` if it is short, else its first characters within `CACHE_NAME_BYTES` bytes: a file
    name holds at most 255 bytes, and the cache's is `NAME-KEY.npz` (then `.bad-...` if damaged)."""
    return name.encode()[:CACHE_NAME_BYTES].decode("utf-8", "ignore")


def load_image_folder(path: str | Path, size: int = 64) -> Dataset:
    """An image folder (one sub-folder per class) as a data set of `size` x `size` RGB images
    (`MIN_SIZE`..`MAX_SIZE` pixels a side)."""
    root = Path(path)
    size = option_int(f"image folder {root}", "size", size, MIN_SIZE, MAX_SIZE)
    if not root.is_dir():
        raise UserError(f"image folder {root} does not exist")
    split_dirs = {SPLITS[p.name]: p for p in root.iterdir() if p.is_dir() and p.name in SPLITS}
    if "train" not in split_dirs:
        split_dirs = {"train": root}
    files = {s: _class_files(d) for s, d in split_dirs.items()}
    classes = sorted(files["train"])
    if len(classes) < 2:
        raise UserError(f"{split_dirs['train']} needs one sub-folder per class (at least two); found {classes}")
    key = hashlib.sha256(repr((CACHE_VERSION, str(root.resolve()), size, sorted(
        (str(f), f.stat().st_size, f.stat().st_mtime_ns) for fs in files.values() for group in fs.values() for f in group
    ))).encode()).hexdigest()[:16]
    cache = data_home() / "folders" / f"{_readable_prefix(root.name)}-{key}.npz"
    arrays = _read_cache(cache, files, size, len(classes))
    if arrays is not None:
        skipped = [str(s) for s in arrays.pop("skipped")]
    else:
        arrays, skipped = {}, []
        for s in files:
            arrays[f"x_{s}"], arrays[f"y_{s}"] = _decode(files[s], classes, size, skipped)
        buf = io.BytesIO()
        np.savez(buf, skipped=np.array(skipped, dtype=str), **arrays)
        keep_in_cache(cache, lambda f: f.write(buf.getvalue()))
    if not len(arrays["y_train"]):
        raise UserError(f"no readable images under {split_dirs['train']}")
    splits = {s: Split(torch.from_numpy(arrays[f"x_{s}"]), torch.from_numpy(arrays[f"y_{s}"]))
              for s in files if len(arrays[f"y_{s}"])}
    return Dataset(root.name, classes, splits["train"], splits.get("val"), splits.get("test"), 255.0,
                        description=f"image folder {root}", meta={"skipped": skipped, "path": str(root)})


# -- arrays -----------------------------------------------------------------------------------------

def _nchw(a: np.ndarray, name: str, layout: str) -> tuple[np.ndarray, str]:
    """(images (N, C, H, W), how they were read) from array `name`, by `files.image_layout`'s rule
    or as `layout` says ("channels_first" or "channels_last"; "auto": the rule)."""
    if a.ndim == 3:
        return a[:, None], (f"one channel (N, H, W): {name}, shape {a.shape}, is {len(a):,} images of "
                             f"{a.shape[1]}x{a.shape[2]}")
    if a.ndim != 4:
        raise UserError(f"{name} has shape {a.shape}; images must be (N, H, W), (N, H, W, C) or (N, C, H, W)")
    chosen = image_layout(a.shape) if layout == "auto" else layout
    if chosen is None:
        raise UserError(f"{name} has shape {a.shape}, which reads as channels-first (N, C, H, W) or channels-last "
                        f"(N, H, W, C) alike; say which with the data option layout=channels_first or "
                        f"layout=channels_last (--data-arg on the command line)")
    x = a if chosen == "channels_first" else a.transpose(0, 3, 1, 2)
    by = "by its shape" if layout == "auto" else "as the layout option says"
    return x, (f"{LAYOUT_WORDS[chosen]} {by}: {name}, shape {a.shape}, is {len(x):,} images of "
               f"{x.shape[2]}x{x.shape[3]} with {x.shape[1]} channel{'s' * (x.shape[1] != 1)}")


def _show(v) -> str:
    """A label as the user wrote it: 3 for 3.0, 1.5, nan."""
    return str(int(v)) if isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer() else str(v)


def _listing(values: np.ndarray, limit: int = 5) -> str:
    """'1000 (1 example), 1001 (2 examples) and 3 more values' for the distinct `values`."""
    uniq, counts = np.unique(values, return_counts=True)
    parts = [f"{_show(v)} ({int(c):,} example{'s' * (int(c) != 1)})" for v, c in zip(uniq[:limit], counts[:limit])]
    more = f" and {len(uniq) - limit} more values" if len(uniq) > limit else ""
    return ", ".join(parts) + more


def _images(x: np.ndarray, name: str, layout: str) -> tuple[np.ndarray, str]:
    """(checked images (N, C, H, W) of array `name`, how they were read; see `_nchw`)."""
    if x.dtype == bool:
        x = x.astype(np.uint8)
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise UserError(f"{name} holds {x.dtype} values; images must be real numbers (uint8 0..255 or floats)")
    if x.ndim and not len(x):
        raise UserError(f"{name} holds no examples (shape {x.shape}); give it at least one image")
    if not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))  # torch takes native byte order only
    x, how = _nchw(x, name, layout)
    if 0 in x.shape:
        raise UserError(f"{name} has shape {x.shape} once read as (N, C, H, W); images need at least one pixel")
    check_finite_array(x, name, "replace them or drop those examples")
    return x, how


def _labels(y: np.ndarray, name: str, n: int, xname: str) -> np.ndarray:
    """Checked labels (N,) of array `name` (not yet range-checked): integers or whole floats."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UserError(f"{name} has shape {y.shape}; labels must be one class number per example, shape (N,) "
                        f"(for one-hot labels save y.argmax(1))")
    if len(y) != n:
        raise UserError(f"{xname} has {n:,} examples but {name} has {len(y):,} labels; they must pair up one to one")
    if y.dtype == bool:
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.complexfloating):
        raise UserError(f"{name} holds {y.dtype} values; labels must be class numbers 0..K-1 "
                        f"(number text labels first, e.g. with np.unique(y, return_inverse=True))")
    if np.issubdtype(y.dtype, np.floating):
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise UserError(f"{name} has labels that are not whole numbers: {_listing(y[bad])}; "
                            f"labels must be class numbers 0..K-1")
    return y


def _check_classes(ys: dict[str, np.ndarray], path: Path) -> int:
    """K, the number of classes: every label of y_train in 0..K-1 with each class present, and
    the labels of the other splits among them."""
    y = ys["train"]
    if (y < 0).any():
        raise UserError(f"y_train in {path} has negative labels: {_listing(y[y < 0])}; labels must be class numbers 0..K-1")
    present = np.unique(y)
    k = 0
    while k < len(present) and present[k] == k:  # classes 0..k-1 all present
        k += 1
    if k == 0:
        raise UserError(f"y_train in {path} has no label 0 (its labels run {_show(present[0])}..{_show(present[-1])}); "
                        f"classes must be numbered from 0, e.g. subtract {_show(present[0])} from every label")
    if k < len(present):
        raise UserError(f"y_train in {path} has labels outside 0..{k - 1}: {_listing(y[y >= k])}; classes must be "
                        f"numbered 0..K-1 with every class present in training, and class {k} has no examples")
    if k < 2:
        raise UserError(f"y_train in {path} has only one class (0); a classifier needs examples of at least two")
    for s, other in ys.items():
        bad = (other < 0) | (other >= k)
        if s != "train" and bad.any():
            raise UserError(f"y_{s} in {path} has labels outside 0..{k - 1}, the classes of y_train: "
                            f"{_listing(other[bad])}; drop those examples or give their classes training examples")
    return k


def load_arrays(path: str | Path, layout: Literal["auto", "channels_first", "channels_last"] = "auto") -> Dataset:
    """Arrays named as Keras's (x_train, y_train, optional x_val/y_val, x_test/y_test): in one .npz
    file, or as .npy files of those names in a folder (what `np.save` leaves). Four-axis images are
    read channels-first or channels-last by `files.image_layout`'s rule, or as `layout` says (Keras's
    `data_format` names); `Dataset.meta["layout"]` says how they were read."""
    path = Path(path)
    if layout not in ("auto", "channels_first", "channels_last"):
        raise UserError(f"option layout of arrays {path} must be auto, channels_first or channels_last; got {layout!r}")
    if path.is_dir():
        arrays = {f.stem: f for f in sorted(path.glob("*.npy"))}
        read = lambda key: load_npy(arrays[key])  # noqa: E731
        names, close = list(arrays), (lambda: None)
    else:
        names, read, close = open_npz(path)
    try:
        if "x_train" not in names or "y_train" not in names:
            raise UserError(f"{path} needs arrays x_train and y_train (Keras's names); it has {names}")
        for s in ("val", "test"):
            if (f"x_{s}" in names) != (f"y_{s}" in names):
                have, lack = (f"x_{s}", f"y_{s}") if f"x_{s}" in names else (f"y_{s}", f"x_{s}")
                raise UserError(f"{path} has {have} but no {lack}; give both (or neither)")
        xs, ys, how = {}, {}, {}
        for s in ("train", "val", "test"):
            if f"x_{s}" in names:
                xs[s], how[s] = _images(read(f"x_{s}"), f"x_{s} in {path}", layout)
                ys[s] = _labels(read(f"y_{s}"), f"y_{s} in {path}", len(xs[s]), f"x_{s}")
    finally:
        close()
    ref = xs["train"]
    for s, x in xs.items():
        if x.shape[1:] != ref.shape[1:]:
            raise UserError(f"x_{s} in {path} holds images of shape {x.shape[1:]} but x_train's are "
                            f"{ref.shape[1:]}; every split needs the same image shape")
        if (x.dtype == np.uint8) != (ref.dtype == np.uint8):
            raise UserError(f"x_{s} in {path} is {x.dtype} but x_train is {ref.dtype}; save every split "
                            f"in the same units (uint8 0..255, or floats)")
    k = _check_classes(ys, path)
    splits = {s: Split(torch.from_numpy(np.ascontiguousarray(xs[s])), torch.from_numpy(ys[s].astype(np.int64)))
              for s in xs}
    uint8 = ref.dtype == np.uint8
    return Dataset(path.stem, [str(i) for i in range(k)], splits["train"], splits.get("val"),
                   splits.get("test"), 255.0 if uint8 else 1.0, description=f"arrays {path}",
                   meta={"path": str(path), "layout": how["train"]})
