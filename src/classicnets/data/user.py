"""The user's own data: image folders (one sub-folder per class) and .npz arrays.

Image folders follow the course's cats-vs-dogs layout: `DIR/<class>/*.jpg`, or split folders
`DIR/train/<class>/`, `DIR/validation/<class>/` (or `val/`), `DIR/test/<class>/`. Images are
decoded once, converted to RGB, resized to `size` x `size` and cached as uint8 arrays in the data
cache, keyed by the folder's path, file names, sizes and times. Files that are not readable images
are skipped; `Dataset.meta["skipped"]` lists them.

.npz arrays use Keras's names: `x_train`, `y_train`, optional `x_val`/`y_val` and `x_test`/`y_test`;
images as (N, H, W), (N, H, W, C) or (N, C, H, W); uint8 (0..255) or floats (used as they are).
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..fileio import write_bytes
from .core import Dataset, Split
from .download import data_home

SPLITS = {"train": "train", "validation": "val", "val": "val", "test": "test"}


def _class_files(root: Path) -> dict[str, list[Path]]:
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return {c.name: sorted(f for f in c.rglob("*") if f.is_file() and not f.name.startswith(".")) for c in classes}


def _decode(files: dict[str, list[Path]], classes: list[str], size: int, skipped: list[str]):
    from PIL import Image, UnidentifiedImageError

    xs, ys = [], []
    for label, c in enumerate(classes):
        for f in files.get(c, []):
            try:
                with Image.open(f) as img:
                    img = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
                    xs.append(np.asarray(img, np.uint8).transpose(2, 0, 1))  # (3, size, size)
                    ys.append(label)
            except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
                skipped.append(str(f))
    x = np.stack(xs) if xs else np.zeros((0, 3, size, size), np.uint8)
    return x, np.array(ys, np.int64)


def load_image_folder(path: str | Path, size: int = 64) -> Dataset:
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"image folder {root} does not exist")
    split_dirs = {SPLITS[p.name]: p for p in root.iterdir() if p.is_dir() and p.name in SPLITS}
    if "train" not in split_dirs:
        split_dirs = {"train": root}
    files = {s: _class_files(d) for s, d in split_dirs.items()}
    classes = sorted(files["train"])
    if len(classes) < 2:
        raise UserError(f"{split_dirs['train']} needs one sub-folder per class (at least two); found {classes}")
    key = hashlib.sha256(repr((str(root.resolve()), size, sorted(
        (str(f), f.stat().st_size, f.stat().st_mtime_ns) for fs in files.values() for l in fs.values() for f in l
    ))).encode()).hexdigest()[:16]
    cache = data_home() / "folders" / f"{root.name}-{key}.npz"
    arrays: dict[str, np.ndarray] = {}
    skipped: list[str] = []
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        skipped = [str(s) for s in arrays.pop("skipped", np.array([], dtype=str))]
    else:
        for s in files:
            arrays[f"x_{s}"], arrays[f"y_{s}"] = _decode(files[s], classes, size, skipped)
        buf = io.BytesIO()
        np.savez(buf, skipped=np.array(skipped, dtype=str), **arrays)
        write_bytes(cache, buf.getvalue())
    if not len(arrays["y_train"]):
        raise UserError(f"no readable images under {split_dirs['train']}")
    splits = {s: Split(torch.from_numpy(arrays[f"x_{s}"]), torch.from_numpy(arrays[f"y_{s}"]))
              for s in files if len(arrays[f"y_{s}"])}
    return Dataset(root.name, classes, splits["train"], splits.get("val"), splits.get("test"), 255.0,
                        description=f"image folder {root}", meta={"skipped": skipped, "path": str(root)})


def _nchw(a: np.ndarray, name: str) -> np.ndarray:
    if a.ndim == 3:
        return a[:, None]
    if a.ndim == 4:
        return a if a.shape[1] in (1, 3) and a.shape[-1] not in (1, 3) else a.transpose(0, 3, 1, 2)
    raise UserError(f"{name} has shape {a.shape}; images must be (N, H, W), (N, H, W, C) or (N, C, H, W)")


def load_arrays(path: str | Path) -> Dataset:
    """Arrays named as Keras's (x_train, y_train, optional x_val/y_val, x_test/y_test): in one .npz
    file, or as .npy files of those names in a folder (what `np.save` leaves)."""
    path = Path(path)
    try:
        if path.is_dir():
            arrays = {f.stem: f for f in sorted(path.glob("*.npy"))}
            read = lambda key: np.load(arrays[key], allow_pickle=False)  # noqa: E731
            names, close = list(arrays), (lambda: None)
        else:
            z = np.load(path, allow_pickle=False)
            read, names, close = z.__getitem__, list(z.files), z.close
    except FileNotFoundError:
        raise UserError(f"array file {path} does not exist") from None
    except (ValueError, OSError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    try:
        if "x_train" not in names or "y_train" not in names:
            raise UserError(f"{path} needs arrays x_train and y_train (Keras's names); it has {names}")
        splits = {}
        for s in ("train", "val", "test"):
            if f"x_{s}" in names:
                x, y = _nchw(read(f"x_{s}"), f"{path}:x_{s}"), read(f"y_{s}").reshape(-1)
                splits[s] = Split(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64)))
    except (ValueError, OSError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    finally:
        close()
    uint8 = splits["train"].x.dtype == torch.uint8
    n = int(max(int(s.y.max()) for s in splits.values())) + 1
    return Dataset(path.stem, [str(i) for i in range(n)], splits["train"], splits.get("val"),
                        splits.get("test"), 255.0 if uint8 else 1.0, description=f"arrays {path}",
                        meta={"path": str(path)})
