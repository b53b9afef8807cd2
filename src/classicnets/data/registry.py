"""Data set registry: name -> loader, with what `classicnets datasets` shows."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UserError, unknown_name
from .core import Dataset


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    loader: Callable[..., Dataset]
    description: str
    classes: int
    input_shape: tuple[int, ...]       # (C, H, W)
    splits: str                        # e.g. "train 1,257 / val 180 / test 360"
    license: str
    citation: str
    needs_download: bool = False


_DATASETS: dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    if info.name in _DATASETS:
        raise ValueError(f"data set {info.name!r} is registered twice")
    _DATASETS[info.name] = info
    return info


def _ensure_loaded() -> None:
    from . import cifar, digits, idx, imdb, sequences  # noqa: F401  (importing a module registers its data sets)


def list_datasets() -> list[DatasetInfo]:
    _ensure_loaded()
    return [_DATASETS[k] for k in sorted(_DATASETS)]


def dataset_info(name: str) -> DatasetInfo:
    _ensure_loaded()
    try:
        return _DATASETS[name]
    except KeyError:
        raise unknown_name("data set", name, _DATASETS) from None


def load_dataset(name: str, data_dir: str | None = None, **kwargs) -> Dataset:
    """Load a registered data set by name, e.g. `load_dataset("digits")`, or the user's own: an
    image folder (one sub-folder per class), a .npz file, or a folder of x_train.npy, y_train.npy...
    (see `data.user`). `data_dir` holds files
    the user already has, for data sets that download."""
    from pathlib import Path
    if name not in _DATASETS and (Path(name).is_dir() or name.endswith(".npz")):
        from .user import load_arrays, load_image_folder
        if Path(name).is_dir() and not (Path(name) / "x_train.npy").exists():
            return load_image_folder(name, **kwargs)
        if kwargs:
            raise UserError(f"arrays take no data set options; got {', '.join(kwargs)}")
        return load_arrays(name)
    info = dataset_info(name)
    if data_dir is not None:
        if not info.needs_download:
            raise UserError(f"data set {name!r} is bundled and takes no --data-dir")
        kwargs["data_dir"] = data_dir
    return info.loader(**kwargs)
