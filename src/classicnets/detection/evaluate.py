"""Evaluating a detector on a split: PASCAL VOC AP@0.5 per class and its mean, COCO mAP@[.5:.95].

`detect` runs the model in evaluation mode over a `DetectionLoader` (one dict of boxes, labels and
scores per image, kept on the CPU); `score` turns detections and the split's ground truth into
`DetectionScores` with `metrics.voc_map` (Everingham et al. 2010: all-point AP, "difficult" objects
neither found nor missed) and `metrics.coco_map` (Lin et al. 2014, pycocotools' COCOeval for boxes;
there a "difficult" object is ignored as a crowd region is). For a mask model on data with masks
it adds the mask AP at IoU 0.5 (`voc_map(iou_type="segm")`, He et al. 2017's mask AP at one
threshold; detection masks binarised at 0.5 as they are kept). `render_scores` prints them as a
table through a print function (counting apart from rendering, STYLE 9).

A class without ground truth in the split (none that is not difficult) has no AP: it is shown as
such and left out of the means, as both reference implementations do. Images without any object
still count: every detection on them is a false positive.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..data.core import Normalization
from .data import DetectionSplit
from .loader import DetectionLoader, compute_proposals


@dataclass
class DetectionScores:
    """What a detector scores on a split."""

    classes: list[str]
    map50: float                         # VOC mAP at IoU 0.5 over the classes with ground truth
    ap50: dict[str, float]               # VOC AP at IoU 0.5 of each class with ground truth
    objects: dict[str, int]              # ground-truth objects of each class (difficult ones left out)
    images: int
    detections: int
    coco_map: float = math.nan           # COCO AP@[.5:.95]
    coco_map50: float = math.nan
    coco_map75: float = math.nan
    extra: dict[str, float] = field(default_factory=dict)  # mask_map50: mask AP@0.5, for mask models

    def to_dict(self, prefix: str = "") -> dict[str, Any]:
        """The numbers for results.json, each key with `prefix` ("test_"): map50, coco_map, ap50 per class."""
        out = {"map50": self.map50, "coco_map": self.coco_map, "coco_map50": self.coco_map50,
               "coco_map75": self.coco_map75, **self.extra, "ap50": dict(self.ap50)}
        return {f"{prefix}{k}": (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


@torch.no_grad()
def detect(model: nn.Module, loader, autocast=contextlib.nullcontext, *,
           keep_masks: bool = False) -> list[dict[str, torch.Tensor]]:
    """The model's detections for every image of `loader` (a `loader.DetectionLoader`, unshuffled), in
    order, on the CPU. A model with `needs_proposals` gets the loader's proposals as targets holding
    only "proposals"; masks are kept with `keep_masks`, binarised at 0.5 (bool, an eighth of the memory)."""
    was = model.training
    model.eval()
    needs = model.needs_proposals and loader.proposals is not None
    out: list[dict[str, torch.Tensor]] = []
    try:
        for xb, targets in loader:
            with autocast():
                dets = model(xb, [{"proposals": t["proposals"]} for t in targets]) if needs else model(xb)
            for d in dets:
                keep = {"boxes": d["boxes"].float().cpu(), "labels": d["labels"].cpu(), "scores": d["scores"].float().cpu()}
                if keep_masks and "masks" in d:
                    keep["masks"] = (d["masks"] >= 0.5).cpu()                # (D, H, W) bool
                out.append(keep)
    finally:
        model.train(was)
    return out


def ground_truth(split: DetectionSplit, masks: bool = False) -> list[dict[str, torch.Tensor]]:
    """Each image's objects as `metrics` takes them: boxes, labels, "difficult" where the split has it
    (and the same flags as COCO's "iscrowd", so COCO ignores them too), and with `masks` the masks."""
    s = split.to("cpu")
    out = []
    for t in s.targets:
        g = {"boxes": t["boxes"], "labels": t["labels"]}
        if masks:
            g["masks"] = t["masks"]
        if "difficult" in t:
            g["difficult"] = g["iscrowd"] = t["difficult"]
        out.append(g)
    return out


def score(detections: list[dict[str, torch.Tensor]], split: DetectionSplit, classes: list[str] | None = None,
          *, boxes_only: bool = False) -> DetectionScores:
    """`DetectionScores` of `detections` (one dict per image of `split`); `boxes_only` skips COCO's
    metric (validation during training needs VOC's mAP@0.5 alone). Where the detections carry masks
    and the split has them, the mask AP@0.5 is added (`extra["mask_map50"]`)."""
    from .metrics import coco_map, voc_map

    masks = not boxes_only and split.masks is not None and bool(detections) and all("masks" in d for d in detections)
    gt = ground_truth(split, masks)
    if classes is None:  # name the classes by number, as many as the labels reach
        classes = [str(i) for i in range(int(split.labels.max()) + 1 if len(split.labels) else 0)]
    names = list(classes)
    name = lambda c: names[c] if 0 <= c < len(names) else str(c)  # noqa: E731
    voc = voc_map(detections, gt)
    counted = split.labels.cpu() if split.difficult is None else split.labels.cpu()[~split.difficult.cpu()]
    objects = torch.bincount(counted, minlength=len(names)).tolist() if len(counted) else [0] * len(names)
    scores = DetectionScores(names, voc.map, {name(c): ap for c, ap in sorted(voc.per_class.items())},
                             {name(c): int(n) for c, n in enumerate(objects)}, len(split),
                             sum(len(d["boxes"]) for d in detections))
    if not boxes_only:
        coco = coco_map(detections, gt)
        scores.coco_map, scores.coco_map50, scores.coco_map75 = coco.map, coco.map50, coco.map75
    if masks:
        scores.extra["mask_map50"] = voc_map(detections, gt, iou_type="segm").map
    return scores


def evaluate_detector(model: nn.Module, split: DetectionSplit, *, normalization: Normalization | None,
                      classes: list[str] | None = None, batch_size: int = 32,
                      device: str | torch.device | None = None) -> DetectionScores:
    """VOC AP@0.5 per class, its mean and COCO mAP@[.5:.95] of detector `model` on `split` (and the
    mask AP@0.5 of a mask model on data with masks)."""
    dev = next(model.parameters()).device if device is None else torch.device(device)
    loader = DetectionLoader(split, batch_size, device=dev, normalization=normalization,
                             proposals=compute_proposals(model, split))
    masks = model.has_masks and split.masks is not None
    return score(detect(model.to(dev), loader, keep_masks=masks), split, classes)


def _ap(v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def render_scores(s: DetectionScores, split: str, print_fn: Callable[[str], None] = print) -> None:
    """The per-class AP table, then the means, as plain text lines through `print_fn`."""
    width = max([len("class")] + [len(c) for c in s.classes])
    print_fn(f"{'class':<{width}}  {'objects':>7}  {'AP@0.5':>7}")
    for c in s.classes:
        ap = s.ap50.get(c)
        print_fn(f"{c:<{width}}  {s.objects.get(c, 0):>7,}  {_ap(ap) if ap is not None else 'none':>7}")
    missing = [c for c in s.classes if c not in s.ap50]
    if missing:
        print_fn(f"({len(missing)} class{'es' * (len(missing) != 1)} without ground truth in the {split} split: "
                 f"no AP, left out of the means)")
    masks = f" - mask mAP@0.5 {_ap(s.extra['mask_map50'])}" if "mask_map50" in s.extra else ""
    print_fn(f"{split}: mAP@0.5 {_ap(s.map50)} (VOC, all-point) - COCO mAP@[.5:.95] {_ap(s.coco_map)} "
             f"(mAP@.5 {_ap(s.coco_map50)}, @.75 {_ap(s.coco_map75)}){masks} ({s.images:,} images, "
             f"{s.detections:,} detections)")
