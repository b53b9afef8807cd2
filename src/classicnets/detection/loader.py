"""Detection batches on the device: `DetectionLoader` keeps a `DetectionSplit` there (images as uint8,
objects in its flat tensors), gathers a batch by index, augments it with the boxes following the
pixels, normalises it there and yields (images, targets), the targets one dict per image of views of
the batch's rows ("boxes", "labels", and "masks" for a mask model, "proposals" for a model that takes
precomputed ones); `compute_proposals` gives a model with `needs_proposals` its selective-search
proposals, cached on disk.

Augmentation is applied to boxes (and masks and proposals) as to the pixels: `horizontal_flip`
mirrors x (Girshick 2015 trains on flipped images too), `translate` shifts by up to that many pixels
and clips the boxes to the image, dropping the objects shifted out of it. Transforms that would
need boxes to rotate or be cut (rotation, width/height shift, cutout) are refused.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn

from ..data.augment_config import AugmentConfig
from ..data.core import Normalization
from ..errors import UserError
from .data import DetectionSplit

Target = dict[str, torch.Tensor]

# Images per forward pass when evaluating a detector: `TrainConfig.eval_batch_size` (1,024 by default,
# chosen for classifiers) is capped here, since a detector keeps hundreds of boxes per image.
EVAL_BATCH_CAP = 64

# Augmentations a detection batch can take (the boxes follow the pixels); the others are refused.
SUPPORTED_AUGMENT = ("translate", "horizontal_flip", "fill_mode")


def check_augment(augment: AugmentConfig | None) -> None:
    """`UserError` for an augmentation the boxes cannot follow."""
    if augment is None:
        return
    for name in ("width_shift_range", "height_shift_range", "rotation_range", "cutout"):
        if getattr(augment, name):
            raise UserError(f"--{name.replace('_', '-')} is not available for detection data (the boxes would "
                            f"have to follow it); detection training takes --translate and --horizontal-flip")


def _shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, fill: str) -> torch.Tensor:
    """x (N, ..., H, W) with item i's content moved by (dy[i], dx[i]) pixels (down, right); what comes
    in is zeros (`fill` "constant") or the nearest edge pixel ("nearest")."""
    n, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    rows = torch.arange(h, device=x.device) - dy[:, None]                  # (N, H): source row of each row
    cols = torch.arange(w, device=x.device) - dx[:, None]                  # (N, W)
    lead = (n,) + (1,) * (x.ndim - 1)
    ni = torch.arange(n, device=x.device).view(lead)
    mid = [torch.arange(s, device=x.device).view((1,) * (i + 1) + (s,) + (1,) * (x.ndim - i - 2))
           for i, s in enumerate(x.shape[1:-2])]
    r = rows.clamp(0, h - 1).view((n,) + (1,) * (x.ndim - 3) + (h, 1))
    c = cols.clamp(0, w - 1).view((n,) + (1,) * (x.ndim - 3) + (1, w))
    out = x[(ni, *mid, r, c)]
    if fill == "constant":
        inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # (N, H, W)
        out = out * inside.view((n,) + (1,) * (x.ndim - 3) + (h, w)).to(out.dtype)
    return out


class DetectionLoader:
    """(images, targets) batches of a `DetectionSplit` held on `device` (see the module docstring).

    The same interface as `data.core.BatchLoader` (`len`, `draw_order`, `batches`, iteration), so the
    trainer's checkpointed data order and resumption work unchanged. Shuffling and augmentation draw
    from `generator`. `masks` says whether targets carry masks (a mask model); `proposals` gives each
    image's precomputed proposals (a model with `needs_proposals`)."""

    def __init__(self, split: DetectionSplit, batch_size: int, *, device: torch.device,
                 normalization: Normalization | None, shuffle: bool = False,
                 generator: torch.Generator | None = None, augment: AugmentConfig | None = None,
                 masks: bool = False, proposals: Sequence[torch.Tensor] | None = None):
        if batch_size < 1:
            raise UserError(f"batch size must be at least 1; got {batch_size}")
        if masks and split.masks is None:
            raise UserError("this model learns masks, and the data set has none; train a box detector on it "
                            "(faster_rcnn), or use data with masks (digit_boxes)")
        self.images = split.images.to(device)
        self.boxes = split.boxes.to(device, torch.float32)
        self.labels = split.labels.to(device, torch.int64)
        self.masks = split.masks.to(device) if masks else None
        self.starts = split.offsets.tolist()  # on the CPU: slicing by it never waits for the device
        self.num = len(split)
        self.batch_size, self.shuffle, self.generator = batch_size, shuffle, generator
        self.augment = augment if augment is not None and augment.enabled else None
        self.device = device
        self.proposals = self.proposal_starts = None
        if proposals is not None:
            if len(proposals) != self.num:
                raise UserError(f"{len(proposals)} proposal sets for {self.num} images")
            self.proposals = torch.cat([p.reshape(-1, 4) for p in proposals]).to(device, torch.float32)
            counts = [len(p) for p in proposals]
            self.proposal_starts = [0]
            for c in counts:
                self.proposal_starts.append(self.proposal_starts[-1] + c)
        self.scale, self.shift = normalization.affine(device) if normalization is not None else (None, None)

    def __len__(self) -> int:
        return -(-self.num // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, list[Target]]]:
        return self.batches(self.draw_order())

    def draw_order(self) -> torch.Tensor | None:
        """An epoch's permutation, drawn from the generator (None without shuffling)."""
        if not self.shuffle:
            return None
        return torch.randperm(self.num, generator=self.generator, device=self.device)

    def batches(self, order: torch.Tensor | None, start: int = 0,
                part: tuple[int, int] | None = None) -> Iterator[tuple[torch.Tensor, list[Target]]]:
        """The batches of an epoch in `order`, from batch `start` on (a resumed epoch)."""
        if part is not None:
            raise UserError("detection training runs in one process; leave out --nproc and torchrun")
        n, bs = self.num, self.batch_size
        ids_all = order.tolist() if order is not None else None  # once per epoch, not per batch
        for begin in range(start * bs, n, bs):
            ids = ids_all[begin:begin + bs] if ids_all is not None else list(range(begin, min(begin + bs, n)))
            index = order[begin:begin + bs] if order is not None else slice(begin, begin + bs)
            xb = self.images[index]                                        # (B, C, H, W) uint8
            if self.augment is None:
                targets = [self._views(i) for i in ids]
            else:
                xb, targets = self._augmented(xb, ids)
            if self.scale is not None:
                xb = torch.addcmul(self.shift, xb.float(), self.scale)    # (B, C, H, W) float32
            else:
                xb = xb.float()
            yield xb, targets

    def _views(self, i: int) -> Target:
        a, b = self.starts[i], self.starts[i + 1]
        t = {"boxes": self.boxes[a:b], "labels": self.labels[a:b]}
        if self.masks is not None:
            t["masks"] = self.masks[a:b]
        if self.proposals is not None:
            t["proposals"] = self.proposals[self.proposal_starts[i]:self.proposal_starts[i + 1]]
        return t

    @staticmethod
    def _rows(starts: list[int], ids: list[int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """The flat rows of images `ids` ((R,) on `device`), each row's place in the batch ((R,)), counts."""
        counts = [starts[i + 1] - starts[i] for i in ids]
        first = torch.tensor([starts[i] for i in ids], dtype=torch.int64)
        c = torch.tensor(counts, dtype=torch.int64)
        which = torch.repeat_interleave(torch.arange(len(ids)), c)
        rows = first[which] + torch.arange(int(c.sum())) - torch.repeat_interleave(torch.cumsum(c, 0) - c, c)
        return rows.to(device, non_blocking=True), which.to(device, non_blocking=True), counts

    def _augmented(self, xb: torch.Tensor, ids: list[int]) -> tuple[torch.Tensor, list[Target]]:
        """The batch flipped and shifted with the boxes (masks, proposals) following, as one tensor
        operation per kind over all the batch's objects; targets are views of the transformed rows."""
        a, gen, dev = self.augment, self.generator, self.device
        b, (h, w) = len(ids), xb.shape[2:]
        rows, which, counts = self._rows(self.starts, ids, dev)
        boxes, labels = self.boxes[rows], self.labels[rows]
        masks = self.masks[rows] if self.masks is not None else None
        prop = None
        if self.proposals is not None:
            p_rows, p_which, p_counts = self._rows(self.proposal_starts, ids, dev)
            prop = self.proposals[p_rows]
        if a.horizontal_flip:
            flip = torch.rand(b, generator=gen, device=dev) < 0.5                # (B,)
            xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(3), xb)
            mirror = lambda bx: torch.stack([w - bx[:, 2], bx[:, 1], w - bx[:, 0], bx[:, 3]], 1)  # noqa: E731
            boxes = torch.where(flip[which, None], mirror(boxes), boxes)
            if masks is not None:
                masks = torch.where(flip[which, None, None], masks.flip(2), masks)
            if prop is not None:
                prop = torch.where(flip[p_which, None], mirror(prop), prop)
        keep = None
        if a.translate:
            pad = a.translate
            off = torch.randint(0, 2 * pad + 1, (2, b), generator=gen, device=dev) - pad  # (2, B): dy, dx
            xb = _shift(xb, off[0], off[1], a.fill_mode)
            if masks is not None:
                masks = _shift(masks, off[0, which], off[1, which], "constant")
            step = torch.stack([off[1], off[0], off[1], off[0]], 1).float()     # (B, 4): dx, dy, dx, dy
            limit = torch.tensor([w, h, w, h], dtype=torch.float32, device=dev)
            moved = torch.minimum((boxes + step[which]).clamp(min=0), limit)
            # an object shifted (almost) out of the image is dropped: under a pixel left of one that had more
            size, was = moved[:, 2:] - moved[:, :2], boxes[:, 2:] - boxes[:, :2]
            keep = (size >= was.clamp(max=1)).all(1) & (size > 0).all(1)
            boxes = moved
            if prop is not None:
                prop = torch.minimum((prop + step[p_which]).clamp(min=0), limit)
                p_keep = ((prop[:, 2:] - prop[:, :2]) > 0).all(1)
                prop, p_which = prop[p_keep], p_which[p_keep]
                p_counts = torch.bincount(p_which, minlength=b).tolist()
        if keep is not None:
            boxes, labels, which = boxes[keep], labels[keep], which[keep]
            masks = masks[keep] if masks is not None else None
            counts = torch.bincount(which, minlength=b).tolist()  # waits for the device: translate only
        parts = {"boxes": boxes.split(counts), "labels": labels.split(counts)}
        if masks is not None:
            parts["masks"] = masks.split(counts)
        if prop is not None:
            parts["proposals"] = prop.split(p_counts)
        return xb, [{k: v[i] for k, v in parts.items()} for i in range(b)]


def compute_proposals(model: nn.Module, split: DetectionSplit, *, log=None) -> list[torch.Tensor] | None:
    """Each image's proposals for a model with `needs_proposals` (None for the others): selective search
    with the model's options (`model.proposal_config`, else helper defaults), cached under the data
    cache's `proposals/` folder by image content and options."""
    if not model.needs_proposals:
        return None
    from ..data.download import data_home
    from .proposals import ProposalCache, proposals_for

    cache = ProposalCache(data_home() / "proposals")
    if log is not None:
        log(f"Selective search proposals for {len(split):,} images (cached in {cache.directory})")
    return proposals_for(split, model.proposal_config, cache=cache)
