"""MNIST and Fashion-MNIST from their IDX files (LeCun et al. 1998; Xiao, Rasul & Vollgraf 2017).

IDX format: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, each
dimension as a big-endian 32-bit integer, then the values. The files come gzipped.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .core import Dataset, Split
from .download import RemoteFile, fetch
from .registry import DatasetInfo, dataset_info
from .sources import FASHION_FILES, MNIST_FILES
from .sources import IDX_NAMES as NAMES

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """The array an IDX file holds (gunzipped bytes)."""
    if len(data) < 4 or data[0] or data[1] or data[2] not in IDX_TYPES:
        raise UserError(f"{name} is not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{name} is truncated (incomplete header)")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_TYPES[data[2]])
    expected = math.prod(dims) * dtype.itemsize  # Python ints: a forged header cannot overflow
    if len(data) - header != expected:
        raise UserError(f"{name} holds {len(data) - header} bytes of values; its header {dims} says {expected}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def read_idx_gz(path: Path) -> np.ndarray:
    try:
        return parse_idx(gzip.decompress(path.read_bytes()), str(path))
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"cannot read {path}: {e}") from None


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot"]


def _load(name: str, files: dict[str, RemoteFile], classes: list[str], info: DatasetInfo,
          data_dir, base_url) -> Dataset:
    arrays = [read_idx_gz(fetch(files[n], name, data_dir=data_dir, base_url=base_url)) for n in NAMES]
    splits = []
    for images, labels in (arrays[:2], arrays[2:]):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise UserError(f"{name}: images {images.shape} and labels {labels.shape} do not pair up")
        splits.append(Split(torch.from_numpy(images.astype(np.uint8)).unsqueeze(1),  # (N, 1, 28, 28)
                            torch.from_numpy(labels.astype(np.int64))))
    return Dataset(name, classes, train=splits[0], test=splits[1], max_value=255.0,
                        description=info.description, citation=info.citation)


def load_mnist(data_dir: str | os.PathLike | None = None, base_url: str | None = None) -> Dataset:
    return _load("mnist", MNIST_FILES, [str(i) for i in range(10)], dataset_info("mnist"), data_dir, base_url)


def load_fashion_mnist(data_dir: str | os.PathLike | None = None, base_url: str | None = None) -> Dataset:
    return _load("fashion-mnist", FASHION_FILES, FASHION_CLASSES, dataset_info("fashion-mnist"), data_dir, base_url)


