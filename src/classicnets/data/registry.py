"""Data set registry: name -> loader, with what `classicnets datasets` shows.

Torch-free metadata, one entry per data set; each loader is imported by its "module:function" name
(relative to the `classicnets` package) only when the data set is loaded, as the studies' registry
does, so the registry imports none of its loaders (detection's data sets are loaded from
`classicnets.detection` the same way). `register_dataset` adds a data set of your own, with a
loader given as a function or a "package.module:function" name.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import numbers
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UserError, unknown_name


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    loader: str | Callable        # "module:function" (".data.digits:load_digits", relative to classicnets), or the function
    description: str
    classes: int
    input_shape: tuple[int, ...]       # (C, H, W)
    splits: str                        # e.g. "train 1,257 / val 180 / test 360"
    license: str
    citation: str
    needs_download: bool = False

    def load(self) -> Callable:
        """The loader function (imports its module, and torch with it)."""
        if callable(self.loader):
            return self.loader
        module, _, function = self.loader.partition(":")
        return getattr(importlib.import_module(module, "classicnets" if module.startswith(".") else None), function)


_DATASETS: dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    if info.name in _DATASETS:
        raise ValueError(f"data set {info.name!r} is registered twice")
    _DATASETS[info.name] = info
    return info


def list_datasets() -> list[DatasetInfo]:
    return [_DATASETS[k] for k in sorted(_DATASETS)]


def dataset_info(name: str) -> DatasetInfo:
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


def check_data_name(name: str) -> None:
    """The `UserError` `load_dataset` gives for `name` itself (empty, unknown, a path that does not exist
    or is not data), without loading anything: for checks made before the work starts."""
    from pathlib import Path
    if not name.strip():
        raise unknown_name("data set", name, _DATASETS)
    if name in _DATASETS or Path(name).is_dir() or (name.endswith(".npz") and Path(name).is_file()):
        return
    if _looks_like_path(name) or Path(name).exists():
        what = "is not data that classicnets reads" if Path(name).exists() else "does not exist"
        raise UserError(f"{name} {what}; give an image folder, a .npz file, a folder of x_train.npy, "
                        f"y_train.npy... or a data set name ({', '.join(sorted(_DATASETS))})")
    dataset_info(name)


def load_dataset(name: str, data_dir: str | None = None, **kwargs):
    """Load a registered data set by name, e.g. `load_dataset("digits")`, or the user's own: an
    image folder (one sub-folder per class), a .npz file, or a folder of x_train.npy, y_train.npy...
    (see `data.user`). `data_dir` holds files the user already has, for data sets that download.
    Options (`kwargs`, the CLI's `--data-arg KEY=VALUE`) are checked against the loader's parameters
    before it runs: an unknown name or a value of the wrong type is a `UserError`."""
    from pathlib import Path
    if not name.strip():  # not the current directory as an image folder
        raise unknown_name("data set", name, _DATASETS)
    if name not in _DATASETS and (Path(name).is_dir() or name.endswith(".npz")):
        from .user import load_arrays, load_image_folder
        if data_dir is not None:
            raise UserError(f"--data-dir is for data sets that download; {name} is your own data and takes none")
        if Path(name).is_dir() and not (Path(name) / "x_train.npy").exists():
            return load_image_folder(name, **check_options(load_image_folder, kwargs, f"image folder {name}",
                                                           skip=("path",)))
        return load_arrays(name, **check_options(load_arrays, kwargs, f"arrays {name}", skip=("path",)))
    check_data_name(name)
    info = dataset_info(name)
    loader = info.load()
    kwargs = check_options(loader, kwargs, f"data set {name!r}")
    if data_dir is not None:
        if not info.needs_download:
            raise UserError(f"data set {name!r} is bundled and takes no --data-dir")
        kwargs["data_dir"] = data_dir
    return loader(**kwargs)


# -- the data sets ---------------------------------------------------------------------------------
register_dataset(DatasetInfo(
    name="adding", loader=".data.sequences:load_adding",
    description="generated adding problem: sum the two marked values of a sequence (regression; "
                "options length=50, seed=0; offline)",
    classes=0, input_shape=(50, 2), splits="train 10,000 / val 1,000 / test 1,000 (generated)",
    license="generated", citation="Hochreiter & Schmidhuber 1997, Long Short-Term Memory"))
register_dataset(DatasetInfo(
    name="cats_vs_dogs", loader=".data.cats_dogs:load_cats_vs_dogs",
    description="cats vs dogs, the course's transfer-learning set: 2,000 training and 1,000 validation JPEGs",
    classes=2, input_shape=(3, 160, 160), splits="train 2,000 / val 1,000",
    license="Kaggle Dogs vs. Cats (Microsoft Asirra) research use",
    citation="Elson et al. 2007, Asirra; Chollet 2017, Deep Learning with Python, 5.2", needs_download=True))
register_dataset(DatasetInfo(
    name="cifar10", loader=".data.cifar:load_cifar10", description="32x32 colour images in 10 classes (binary archive, 162 MiB)",
    classes=10, input_shape=(3, 32, 32), splits="train 50,000 / test 10,000",
    license="free for research (see the dataset page)", citation="Krizhevsky 2009, Learning multiple layers of features from tiny images", needs_download=True))
register_dataset(DatasetInfo(
    name="cifar100", loader=".data.cifar:load_cifar100",
    description="32x32 colour images in 100 fine classes (binary archive, 161 MiB)", classes=100,
    input_shape=(3, 32, 32), splits="train 50,000 / test 10,000",
    license="free for research (see the dataset page)", citation="Krizhevsky 2009, Learning multiple layers of features from tiny images", needs_download=True))
register_dataset(DatasetInfo(
    name="copy", loader=".data.sequences:load_copy",
    description="generated copy-memory task: repeat 10 symbols after a delay (per-step classes; "
                "options delay=50, seed=0; offline)",
    classes=10, input_shape=(70,), splits="train 10,000 / val 1,000 / test 1,000 (generated)",
    license="generated", citation="Arjovsky, Shah & Bengio 2016, Unitary Evolution RNNs (task form)"))
register_dataset(DatasetInfo(
    name="digit_boxes", loader=".detection.data:load_digit_boxes",
    description="detection: 64x64 canvases with 1-3 of scikit-learn's digits at 12-32 px; boxes, labels and masks",
    classes=10, input_shape=(1, 64, 64), splits="train 2,000 / val 250 / test 500 (generated, seeded)",
    license="CC BY 4.0 (the digits: UCI Machine Learning Repository)",
    citation="generated from Alpaydin & Kaynak 1998, Optical Recognition of Handwritten Digits, UCI ML Repository"))
register_dataset(DatasetInfo(
    name="digits", loader=".data.digits:load_digits",
    description="scikit-learn's bundled 8x8 handwritten digits (offline default)",
    classes=10, input_shape=(1, 8, 8), splits="train 1,257 / val 180 / test 360 (fixed, stratified)",
    license="CC BY 4.0 (UCI Machine Learning Repository)",
    citation="Alpaydin & Kaynak 1998, Optical Recognition of Handwritten Digits, UCI ML Repository"))
register_dataset(DatasetInfo(
    name="fashion-mnist", loader=".data.idx:load_fashion_mnist",
    description="Zalando clothing images, 28x28 grayscale (IDX files, 29 MiB)", classes=10,
    input_shape=(1, 28, 28), splits="train 60,000 / test 10,000", license="MIT",
    citation="Xiao, Rasul & Vollgraf 2017, Fashion-MNIST", needs_download=True))
register_dataset(DatasetInfo(
    name="imdb", loader=".data.imdb:load_imdb",
    description="movie reviews, positive or negative, as word ids (top 10,000 words, padded to 500); "
                "from aclImdb_v1.tar.gz (80 MiB)",
    classes=2, input_shape=(500,), splits="train 25,000 / test 25,000",
    license="free for research (see the dataset page)",
    citation="Maas et al. 2011, Learning Word Vectors for Sentiment Analysis, ACL", needs_download=True))
register_dataset(DatasetInfo(
    name="mnist", loader=".data.idx:load_mnist", description="handwritten digits, 28x28 grayscale (IDX files, 11 MiB)",
    classes=10, input_shape=(1, 28, 28), splits="train 60,000 / test 10,000",
    license="CC BY-SA 3.0 (per the torchvision/Keras mirrors)",
    citation="LeCun et al. 1998, Gradient-based learning applied to document recognition",
    needs_download=True))
register_dataset(DatasetInfo(
    name="random_images", loader=".data.random_images:load_random_images",
    description="the course's random data for the small VGG-like convnet: uniform noise images, random labels",
    classes=10, input_shape=(3, 100, 100), splits="train 100 / test 20 (generated, seeded)",
    license="generated", citation="Keras documentation, 'VGG-like convnet' example (the course's Large ConvNets)"))
register_dataset(DatasetInfo(
    name="voc2007", loader=".detection.annotations:load_voc2007_dataset",
    description="detection: PASCAL VOC 2007, 20 object classes, images resized to size x size (default 224); "
                "boxes and difficult flags",
    classes=20, input_shape=(3, 224, 224),
    splits="train 2,501 / val 2,510 / test 4,952 images (train_on=trainval: 5,011 / none / 4,952)",
    license="images: Flickr terms of use; annotations: the PASCAL VOC project, for research",
    citation="Everingham et al. 2010, The PASCAL Visual Object Classes (VOC) Challenge, IJCV 88(2)",
    needs_download=True))
