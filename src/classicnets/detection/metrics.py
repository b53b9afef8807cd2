"""Detection metrics: PASCAL VOC's mAP at IoU 0.5 and COCO's mAP over IoU 0.5:0.95.

`voc_map(..., iou_type="segm")` scores instance masks the same way, by mask IoU ("masks" (N, H, W)
beside the boxes; detections' probabilities binarised at 0.5).

Both take one dict per image, torchvision's format: detections {"boxes" (D, 4), "scores" (D,),
"labels" (D,)} and ground truth {"boxes" (G, 4), "labels" (G,)}, boxes as x1, y1, x2, y2 in
continuous pixel coordinates, plus "difficult" (G,) bool for VOC and "iscrowd" (G,) bool for COCO.
An image may have no boxes of either kind.

- `voc_map`: the VOC devkit's evaluation from VOC2010 on, as in py-faster-rcnn's voc_eval.py
  (use_07_metric=False): per class, detections in decreasing score order; each is matched to the
  ground truth of its image it overlaps most; a true positive if that IoU is above the threshold
  (strictly) and the box was not matched before, a false positive otherwise; a match to a
  "difficult" box counts as neither, and difficult boxes are left out of the recall. AP is the area
  under the precision envelope at every recall step ("all-point" interpolation). The devkit counts
  pixels inclusively (width = xmax - xmin + 1); VOC boxes read by `annotations.parse_voc_xml` are
  already continuous (xmin - 1, ymin - 1, xmax, ymax), so the IoU here equals the devkit's.
- `coco_map`: pycocotools' COCOeval for bbox with its default parameters, area "all" and at most
  100 detections per image and class: IoU thresholds 0.50, 0.55, ..., 0.95; each detection, best
  score first, takes the unmatched ground truth it overlaps most (at least the threshold),
  preferring ordinary boxes to crowd boxes; crowd boxes ("iscrowd") can absorb any number of
  detections, which then count as neither; precision interpolated at 101 recall points.
  The ground truth's area is its box's (COCO files give the segment's; for area "all" both
  include the same boxes).

The greedy matching is sequential only within an image, so both run over the images at once: one
step per detection rank (at most 100 for COCO), each a tensor operation over every image, class
and threshold. Classes with no ground truth (none that is not difficult or crowd) are left out of
the mean, as both reference implementations do.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UserError

# pycocotools.cocoeval.Params.setDetParams, the same float64 values (np.linspace's rounding)
COCO_IOU_THRESHOLDS = torch.from_numpy(np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True))
COCO_RECALL_POINTS = torch.from_numpy(np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True))
COCO_AREA_ALL = (0.0, 1e5 ** 2)  # pycocotools' "all" area range, in square pixels


@dataclass(frozen=True)
class APResult:
    """Mean average precision and the AP of each class that has ground truth (label -> AP)."""

    map: float                  # mean over the classes in per_class; NaN when there are none
    per_class: dict[int, float]


@dataclass(frozen=True)
class CocoResult(APResult):
    """COCO's AP@[.5:.95] (`map`), with AP at IoU 0.5 and 0.75 (COCOeval's stats[0], [1] and [2])."""

    map50: float = math.nan
    map75: float = math.nan


@dataclass
class _Flat:
    """Every image's boxes in one set of tensors, each row tagged with its image index."""

    image: torch.Tensor   # (K,) int64
    boxes: torch.Tensor   # (K, 4) float64
    labels: torch.Tensor  # (K,) int64
    extra: torch.Tensor   # (K,) scores (float64) for detections; difficult / iscrowd (bool) for ground truth


def _flatten(items: Sequence[Mapping[str, torch.Tensor]], what: str, extra: str, required: bool) -> _Flat:
    images, boxes, labels, extras = [], [], [], []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or "boxes" not in item or "labels" not in item:
            raise UserError(f"{what} of image {i} must be a dict with 'boxes' and 'labels'")
        b = torch.as_tensor(item["boxes"]).detach().to("cpu", torch.float64)
        lab = torch.as_tensor(item["labels"]).detach().cpu()
        if b.numel() == 0:
            b = b.reshape(0, 4)
        if b.ndim != 2 or b.shape[1] != 4 or lab.shape != (len(b),):
            raise UserError(f"{what} of image {i} must hold boxes (N, 4) and one label per box; "
                            f"got boxes {tuple(b.shape)} and labels {tuple(lab.shape)}")
        if not bool(torch.isfinite(b).all()):
            raise UserError(f"{what} of image {i} has a box with a NaN or infinite coordinate")
        if lab.is_floating_point() and not bool((lab == lab.round()).all()):
            raise UserError(f"{what} of image {i} has a label that is not a whole number")
        if extra in item:
            e = torch.as_tensor(item[extra]).detach().cpu()
        elif required:
            raise UserError(f"{what} of image {i} has no '{extra}'")
        else:
            e = torch.zeros(len(b), dtype=torch.bool)
        if e.shape != (len(b),):
            raise UserError(f"{what} of image {i} must have one '{extra}' value per box; got shape {tuple(e.shape)}")
        if extra == "scores" and not bool(torch.isfinite(e.double()).all()):
            raise UserError(f"{what} of image {i} has a NaN or infinite score")
        images.append(torch.full((len(b),), i, dtype=torch.int64))
        boxes.append(b)
        labels.append(lab.long())
        extras.append(e.double() if extra == "scores" else e.bool())
    cat = lambda ts, empty: torch.cat(ts) if ts else empty  # noqa: E731
    return _Flat(cat(images, torch.zeros(0, dtype=torch.int64)), cat(boxes, torch.zeros((0, 4), dtype=torch.float64)),
                 cat(labels, torch.zeros(0, dtype=torch.int64)),
                 cat(extras, torch.zeros(0, dtype=torch.float64 if extra == "scores" else torch.bool)))


def _inputs(detections, targets, flag: str) -> tuple[_Flat, _Flat]:
    if len(detections) != len(targets):
        raise UserError(f"detections and ground truth must be one entry per image; got {len(detections)} "
                        f"and {len(targets)}")
    return _flatten(detections, "detections", "scores", True), _flatten(targets, "ground truth", flag, False)


def _padded(key: torch.Tensor, n_keys: int, order: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Rows `order` (already grouped by `key`) laid out as (n_keys, width): (slot of each row in its
    group, count per key, width). Rows keep their order within a group."""
    counts = torch.bincount(key[order], minlength=n_keys)
    first = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(order)) - first[key[order]]
    return slot, counts, int(counts.max()) if len(counts) and len(order) else 0


def _pairwise_iou(d: torch.Tensor, g: torch.Tensor, crowd: torch.Tensor | None = None) -> torch.Tensor:
    """IoU of detection boxes d (..., D, 4) with ground truth g (..., G, 4) -> (..., D, G); with
    `crowd` (..., G), a crowd box's overlap is divided by the detection's area alone (COCO)."""
    lt = torch.maximum(d[..., :, None, :2], g[..., None, :, :2])
    rb = torch.minimum(d[..., :, None, 2:], g[..., None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_d = ((d[..., 2] - d[..., 0]) * (d[..., 3] - d[..., 1]))[..., :, None]
    area_g = ((g[..., 2] - g[..., 0]) * (g[..., 3] - g[..., 1]))[..., None, :]
    union = area_d + area_g - inter
    if crowd is not None:
        union = torch.where(crowd[..., None, :], area_d.expand_as(union), union)
    return inter / union


# -- PASCAL VOC -----------------------------------------------------------------------------------
def _all_point_ap(recall: torch.Tensor, precision: torch.Tensor) -> float:
    """Area under the precision envelope (precision made non-increasing from the right), summed where
    recall changes: the devkit's VOCap and py-faster-rcnn's voc_ap(use_07_metric=False)."""
    one, zero = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    mrec = torch.cat([zero, recall, one])
    mpre = torch.cat([zero, precision, zero])
    mpre = torch.flip(torch.cummax(torch.flip(mpre, [0]), 0).values, [0])
    step = torch.nonzero(mrec[1:] != mrec[:-1]).flatten()
    return float(((mrec[step + 1] - mrec[step]) * mpre[step + 1]).sum())


def _flat_masks(items: Sequence[Mapping[str, torch.Tensor]], what: str, threshold: float | None) -> torch.Tensor:
    """(K, P) bool: every image's "masks" (one (H, W) per box, or (1, H, W) as torchvision outputs),
    images in order, each flattened (probabilities binarised at `threshold`) and padded with False to
    the largest image's P = H * W pixels (padding changes no intersection or area)."""
    flat = []
    for i, item in enumerate(items):
        n = len(torch.as_tensor(item["boxes"]).reshape(-1, 4))
        if "masks" not in item:
            raise UserError(f"{what} of image {i} has no 'masks'; mask AP (iou_type='segm') needs one mask per box")
        m = torch.as_tensor(item["masks"]).detach().cpu()
        if m.ndim == 4 and m.shape[1] == 1:
            m = m[:, 0]
        if m.ndim != 3 or len(m) != n:
            raise UserError(f"{what} of image {i} must hold one (H, W) mask per box; got masks {tuple(m.shape)} "
                            f"for {n} boxes")
        flat.append((m >= threshold if threshold is not None and m.is_floating_point() else m.bool()).reshape(n, -1))
    width = max((f.shape[1] for f in flat), default=0)
    return torch.cat([torch.nn.functional.pad(f, (0, width - f.shape[1])) for f in flat]) if flat \
        else torch.zeros((0, 0), dtype=torch.bool)


def _mask_iou(d_masks: torch.Tensor, g_masks: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """(D, W) IoU of each detection's mask (D, P) with the ground-truth masks `g_masks` (G, P) at
    `rows` (D, W) (-1: none, IoU 0), in chunks of detections so the (chunk, W, P) overlap stays small."""
    d_area = d_masks.sum(1).double()
    g_area = g_masks.sum(1).double()
    out = torch.zeros(rows.shape, dtype=torch.float64)
    if not len(g_masks) or not len(d_masks):
        return out
    step = max(1, (1 << 24) // max(rows.shape[1] * d_masks.shape[1], 1))
    for i in range(0, len(d_masks), step):
        r = rows[i:i + step].clamp(min=0)
        inter = (d_masks[i:i + step, None] & g_masks[r]).sum(-1).double()               # (chunk, W)
        union = d_area[i:i + step, None] + g_area[r] - inter
        out[i:i + step] = torch.where(rows[i:i + step] >= 0, inter / union.clamp(min=1), 0.0)
    return out


def voc_map(detections: Sequence[Mapping[str, torch.Tensor]], targets: Sequence[Mapping[str, torch.Tensor]],
            iou_threshold: float = 0.5, iou_type: str = "bbox", mask_threshold: float = 0.5) -> APResult:
    """PASCAL VOC mean average precision at `iou_threshold` (0.5), all-point interpolation, with
    "difficult" ground truth ignored (see the module docstring). Equal scores keep their input order.

    `iou_type="segm"` matches by mask IoU instead of box IoU (the mask AP of SDS, Hariharan et al.
    2014, and of Mask R-CNN's tables, at one threshold): detections and ground truth then also need
    "masks", one (H, W) per box; detection masks given as probabilities (floats) count the pixels at
    or above `mask_threshold` (Mask R-CNN binarises at 0.5)."""
    if iou_type not in ("bbox", "segm"):
        raise UserError(f"iou_type must be 'bbox' (box IoU) or 'segm' (mask IoU); got {iou_type!r}")
    det, gt = _inputs(detections, targets, "difficult")
    if iou_type == "segm":
        det_masks = _flat_masks(detections, "detections", mask_threshold)
        gt_masks = _flat_masks(targets, "ground truth", None)
        pixels = max(det_masks.shape[1], gt_masks.shape[1])
        det_masks = torch.nn.functional.pad(det_masks, (0, pixels - det_masks.shape[1]))
        gt_masks = torch.nn.functional.pad(gt_masks, (0, pixels - gt_masks.shape[1]))
    per_class: dict[int, float] = {}
    for c in torch.unique(gt.labels[~gt.extra]).tolist():
        d_sel, g_sel = det.labels == c, gt.labels == c
        d_img, d_box = det.image[d_sel], det.boxes[d_sel]
        order = torch.sort(det.extra[d_sel], descending=True, stable=True).indices
        d_img, d_box = d_img[order], d_box[order]
        g_img, g_box, g_diff = gt.image[g_sel], gt.boxes[g_sel], gt.extra[g_sel]
        npos = int((~g_diff).sum())
        # each image's ground truth of this class side by side: (images, width, 4)
        g_order = torch.sort(g_img, stable=True).indices
        slot, _, width = _padded(g_img, len(targets), g_order)
        boxes = torch.zeros((len(targets), max(width, 1), 4), dtype=torch.float64)
        present = torch.zeros((len(targets), max(width, 1)), dtype=torch.bool)
        difficult = torch.zeros_like(present)
        boxes[g_img[g_order], slot] = g_box[g_order]
        present[g_img[g_order], slot] = True
        difficult[g_img[g_order], slot] = g_diff[g_order]
        if iou_type == "segm":  # the same slots, each holding its ground-truth mask's row
            rows = torch.full((len(targets), max(width, 1)), -1, dtype=torch.int64)
            rows[g_img[g_order], slot] = torch.nonzero(g_sel).flatten()[g_order]
            iou = _mask_iou(det_masks[torch.nonzero(d_sel).flatten()[order]], gt_masks, rows[d_img])
        else:
            iou = _pairwise_iou(d_box[:, None], boxes[d_img])[:, 0]      # (D, width)
        iou = torch.where(present[d_img], iou.nan_to_num(0.0), torch.full_like(iou, -math.inf))
        best, j = iou.max(dim=1) if len(d_box) else (torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.int64))
        hit = best > iou_threshold
        hit_difficult = hit & difficult[d_img, j]
        candidate = hit & ~hit_difficult
        # the first candidate (in score order) to reach a ground-truth box takes it; later ones are duplicates
        key = d_img * max(width, 1) + j
        rank = torch.arange(len(key))
        first = torch.full((len(targets) * max(width, 1),), len(key), dtype=torch.int64)
        first = first.scatter_reduce(0, key[candidate], rank[candidate], reduce="amin")
        tp = candidate & (first[key] == rank)
        fp = ~tp & ~hit_difficult
        tp_sum, fp_sum = torch.cumsum(tp.double(), 0), torch.cumsum(fp.double(), 0)
        precision = tp_sum / torch.clamp(tp_sum + fp_sum, min=np.finfo(np.float64).eps)
        per_class[int(c)] = _all_point_ap(tp_sum / npos, precision)
    return APResult(float(np.mean(list(per_class.values()))) if per_class else math.nan, per_class)


# -- COCO -----------------------------------------------------------------------------------------
def _coco_match(det: _Flat, gt: _Flat, n_images: int, n_classes: int, max_dets: int,
                thresholds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """COCOeval.evaluateImg for every (image, class) at once: (kept, key, matched, ignored). `kept`
    indexes the detections kept (the best `max_dets` per image and class), grouped by image and
    class (`key` = image * n_classes + class), best score first within a group; `matched` and
    `ignored` (T, kept) say, per IoU threshold, whether each found a ground-truth box and whether it
    counts as neither true nor false positive (it found a crowd box)."""
    n_pairs = n_images * n_classes
    # detections: best score first within each (image, class), ties in input order; at most max_dets
    by_score = torch.sort(det.extra, descending=True, stable=True).indices
    d_key = det.image * n_classes + det.labels
    d_order = by_score[torch.sort(d_key[by_score], stable=True).indices]
    d_rank, _, _ = _padded(d_key, n_pairs, d_order)
    d_order, d_rank = d_order[d_rank < max_dets], d_rank[d_rank < max_dets]
    # ground truth: ordinary boxes before crowd (ignored) ones within each (image, class)
    g_key = gt.image * n_classes + gt.labels
    by_crowd = torch.sort(gt.extra.long(), stable=True).indices
    g_order = by_crowd[torch.sort(g_key[by_crowd], stable=True).indices]
    g_slot, _, g_width = _padded(g_key, n_pairs, g_order)
    # only (image, class) pairs that have a detection take part in matching
    pairs, d_pair = torch.unique(d_key[d_order], return_inverse=True)
    p, t = len(pairs), len(thresholds)
    d_width = int(d_rank.max()) + 1 if len(d_rank) else 0
    d_boxes = torch.zeros((p, d_width, 4), dtype=torch.float64)
    d_boxes[d_pair, d_rank] = det.boxes[d_order]
    d_present = torch.zeros((p, d_width), dtype=torch.bool)
    d_present[d_pair, d_rank] = True
    # each ground-truth box's row among the detected pairs (or none)
    pair_row = torch.full((n_pairs,), -1, dtype=torch.int64)
    pair_row[pairs] = torch.arange(p)
    g_row = pair_row[g_key[g_order]]
    on = g_row >= 0
    g_boxes = torch.zeros((p, g_width, 4), dtype=torch.float64)
    g_present = torch.zeros((p, g_width), dtype=torch.bool)
    g_crowd = torch.zeros((p, g_width), dtype=torch.bool)
    g_boxes[g_row[on], g_slot[on]] = gt.boxes[g_order][on]
    g_present[g_row[on], g_slot[on]] = True
    g_area = (g_boxes[..., 2] - g_boxes[..., 0]) * (g_boxes[..., 3] - g_boxes[..., 1])
    g_crowd[g_row[on], g_slot[on]] = gt.extra[g_order][on]
    g_ignored = g_crowd | (g_area < COCO_AREA_ALL[0]) | (g_area > COCO_AREA_ALL[1])
    iou = _pairwise_iou(d_boxes, g_boxes, g_crowd) if g_width else torch.zeros((p, d_width, 0), dtype=torch.float64)
    taken = torch.zeros((p, t, g_width), dtype=torch.bool)      # ground truth matched, per threshold
    matched = torch.zeros((p, t, d_width), dtype=torch.bool)
    ignored = torch.zeros((p, t, d_width), dtype=torch.bool)
    thr = torch.clamp(thresholds, max=1 - 1e-10)[None, :, None]
    flipped = torch.arange(g_width - 1, -1, -1)
    for r in range(d_width):
        if g_width == 0:
            break
        q = iou[:, r, None, :].expand(p, t, g_width)              # (pairs, T, G)
        ok = g_present[:, None] & (~taken | g_crowd[:, None]) & (q >= thr) & d_present[:, r, None, None]
        choice = torch.full((p, t), -1, dtype=torch.int64)
        for allowed in (g_ignored, ~g_ignored):                     # ordinary boxes win: applied last
            s = torch.where(ok & allowed[:, None], q, torch.full_like(q, -math.inf))[..., flipped]
            at = torch.argmax(s, dim=-1, keepdim=True)              # ties: the later box, as COCOeval
            found = torch.isfinite(torch.gather(s, -1, at))[..., 0]
            choice = torch.where(found, g_width - 1 - at[..., 0], choice)
        hit = choice >= 0
        rows, cols = torch.nonzero(hit, as_tuple=True)
        taken[rows, cols, choice[hit]] = True
        matched[:, :, r] = hit
        ignored[:, :, r] = hit & torch.gather(g_ignored, 1, choice.clamp(min=0))
    # unmatched detections outside the area range are ignored too
    d_area = (d_boxes[..., 2] - d_boxes[..., 0]) * (d_boxes[..., 3] - d_boxes[..., 1])
    outside = (d_area < COCO_AREA_ALL[0]) | (d_area > COCO_AREA_ALL[1])
    ignored |= ~matched & outside[:, None, :]
    kept_matched = matched[d_pair, :, d_rank].T                  # (T, kept)
    kept_ignored = ignored[d_pair, :, d_rank].T
    return d_order, d_key[d_order], kept_matched, kept_ignored


def coco_map(detections: Sequence[Mapping[str, torch.Tensor]], targets: Sequence[Mapping[str, torch.Tensor]],
             max_dets: int = 100) -> CocoResult:
    """COCO's AP@[.5:.95] for boxes, as pycocotools' COCOeval (iouType "bbox", default parameters,
    area "all", `max_dets` detections per image and class), with AP@.5 and AP@.75; see the module
    docstring. Images are taken in list order, which is COCOeval's when image ids increase with it."""
    if max_dets < 1:
        raise UserError(f"max_dets must be at least 1; got {max_dets}")
    det, gt = _inputs(detections, targets, "iscrowd")
    for name, flat in (("detections", det), ("ground truth", gt)):
        if len(flat.labels) and int(flat.labels.min()) < 0:
            raise UserError(f"{name} have a negative label ({int(flat.labels.min())}); labels are class indices")
    n_images = len(targets)
    n_classes = int(max(det.labels.max() if len(det.labels) else -1, gt.labels.max() if len(gt.labels) else -1)) + 1
    thresholds = COCO_IOU_THRESHOLDS
    order, key, matched, ignored = _coco_match(det, gt, n_images, n_classes, max_dets, thresholds)
    scores, labels = det.extra[order], key % max(n_classes, 1)
    g_area = (gt.boxes[:, 2] - gt.boxes[:, 0]) * (gt.boxes[:, 3] - gt.boxes[:, 1])
    g_counted = ~gt.extra & (g_area >= COCO_AREA_ALL[0]) & (g_area <= COCO_AREA_ALL[1])
    per_class, ap50, ap75 = {}, [], []
    for c in torch.unique(gt.labels[g_counted]).tolist():
        npig = int((g_counted & (gt.labels == c)).sum())
        sel = torch.nonzero(labels == c).flatten()      # image order, then score order within an image
        s = torch.sort(scores[sel], descending=True, stable=True).indices
        m, ig = matched[:, sel[s]], ignored[:, sel[s]]   # (T, D)
        tp = torch.cumsum((m & ~ig).double(), 1)
        fp = torch.cumsum((~m & ~ig).double(), 1)
        recall = tp / npig
        precision = tp / (fp + tp + np.spacing(1))
        precision = torch.flip(torch.cummax(torch.flip(precision, [1]), 1).values, [1])  # the envelope
        q = torch.zeros((len(thresholds), len(COCO_RECALL_POINTS)), dtype=torch.float64)  # no detections: 0
        if len(s):
            # precision at the first detection reaching each recall point; 0 past the last recall reached
            at = torch.searchsorted(recall, COCO_RECALL_POINTS.expand(len(thresholds), -1).contiguous())
            reached = at < len(s)
            q = torch.where(reached, torch.gather(precision, 1, at.clamp(max=len(s) - 1)), q)
        per_class[int(c)] = float(q.mean())
        ap50.append(float(q[0].mean()))
        ap75.append(float(q[5].mean()))
    mean = lambda v: float(np.mean(v)) if v else math.nan  # noqa: E731
    return CocoResult(mean(list(per_class.values())), per_class, mean(ap50), mean(ap75))
