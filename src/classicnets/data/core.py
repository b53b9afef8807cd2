"""Data held as compact tensors (uint8 images, int32 token ids), batched on the training device.

A data set is loaded once; batches are gathered by index from tensors already on the device and
converted there (images normalised to float, token ids widened to int64), so no per-example Python
runs in the training loop (airbench's `CifarLoader` pattern).

Three kinds of input, told apart by the shape and dtype of `Split.x`:
- images (N, C, H, W), uint8 (or float already scaled), normalised per channel;
- token ids (N, T), integers, fed to an embedding as they are;
- float sequences (N, T, F), e.g. the adding problem's (value, marker) pairs, fed as they are.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from ..errors import UserError

Task = Literal["multiclass", "binary", "regression"]


@dataclass
class Split:
    """One split of a data set: inputs and targets."""

    x: torch.Tensor  # (N, C, H, W) images, (N, T) token ids or (N, T, F) float sequences
    y: torch.Tensor  # (N,) class indices or 0/1 labels; (N, T) per-step classes; float targets for regression

    def __post_init__(self) -> None:
        if self.x.ndim not in (2, 3, 4):
            raise UserError(f"inputs must be images (N, C, H, W), token ids (N, T) or sequences "
                            f"(N, T, F); got shape {tuple(self.x.shape)}")
        if len(self.x) != len(self.y):
            raise UserError(f"{len(self.x)} inputs but {len(self.y)} labels")

    @property
    def kind(self) -> Literal["image", "tokens", "sequence"]:
        if self.x.ndim == 4:
            return "image"
        return "tokens" if self.x.ndim == 2 and not self.x.is_floating_point() else "sequence"

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: torch.Tensor | np.ndarray) -> Split:
        index = torch.as_tensor(index, device=self.x.device)
        return Split(self.x[index], self.y[index])

    def hold_out(self, fraction: float, mode: Literal["stratified", "last"], seed: int) -> tuple[Split, Split]:
        """(train, validation): `fraction` held out class by class, stratified and seeded, or the last
        fraction of the arrays before any shuffling, as Keras's `validation_split` takes it."""
        if mode == "last":
            split_at = int(len(self) * (1.0 - fraction))  # Keras: x[:split_at], x[split_at:]
            if split_at < 1 or split_at >= len(self):
                raise UserError(f"--val-split {fraction} leaves no examples on one side of {len(self)}")
            index = torch.arange(len(self))
            return self.subset(index[:split_at]), self.subset(index[split_at:])
        keep, held = stratified_split(self.y, fraction, seed)
        return self.subset(keep), self.subset(held)

    def __repr__(self) -> str:  # the dataclass's would print every value of x and y
        def typed(t: torch.Tensor) -> str:  # "(1, 8, 8) uint8", or "int64" for one value per example
            dtype = str(t.dtype).removeprefix("torch.")
            return f"{tuple(t.shape[1:])} {dtype}" if t.ndim > 1 else dtype
        where = "" if self.x.device.type == "cpu" else f", on {self.x.device}"
        return f"Split({len(self):,} examples, x {typed(self.x)}, y {typed(self.y)}{where})"


@dataclass
class Normalization:
    """x -> (x / max_value - mean) / std, per channel (or per pixel); fitted on the training split only."""

    max_value: float                   # raw value of a full-intensity pixel (255 for 8-bit images)
    mean: list[float]                  # per channel, in [0, 1] units (per pixel when `shape` is set)
    std: list[float]                   # per channel, in [0, 1] units (per pixel when `shape` is set)
    shape: list[int] | None = None     # (C, H, W) when mean and std are given per pixel

    @classmethod
    def fit(cls, x: torch.Tensor, max_value: float) -> Normalization:
        xf = x.double() / max_value
        mean = xf.mean(dim=(0, 2, 3))
        std = xf.std(dim=(0, 2, 3)).clamp_min(1e-6)
        return cls(float(max_value), mean.tolist(), std.tolist())

    @classmethod
    def identity(cls, channels: int) -> Normalization:
        return cls(1.0, [0.0] * channels, [1.0] * channels)

    @classmethod
    def scale(cls, channels: int, max_value: float) -> Normalization:
        """x -> x / max_value, into [0, 1] (Keras's `rescale=1./255`)."""
        return cls(float(max_value), [0.0] * channels, [1.0] * channels)

    @classmethod
    def pixelwise(cls, x: torch.Tensor, max_value: float) -> Normalization:
        """The ResNet chapter's: x / 255, minus the global mean, divided by each pixel's std over
        the training images (`x - x.mean()`, then `x / x.std(axis=0)`)."""
        xf = x.double() / max_value                                 # (N, C, H, W)
        mean = float(xf.mean())
        std = (xf - mean).std(dim=0, unbiased=False).clamp_min(1e-6)  # (C, H, W), numpy's ddof=0
        return cls(float(max_value), [mean] * std.numel(), std.flatten().tolist(), list(std.shape))

    @classmethod
    def for_images(cls, x: torch.Tensor, max_value: float,
                   mode: Literal["standardize", "scale", "max", "pixel"] = "standardize") -> Normalization:
        """From training images `x`: per-channel mean/std ('standardize'), x / max_value ('scale'),
        x / the largest value in `x` ('max', the CIFAR chapter's `X /= np.max(X_train)`), or the
        global mean and per-pixel std ('pixel')."""
        if mode == "scale":
            return cls.scale(x.shape[1], max_value)
        if mode == "max":
            return cls.scale(x.shape[1], max(float(x.max()), 1e-12) if x.numel() else max_value)
        if mode == "pixel":
            return cls.pixelwise(x, max_value)
        return cls.fit(x, max_value)

    def to_dict(self) -> dict:
        d = {"max_value": self.max_value, "mean": self.mean, "std": self.std}
        return d if self.shape is None else {**d, "shape": self.shape}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        shape = [int(v) for v in d["shape"]] if d.get("shape") is not None else None
        norm = cls(float(d["max_value"]), [float(v) for v in d["mean"]], [float(v) for v in d["std"]], shape)
        if shape is not None and not (len(shape) == 3 and math.prod(shape) == len(norm.mean) == len(norm.std)):
            raise ValueError("per-pixel normalisation does not match its shape")
        return norm

    def affine(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale, shift), each (1, C, 1, 1) (or (1, C, H, W) per pixel), so that normalised = x * scale + shift."""
        view = (1, *self.shape) if self.shape is not None else (1, -1, 1, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(view)
        std = torch.tensor(self.std, dtype=torch.float32, device=device).view(view)
        scale = 1.0 / (std * self.max_value)
        return scale, -mean / std

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        scale, shift = self.affine(x.device)
        return torch.addcmul(shift, x.float(), scale)


@dataclass
class Dataset:
    """A data set: named classes (none for regression), its task, and train / validation / test splits.

    Text data sets also carry their `vocab` (a `data.text.Vocabulary` with the encoding settings),
    so a trained model can read new text the way it read its training data.
    """

    name: str
    classes: list[str]
    train: Split
    val: Split | None = None
    test: Split | None = None
    max_value: float = 255.0           # raw value of a full-intensity pixel (images only)
    description: str = ""
    citation: str = ""
    meta: dict = field(default_factory=dict)
    task: Task = "multiclass"          # multiclass: softmax over classes; binary: one logit; regression: MSE
    vocab: object | None = None        # data.text.Vocabulary for token-id inputs

    @property
    def kind(self) -> Literal["image", "tokens", "sequence"]:
        return self.train.kind

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])  # (C, H, W), (T,) or (T, F)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_outputs(self) -> int:
        """Width of the model's output layer: one logit for binary tasks, one per class otherwise."""
        if self.task == "binary":
            return 1
        if self.task == "regression":
            return math.prod(self.train.y.shape[1:]) or 1
        return self.num_classes

    def normalization(self, mode: Literal["standardize", "scale", "max", "pixel"] = "standardize"
                      ) -> Normalization | None:
        """Input normalisation from the training split (see `Normalization.for_images` for the modes).
        None for token ids and sequences, which are fed as they are."""
        return Normalization.for_images(self.train.x, self.max_value, mode) if self.kind == "image" else None

    def test_normalization(self, train: Normalization | None, mode: Literal["standardize", "scale", "max", "pixel"],
                           test_mode: Literal["train", "own", "raw"]) -> Normalization | None:
        """The test split's normalisation: the training split's (`train`; test_mode 'train'), the test
        split's own statistics computed as `mode` computes the training split's ('own'), or none, raw
        values ('raw'). The last two read the course's code literally (`TrainConfig.test_normalize`)."""
        if test_mode == "train" or self.kind != "image" or self.test is None:
            return train
        if test_mode == "own":
            return Normalization.for_images(self.test.x, self.max_value, mode)
        return Normalization.identity(self.test.x.shape[1])

    def split(self, name: str) -> Split:
        s = getattr(self, name, None) if name in ("train", "val", "test") else None
        if s is None:
            have = [n for n in ("train", "val", "test") if getattr(self, n) is not None]
            raise UserError(f"data set {self.name!r} has no {name!r} split; it has {', '.join(have)}")
        return s

    def __repr__(self) -> str:  # the dataclass's would print every value of every split
        return dataset_repr(self)


ImageDataset = Dataset  # the name before sequence data sets existed

_KIND_WORDS = {"image": "images", "tokens": "token ids", "sequence": "sequences", "detection": "images with boxes"}


def _names(classes: list, width: int = 80, limit: int = 10) -> str:
    """The first class names that fit in about `width` characters, then 'and N more'."""
    shown: list[str] = []
    for c in classes[:limit]:
        if shown and len(", ".join([*shown, str(c)])) > width:
            break
        shown.append(str(c) if len(str(c)) <= width else str(c)[:width - 3] + "...")
    more = len(classes) - len(shown)
    return ", ".join(shown) + (f" and {more:,} more" if more else "")


def dataset_repr(ds) -> str:
    """A short description of a data set, as torchvision's datasets print: name, classes, input
    shape and pixel range, split sizes, classes, where it came from (description, path), and notes
    from `meta` (layout of the user's arrays, skipped files). Duck-typed on `Dataset`'s fields, so
    detection's data set can print the same way."""
    shape = tuple(ds.input_shape)
    task = getattr(ds, "task", "multiclass")
    head = f"{len(ds.classes):,} classes" if ds.classes else task
    if task == "binary":
        head += " (binary)"
    head += f", {_KIND_WORDS.get(ds.kind, ds.kind)} {shape}"
    if ds.kind in ("image", "detection"):
        head += f", pixels 0..{ds.max_value:g}"
    splits = " / ".join(f"{n} {len(s):,}" for n in ("train", "val", "test") if (s := getattr(ds, n)) is not None)
    lines = [f"Dataset {ds.name}: {head}", f"splits: {splits}"]
    if ds.classes:
        lines.append(f"classes: {_names(list(ds.classes))}")
    source = ds.description
    path = ds.meta.get("path")
    if path and str(path) not in source:
        source = f"{source} ({path})" if source else str(path)
    if source:
        lines.append(f"source: {source}")
    if ds.meta.get("layout"):
        lines.append(f"layout: {ds.meta['layout']}")
    if ds.meta.get("skipped"):
        n = len(ds.meta["skipped"])
        lines.append(f"skipped: {n:,} file{'s' * (n != 1)} that {'are' if n != 1 else 'is'} not a readable image")
    return "\n    ".join(lines)


def percent(fraction: float) -> str:
    """`fraction` as a percentage with the digits it needs: 10%, 12.3%, 99.9%, 0.1%; never a
    rounded 0% or 100% for a fraction strictly between 0 and 1."""
    for digits in range(3, 16):
        text = f"{fraction * 100:.{digits}g}"
        if not 0 < fraction < 1 or 0 < float(text) < 100:
            break
    return text + "%"


def _some(values: np.ndarray, limit: int = 5) -> str:
    """'0, 1, 2, 3, 4 and 9,995 more' for label `values`."""
    shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values[:limit].tolist())
    return shown + (f" and {len(values) - limit:,} more" if len(values) > limit else "")


def shard(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rows [lo, hi) of a batch of `n` that process `rank` of `world` takes (torch.tensor_split's parts)."""
    q, r = divmod(n, world)
    lo = rank * q + min(rank, r)
    return lo, lo + q + (rank < r)


def stratified_split(y: torch.Tensor, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out) with `fraction` of each class held out, reproducibly for `seed`.
    A split that cannot be drawn is one short sentence: classes with a single example (counted, a
    few named), fewer held-out or kept examples than classes, nothing left to train on."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < fraction < 1.0:
        raise UserError(f"a validation split must be between 0 and 1 (exclusive); got {fraction}")
    idx = np.arange(len(y))
    labels = y.cpu().numpy()
    if labels.ndim > 1 or np.issubdtype(labels.dtype, np.floating) and len(np.unique(labels)) > 50:
        labels = None  # per-step or continuous targets: a plain seeded random split
    n = len(idx)
    held_n = math.ceil(fraction * n)          # as scikit-learn rounds the held-out part
    what = f"cannot hold out {percent(fraction)} of {n:,} examples"
    if held_n >= n:
        raise UserError(f"{what} for validation: that leaves none to train on; hold out less")
    if labels is not None:
        classes, counts = np.unique(labels, return_counts=True)
        k, single = len(classes), classes[counts < 2]
        what += " class by class"
        if len(single):
            raise UserError(f"{what}: {len(single):,} of the {k:,} classes have a single example ({_some(single)}), "
                            f"and each class needs one to train on and one to validate; give them more examples, "
                            f"or a validation split of your own")
        if held_n < k or n - held_n < k:
            part, side = (held_n, "held out") if held_n < k else (n - held_n, "kept to train on")
            raise UserError(f"{what}: that is {part:,} example{'s' * (part != 1)} {side} for {k:,} classes, "
                            f"and each class needs at least one")
    try:
        keep, held = train_test_split(idx, test_size=fraction, stratify=labels, random_state=seed)
    except ValueError as e:
        first = str(e).split(". ")[0][:200]
        raise UserError(f"{what}: {first}") from None
    return np.sort(keep), np.sort(held)


def option_int(what: str, name: str, value, low: int, high: int | None = None) -> int:
    """`value` of option `name` as an int in low..high, else a `UserError` naming the option and
    `what` it belongs to (e.g. "data set 'adding'"). Whole floats (100.0) are accepted."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UserError(f"option {name} of {what} must be a whole number; got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f"at least {low}" if high is None else f"between {low} and {high}"
        raise UserError(f"option {name} of {what} must be {bound}; got {value}")
    return value


def count_nonfinite(a: torch.Tensor | np.ndarray) -> int:
    """Number of NaN and infinite values in `a` (0 for integer types), a slice at a time so the
    check needs little memory beyond the data."""
    step = 1 << 24
    if isinstance(a, np.ndarray):  # any byte order, float16 included
        if a.dtype.kind not in "fc":
            return 0
        flat = a.reshape(-1)
        return sum(int(np.count_nonzero(~np.isfinite(flat[i:i + step]))) for i in range(0, len(flat), step))
    if not (a.is_floating_point() or a.is_complex()):
        return 0
    flat = a.reshape(-1)
    return sum(int((~torch.isfinite(flat[i:i + step])).sum()) for i in range(0, len(flat), step))


def check_finite_array(a: torch.Tensor | np.ndarray, name: str, fix: str = "replace them or drop those examples") -> None:
    """`UserError` "NAME has N non-finite values (NaN or inf); FIX" if `a` holds any."""
    n = count_nonfinite(a)
    if n:
        raise UserError(f"{name} has {n:,} non-finite value{'s' * (n != 1)} (NaN or inf); {fix}")


def check_finite(split: Split, what: str) -> None:
    """`UserError` if the inputs or float targets of `split` hold NaN or inf; `what` names the split
    in the message ("train" -> "x of the train split has 3 non-finite values (NaN or inf); ...").
    Integer data (uint8 images, token ids, class labels) is not scanned, so this is free for them."""
    check_finite_array(split.x, f"x of the {what} split")
    check_finite_array(split.y, f"y of the {what} split")


class BatchLoader:
    """Yields (inputs, targets) batches from tensors held on `device`: images normalised to float,
    token ids as int64, float sequences as they are (`normalization` None).

    Shuffling and augmentation draw from `generator`, a generator on `device`, so a run is
    reproducible and its data order can be checkpointed and resumed.
    """

    def __init__(self, split: Split, batch_size: int, *, device: torch.device,
                 normalization: Normalization | None, shuffle: bool = False,
                 generator: torch.Generator | None = None,
                 augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None):
        if batch_size < 1:
            raise UserError(f"batch size must be at least 1; got {batch_size}")
        self.x = split.x.to(device)
        self.y = split.y.to(device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.augment = augment
        self.scale, self.shift = normalization.affine(device) if normalization is not None else (None, None)
        self.convert = self._normalise if normalization is not None else (
            (lambda xb: xb.long()) if split.kind == "tokens" else (lambda xb: xb.float()))

    def _normalise(self, xb: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, xb.float(), self.scale)  # (batch, C, H, W) float32

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.batches(self.draw_order())

    def draw_order(self) -> torch.Tensor | None:
        """An epoch's permutation, drawn from the generator (None without shuffling)."""
        if not self.shuffle:
            return None
        return torch.randperm(len(self.y), generator=self.generator, device=self.y.device)

    def batches(self, order: torch.Tensor | None, start: int = 0,
                part: tuple[int, int] | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of an epoch in `order`, from batch `start` on (a resumed epoch). With
        `part` = (rank, world), each batch's rank-th part of `world` (`shard`);
        augmentation is still drawn for the whole batch, so every example gets the draw it would get
        in one process."""
        n, bs = len(self.y), self.batch_size
        for begin in range(start * bs, n, bs):
            if order is None:
                idx = slice(begin, begin + bs)
            else:
                idx = order[begin:begin + bs]
            if part is not None:
                lo, hi = shard(min(bs, n - begin), *part)
                if self.augment is None:  # nothing drawn per example: gather this part only
                    idx = slice(begin + lo, begin + hi) if order is None else idx[lo:hi]
                    lo, hi = 0, hi - lo
            xb, yb = self.x[idx], self.y[idx]
            if self.augment is not None:
                xb = self.augment(xb, self.generator)
            if part is not None:
                xb, yb = xb[lo:hi], yb[lo:hi]
            yield self.convert(xb), yb
