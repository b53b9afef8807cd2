"""Data set registry: name -> loader, with what `classicnets datasets` shows."""
from __future__ import annotations

import difflib
import inspect
import numbers
import types
import typing
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
    from . import cats_dogs, cifar, digits, idx, imdb, random_images, sequences  # noqa: F401  (importing a module registers its data sets)
    from ..detection import annotations as _voc, data as _detection_data  # noqa: F401  (voc2007, digit_boxes)


def list_datasets() -> list[DatasetInfo]:
    _ensure_loaded()
    return [_DATASETS[k] for k in sorted(_DATASETS)]


def dataset_info(name: str) -> DatasetInfo:
    _ensure_loaded()
    try:
        return _DATASETS[name]
    except KeyError:
        raise unknown_name("data set", name, _DATASETS) from None


_TYPE_NAMES = {int: "a whole number", float: "a number", str: "text", bool: "true or false", type(None): "null"}


def _accepts(kind, value):
    """(True, value converted) if `value` fits annotation `kind`, else (False, None). Kinds it cannot
    judge (paths, unions of other types) accept anything."""
    if kind is type(None):
        return value is None, None
    if kind is bool:
        return isinstance(value, bool), value
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            return True, int(value)  # 100.0, or 1e2, is the whole number 100
        return isinstance(value, numbers.Integral) and not isinstance(value, bool), value
    if kind is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if kind is str:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return True, str(value)  # --data-arg name=123 arrives as a number
        return isinstance(value, str), value
    if typing.get_origin(kind) is typing.Literal:
        return value in typing.get_args(kind), value
    return True, value


def _describe(kind) -> str | None:
    if typing.get_origin(kind) is typing.Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(kind))
    return _TYPE_NAMES.get(kind)


def check_options(loader: Callable, options: dict, what: str, skip: tuple[str, ...] = ()) -> dict:
    """`options` (from `--data-arg KEY=VALUE`) checked against `loader`'s keyword parameters and
    their annotations (or defaults' types), converted where lossless (100.0 -> 100); `UserError`
    naming an unknown option (with the closest names) or a value of the wrong type. `what` names
    the data set in messages ("data set 'adding'"); `skip` are parameters not open to options.
    Ranges are each loader's to check."""
    sig = inspect.signature(loader)
    try:
        hints = typing.get_type_hints(loader)
    except (NameError, TypeError):
        hints = {}
    params = {n: p for n, p in sig.parameters.items()
              if n not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    out = {}
    for key, value in options.items():
        if key not in params:
            if not params:
                raise UserError(f"{what} takes no options; got {key}={value!r}")
            close = difflib.get_close_matches(key, params, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
            raise UserError(f"{what} has no option {key!r}; {hint}(its options: {', '.join(params)})")
        kind = hints.get(key)
        if kind is None and params[key].default not in (inspect.Parameter.empty, None):
            kind = type(params[key].default)
        kinds = typing.get_args(kind) if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union \
            else (kind,) if kind is not None else ()
        for k in kinds:
            ok, converted = _accepts(k, value)
            if ok:
                out[key] = converted
                break
        else:
            if kinds:
                names = [d for d in map(_describe, kinds) if d]
                raise UserError(f"option {key} of {what} must be {' or '.join(names) or 'another type'}; got {value!r}")
            out[key] = value
    return out


def _looks_like_path(name: str) -> bool:
    return "/" in name or "\\" in name or name.startswith(".") or name.endswith((".npz", ".npy"))


def load_dataset(name: str, data_dir: str | None = None, **kwargs) -> Dataset:
    """Load a registered data set by name, e.g. `load_dataset("digits")`, or the user's own: an
    image folder (one sub-folder per class), a .npz file, or a folder of x_train.npy, y_train.npy...
    (see `data.user`). `data_dir` holds files the user already has, for data sets that download.
    Options (`kwargs`, the CLI's `--data-arg KEY=VALUE`) are checked against the loader's parameters
    before it runs: an unknown name or a value of the wrong type is a `UserError`."""
    from pathlib import Path
    _ensure_loaded()
    if name not in _DATASETS and (Path(name).is_dir() or name.endswith(".npz")):
        from .user import load_arrays, load_image_folder
        if data_dir is not None:
            raise UserError(f"--data-dir is for data sets that download; {name} is your own data and takes none")
        if Path(name).is_dir() and not (Path(name) / "x_train.npy").exists():
            return load_image_folder(name, **check_options(load_image_folder, kwargs, f"image folder {name}",
                                                           skip=("path",)))
        if kwargs:
            raise UserError(f"arrays take no data set options; got {', '.join(kwargs)}")
        return load_arrays(name)
    if name not in _DATASETS and (_looks_like_path(name) or Path(name).exists()):
        what = "is not data that classicnets reads" if Path(name).exists() else "does not exist"
        raise UserError(f"{name} {what}; give an image folder, a .npz file, a folder of x_train.npy, "
                        f"y_train.npy... or a data set name ({', '.join(sorted(_DATASETS))})")
    info = dataset_info(name)
    kwargs = check_options(info.loader, kwargs, f"data set {name!r}")
    if data_dir is not None:
        if not info.needs_download:
            raise UserError(f"data set {name!r} is bundled and takes no --data-dir")
        kwargs["data_dir"] = data_dir
    return info.loader(**kwargs)
