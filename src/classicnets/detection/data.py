"""Detection data held as tensors, and `digit_boxes`: a generated detection data set that needs no download.

How this relates to the classification `data.core.Dataset`: a detection example is an image plus a
variable number of objects, so a split cannot be one `x` and one `y` tensor. `DetectionSplit` keeps
the images as the same uint8 (N, C, H, W) tensor (so `Normalization` applies to them unchanged) and
every object of every image in flat tensors (boxes, labels, masks), one row per object, with
`offsets` marking where each image's objects start. That is a handful of tensors that move to a
device once and are gathered by index, as the classification loader does (STYLE 7); `targets` gives
torchvision's one-dict-per-image form, as views of those tensors. `DetectionDataset` mirrors
`Dataset`'s fields (name, classes, train / val / test, max_value, description, citation, meta,
`split()`, `normalization()`), and says `kind == "detection"` so code written for classification can
tell it apart. The classes list names the objects only; detection models add a background class.

`digit_boxes` (Girshick et al.'s R-CNN task in miniature): 64x64 grayscale canvases, each with 1-3
of scikit-learn's 8x8 handwritten digits (values 0..16, 1,797 of them) upsampled (bilinear) to
12-32 pixels, scaled to 0..255 and pasted at random places without overlapping (a digit that finds
no free place in 20 tries is left out; the first always fits). Each object has its class (the digit,
0-9), its box (the tight box of its ink) and its mask (pixels above a quarter of full ink,
H x W bool), so the same data serves R-CNN, Fast / Faster R-CNN (boxes) and Mask R-CNN (masks).
Each split draws its digits from the same split of the `digits` data set (train 1,257 / val 180 /
test 360 digits), so test canvases hold handwriting never seen in training, and from its own
random stream (seed, split), so changing one split's size leaves the others as they were.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..data.core import Normalization, dataset_repr, option_int
from ..data.registry import dataset_info
from ..errors import UserError


@dataclass
class DetectionSplit:
    """One split of a detection data set: images, and all their objects in flat tensors."""

    images: torch.Tensor          # (N, C, H, W) uint8
    boxes: torch.Tensor           # (K, 4) float32: x1, y1, x2, y2 in pixels (continuous: a box over columns 0..9 is 0..10)
    labels: torch.Tensor          # (K,) int64 class index, 0-based into the data set's classes
    offsets: torch.Tensor         # (N + 1,) int64: image i's objects are rows offsets[i]:offsets[i + 1]
    masks: torch.Tensor | None = None  # (K, H, W) bool: each object's pixels, where the data set has them
    difficult: torch.Tensor | None = None  # (K,) bool: VOC's "difficult" objects, left out of the VOC mAP

    def __post_init__(self) -> None:
        n, k = len(self.images), len(self.boxes)
        if self.images.ndim != 4:
            raise UserError(f"detection images must be (N, C, H, W); got shape {tuple(self.images.shape)}")
        if self.boxes.shape != (k, 4) or self.labels.shape != (k,):
            raise UserError(f"objects need boxes (K, 4) and labels (K,); got {tuple(self.boxes.shape)} and "
                            f"{tuple(self.labels.shape)}")
        if self.offsets.shape != (n + 1,) or int(self.offsets[0]) != 0 or int(self.offsets[-1]) != k \
                or bool((self.offsets[1:] < self.offsets[:-1]).any()):
            raise UserError(f"offsets must rise from 0 to the {k} objects over the {n} images")
        if self.masks is not None and self.masks.shape != (k, *self.images.shape[2:]):
            raise UserError(f"masks must be (K, H, W) = {(k, *self.images.shape[2:])}; got {tuple(self.masks.shape)}")
        if self.difficult is not None and self.difficult.shape != (k,):
            raise UserError(f"difficult flags must be (K,) = ({k},), one per object; got {tuple(self.difficult.shape)}")
        self.check()

    def check(self, num_classes: int | None = None, split: str = "") -> None:
        """`UserError` naming the first image and object whose box is not finite, is empty (x2 <= x1 or
        y2 <= y1) or lies outside its image, or whose label is not a class (0 .. num_classes - 1); `split`
        names the split in the message. Vectorised: one pass over all objects."""
        if not len(self.boxes):
            return
        h, w = self.images.shape[2:]
        b = self.boxes.float()
        x1, y1, x2, y2 = b.unbind(1)
        finite = torch.isfinite(b).all(1)
        problems = [
            (~finite, "has a box with a NaN or infinite coordinate"),
            (finite & ((x2 <= x1) | (y2 <= y1)), "has an empty box: x2 must exceed x1 and y2 exceed y1"),
            (finite & ((x1 < 0) | (y1 < 0) | (x2 > w) | (y2 > h)),
             f"has a box outside its {w}x{h} image (boxes are x1, y1, x2, y2 within 0..{w} and 0..{h})"),
            (self.labels < 0, "has a negative label"),
        ]
        if num_classes is not None:
            problems.append((self.labels >= num_classes,
                             f"has a label outside the {num_classes} class{'es' * (num_classes != 1)} (labels are "
                             f"0..{num_classes - 1})"))
        for bad, what in problems:
            if bool(bad.any()):
                row = int(torch.nonzero(bad)[0])
                image = int(torch.searchsorted(self.offsets, torch.tensor(row, device=self.offsets.device),
                                               right=True)) - 1
                box = ", ".join(f"{v:g}" for v in self.boxes[row].tolist())
                where = f"image {image}" + (f" of the {split} split" if split else "")
                raise UserError(f"{where}, object {row - int(self.offsets[image]) + 1} (box {box}, label "
                                f"{int(self.labels[row])}) {what}")

    @property
    def kind(self) -> Literal["detection"]:
        return "detection"

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:  # the dataclass's would print every pixel
        masks = ", masks" if self.masks is not None else ""
        return f"DetectionSplit({len(self):,} images {tuple(self.images.shape[1:])}, {len(self.boxes):,} objects{masks})"

    @property
    def counts(self) -> torch.Tensor:
        """(N,) number of objects in each image."""
        return self.offsets[1:] - self.offsets[:-1]

    def target(self, i: int) -> dict[str, torch.Tensor]:
        """Image i's objects as torchvision's target dict: boxes, labels (and masks)."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        out = {"boxes": self.boxes[a:b], "labels": self.labels[a:b]}
        if self.masks is not None:
            out["masks"] = self.masks[a:b]
        if self.difficult is not None:
            out["difficult"] = self.difficult[a:b]
        return out

    @property
    def targets(self) -> list[dict[str, torch.Tensor]]:
        return [self.target(i) for i in range(len(self))]

    def subset(self, index: torch.Tensor | np.ndarray | list[int]) -> DetectionSplit:
        """The images at `index`, in that order, with their objects."""
        index = torch.as_tensor(index, dtype=torch.int64, device=self.offsets.device)
        counts = self.counts[index]
        starts = self.offsets[index]
        # rows of the kept objects: each image's run offsets[i] .. offsets[i] + count - 1
        within = torch.arange(int(counts.sum()), device=index.device) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts)
        rows = torch.repeat_interleave(starts, counts) + within
        offsets = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        return DetectionSplit(self.images[index], self.boxes[rows], self.labels[rows], offsets,
                              None if self.masks is None else self.masks[rows],
                              None if self.difficult is None else self.difficult[rows])

    def hold_out(self, fraction: float, mode: str, seed: int) -> tuple[DetectionSplit, DetectionSplit]:
        """(train, validation): `fraction` of the images held out, a seeded random sample or (`mode`
        "last") the last ones; images keep their order within each part."""
        n = len(self)
        held = int(round(n * fraction))
        if held < 1 or held >= n:
            raise UserError(f"--val-split {fraction} leaves no images on one side of {n}")
        index = torch.arange(n) if mode == "last" else torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        return self.subset(index[:n - held].sort().values), self.subset(index[n - held:].sort().values)

    def to(self, device: torch.device | str) -> DetectionSplit:
        return DetectionSplit(self.images.to(device), self.boxes.to(device), self.labels.to(device),
                              self.offsets.to(device), None if self.masks is None else self.masks.to(device),
                              None if self.difficult is None else self.difficult.to(device))


@dataclass
class DetectionDataset:
    """A detection data set: object classes and train / validation / test splits (see the module docstring)."""

    name: str
    classes: list[str]
    train: DetectionSplit
    val: DetectionSplit | None = None
    test: DetectionSplit | None = None
    max_value: float = 255.0           # raw value of a full-intensity pixel
    description: str = ""
    citation: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("train", "val", "test"):
            split = getattr(self, name)
            if split is not None:
                split.check(len(self.classes), name)
        if len(self.train) and not len(self.train.boxes):
            raise UserError(f"the train split of {self.name!r} has no objects at all, so a detector has nothing "
                            f"to learn but background; give it images with boxes")

    def __repr__(self) -> str:  # the dataclass's would print every split's fields
        return dataset_repr(self)

    @property
    def kind(self) -> Literal["detection"]:
        """"detection", where a classification `Dataset` says "image", "tokens" or "sequence"."""
        return "detection"

    @property
    def task(self) -> Literal["detection"]:
        """"detection", where a classification `Dataset` says multiclass, binary or regression."""
        return "detection"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.images.shape[1:])  # (C, H, W)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def normalization(self, mode: Literal["standardize", "scale", "max", "pixel"] = "standardize") -> Normalization:
        """Image normalisation fitted on the training images, as `Dataset.normalization`."""
        return Normalization.for_images(self.train.images, self.max_value, mode)

    def split(self, name: str) -> DetectionSplit:
        s = getattr(self, name, None) if name in ("train", "val", "test") else None
        if s is None:
            have = [n for n in ("train", "val", "test") if getattr(self, n) is not None]
            raise UserError(f"data set {self.name!r} has no {name!r} split; it has {', '.join(have)}")
        return s


# -- digit_boxes ----------------------------------------------------------------------------------
DIGIT_SIZES = (12, 32)     # side of a pasted digit, pixels, inclusive
INK_THRESHOLD = 4.0        # mask: upsampled value above a quarter of full ink (16)
PLACEMENT_TRIES = 20       # random places tried per digit before it is left out (the canvas is full)
_SPLIT_STREAMS = {"train": 0, "val": 1, "test": 2}


def _paste_digits(digits: torch.Tensor, digit_labels: torch.Tensor, n: int, size: int,
                  rng: np.random.Generator) -> DetectionSplit:
    """`n` canvases of `size` pixels with 1-3 of `digits` ((M, 8, 8), 0..16, classes `digit_labels`)
    each; see the module docstring. The random draws are made up front, one array each, so the
    canvases depend only on the seed; the placement loop then compares plain integers."""
    hi = min(DIGIT_SIZES[1], size)
    lo = min(DIGIT_SIZES[0], hi)
    wanted = rng.integers(1, 4, n)                                    # digits per canvas
    sides = rng.integers(lo, hi + 1, (n, 3))
    which = rng.integers(0, len(digits), (n, 3))                      # index into the pool
    spots = rng.random((n, 3, PLACEMENT_TRIES, 2))                    # candidate places, as fractions
    placed: list[tuple[int, int, int, int, int]] = []                 # (image, digit, side, x, y)
    for i in range(n):
        taken: list[tuple[int, int, int]] = []
        for j in range(int(wanted[i])):
            side = int(sides[i, j])
            for fx, fy in spots[i, j]:
                x, y = int(fx * (size - side + 1)), int(fy * (size - side + 1))
                if all(x + side <= tx or tx + ts <= x or y + side <= ty or ty + ts <= y for tx, ty, ts in taken):
                    taken.append((x, y, side))
                    placed.append((i, int(which[i, j]), side, x, y))
                    break
    table = torch.tensor(placed, dtype=torch.int64).reshape(-1, 5)
    image, digit, side, x, y = table.T
    images = torch.zeros((n, 1, size, size), dtype=torch.uint8)
    masks = torch.zeros((len(table), size, size), dtype=torch.bool)
    boxes = torch.zeros((len(table), 4), dtype=torch.float32)
    for s in side.unique().tolist():  # all digits of one size at once
        k = torch.nonzero(side == s).flatten()
        up = F.interpolate(digits[digit[k]][:, None].float(), size=(s, s), mode="bilinear",
                           align_corners=False)[:, 0].clamp(0, 16)     # (m, s, s), 0..16
        rows = y[k, None] + torch.arange(s)                            # (m, s)
        cols = x[k, None] + torch.arange(s)
        images[image[k, None, None], 0, rows[:, :, None], cols[:, None, :]] = (up * (255 / 16)).round().to(torch.uint8)
        ink = up > INK_THRESHOLD
        masks[k[:, None, None], rows[:, :, None], cols[:, None, :]] = ink
        # tight box of the ink: first and last inked row and column of each patch
        r_any, c_any = ink.any(2).long(), ink.any(1).long()            # (m, s)
        first_r, first_c = r_any.argmax(1), c_any.argmax(1)
        last_r, last_c = s - 1 - r_any.flip(1).argmax(1), s - 1 - c_any.flip(1).argmax(1)
        boxes[k] = torch.stack([x[k] + first_c, y[k] + first_r, x[k] + last_c + 1, y[k] + last_r + 1], 1).float()
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(torch.bincount(image, minlength=n), 0)])
    return DetectionSplit(images, boxes, digit_labels[digit].long(), offsets, masks)


def load_digit_boxes(size: int = 64, train: int = 2000, val: int = 250, test: int = 500, seed: int = 0) -> DetectionDataset:
    """The generated `digit_boxes` detection data set (see the module docstring): `size` x `size`
    canvases, train / val / test of the given numbers of images, drawn from `seed`."""
    from ..data.digits import load_digits

    what = "data set 'digit_boxes'"
    size = option_int(what, "size", size, 32, 512)
    counts = {"train": option_int(what, "train", train, 1, 100_000), "val": option_int(what, "val", val, 0, 100_000),
              "test": option_int(what, "test", test, 0, 100_000)}
    seed = option_int(what, "seed", seed, 0, 2**32 - 1)
    digits = load_digits()
    splits: dict[str, DetectionSplit | None] = {}
    for name, n in counts.items():
        if n == 0:
            splits[name] = None
            continue
        pool = digits.split(name)
        rng = np.random.default_rng([seed, _SPLIT_STREAMS[name]])
        splits[name] = _paste_digits(pool.x[:, 0], pool.y, n, size, rng)
    return DetectionDataset("digit_boxes", [str(d) for d in range(10)], splits["train"], splits["val"], splits["test"],
                            max_value=255.0, description=(info := dataset_info("digit_boxes")).description, citation=info.citation,
                            meta={"size": size, "seed": seed, "digit_sizes": DIGIT_SIZES})


