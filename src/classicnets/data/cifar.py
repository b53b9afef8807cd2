"""CIFAR-10 and CIFAR-100 from the binary versions of their archives (no unpickling).

Krizhevsky (2009), "Learning multiple layers of features from tiny images". Each record of a
CIFAR-10 batch is one label byte then 3,072 bytes: the 32x32 red, green and blue planes; CIFAR-100
records start with a coarse and a fine label byte. Archives are extracted with member checks.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from ..errors import UserError
from .core import Dataset, Split
from .download import RemoteFile, data_home, fetch, safe_extract
from .registry import DatasetInfo, dataset_info
from .sources import CIFAR10, CIFAR100

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _whole_records(path, record: int) -> bool:
    """Whether `path` is a file of one or more whole `record`-byte records."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return False
    return os.path.isfile(path) and size > 0 and size % record == 0


def read_batches(paths: list, label_bytes: int, label_index: int, name: str) -> Split:
    """Records of `label_bytes` label bytes then 3x32x32 pixels -> Split (N, 3, 32, 32) uint8, each
    file read straight into the final tensors, so loading holds the data set once plus one file."""
    record = label_bytes + 3072
    bad = [p for p in paths if not _whole_records(p, record)]
    if bad:
        raise UserError(f"{name}: {bad[0]} is not a whole number of {record}-byte records")
    sizes = [os.path.getsize(p) for p in paths]
    n = sum(sizes) // record
    x = torch.empty((n, 3, 32, 32), dtype=torch.uint8)
    y = torch.empty(n, dtype=torch.int64)
    i = 0
    for p, size in zip(paths, sizes):
        try:
            rows = np.fromfile(p, dtype=np.uint8, count=size).reshape(-1, record)
        except (OSError, ValueError) as e:
            raise UserError(f"{name}: cannot read {p}: {e}") from None
        k = len(rows)
        x[i:i + k] = torch.from_numpy(rows[:, label_bytes:].reshape(-1, 3, 32, 32))
        y[i:i + k] = torch.from_numpy(rows[:, label_index].astype(np.int64))
        i += k
    return Split(x, y)


def _load(dataset: str, remote: RemoteFile, folder: str, train: list[str], test: str, label_bytes: int,
          label_index: int, classes: list[str], info: DatasetInfo, data_dir, base_url) -> Dataset:
    archive = fetch(remote, dataset, data_dir=data_dir, base_url=base_url)
    dest = data_home() / dataset / "extracted"
    members = [f"{folder}/{n}" for n in (*train, test)]
    for m in members:
        if (dest / m).is_dir():
            raise UserError(f"{dest / m} is a folder where classicnets extracts a file of the {dataset} "
                            f"archive; move or rename it")
    # extracted from the verified archive: a missing or damaged one (a cut-short copy) is extracted again
    stale = {m for m in members if not _whole_records(dest / m, label_bytes + 3072)}
    if stale:
        safe_extract(archive, dest, stale)
    missing = [m for m in members if not (dest / m).exists()]
    if missing:
        raise UserError(f"archive {archive} lacks {', '.join(missing)}; it is not the {dataset} binary archive")
    paths = lambda names: [dest / folder / n for n in names]  # noqa: E731
    return Dataset(dataset, classes,
                        train=read_batches(paths(train), label_bytes, label_index, dataset),
                        test=read_batches(paths([test]), label_bytes, label_index, dataset),
                        max_value=255.0, description=info.description, citation=info.citation)


def load_cifar10(data_dir: str | os.PathLike | None = None, base_url: str | None = None) -> Dataset:
    return _load("cifar10", CIFAR10, "cifar-10-batches-bin", [f"data_batch_{i}.bin" for i in range(1, 6)],
                 "test_batch.bin", 1, 0, CIFAR10_CLASSES, dataset_info("cifar10"), data_dir, base_url)


def load_cifar100(data_dir: str | os.PathLike | None = None, base_url: str | None = None) -> Dataset:
    return _load("cifar100", CIFAR100, "cifar-100-binary", ["train.bin"], "test.bin", 2, 1,
                 [str(i) for i in range(100)], dataset_info("cifar100"), data_dir, base_url)


