"""Faster R-CNN's (and Mask R-CNN's) inference path in a form ONNX and TorchScript can hold.

The detectors of `classicnets.detection` are written for eager PyTorch: their post-processing runs
Python loops whose trip counts depend on the data (greedy NMS settles boxes pass by pass, RoIAlign
loops over the images of a batch, proposals are split per image with `.tolist()`). A trace would
freeze those counts, and `torch.export` refuses them. `DetectorGraph` runs the same computation on
ONE image of the model's fixed size, reusing the model's own layers (backbone, RPN head, box and mask
heads), its configuration and its box coding (`ops.apply_deltas`), and writes only the data-dependent
steps anew, as torchvision's Faster R-CNN export does:

- non-maximum suppression is one operator, `classicnets::nms` (greedy, IoU strictly above the
  threshold, by decreasing score, ties in input order, as `ops.nms`): ONNX gets it as the standard
  `NonMaxSuppression` operator (`onnx_nms`), TorchScript as a scripted loop (`nms_loop`), so each file
  runs on its own runtime with nothing of classicnets installed;
- RoIAlign (the models' `align_rois` for one image: two matrix products per RoI set, sampling weights
  from a fixed grid of `sampling_ratio` samples per bin) and the per-class detection filter
  (`roi_heads.select_detections`) are written without Python loops or boolean indexing, boxes that a
  filter drops get the score -inf and take no part in NMS.

The graph takes one normalised image (1, C, H, W) of the size the model was exported at (its anchors
are constants of that size) and returns `boxes` (D, 4), `labels` (D,), `scores` (D,) (and `masks`
(D, H, W) for Mask R-CNN), D varying with the image, as `model(images)[0]` does.

Not exportable, each with its reason (`UnsupportedDetector`): R-CNN and Fast R-CNN take their
proposals from selective search (`detection.proposals`: scikit-image's Felzenszwalb segmentation and
a Python grouping loop), which runs outside any network; RoI max pooling (`pool="pool"`) and an
adaptive RoIAlign grid (`sampling_ratio` <= 0) size their bins from each box's coordinates, so the
number of samples is data-dependent.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..detection.ops import apply_deltas
from ..errors import UserError

_LOWEST = float(torch.finfo(torch.float32).min)  # ONNX's score_threshold: every finite score takes part


class UnsupportedDetector(UserError):
    """A detector (or one of its parts) that has no exportable inference path; the message says why."""


# -- non-maximum suppression -------------------------------------------------------------------------
def nms_loop(boxes: Tensor, scores: Tensor, iou_threshold: float, max_output: int) -> Tensor:
    """Indices of the boxes (N, 4) greedy NMS keeps, by decreasing score (ties in input order), at most
    `max_output`; boxes scored -inf take no part. IoU in the arithmetic order of `ops._suppresses`
    (torchvision's CPU kernel), and the settling passes of `ops._greedy_keep`, so the kept set is
    `ops.nms`'s to the bit."""
    order = torch.sort(scores, descending=True, stable=True).indices
    order = order[scores[order] > float("-inf")]
    b = boxes[order]
    inter = (torch.minimum(b[:, None, 2], b[None, :, 2]) - torch.maximum(b[:, None, 0], b[None, :, 0])).clamp(min=0)
    h = (torch.minimum(b[:, None, 3], b[None, :, 3]) - torch.maximum(b[:, None, 1], b[None, :, 1])).clamp(min=0)
    inter = inter * h
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    over = (inter / (area[:, None] + area[None, :] - inter) > iou_threshold).triu(1)  # i ranked above j
    keep = torch.zeros(order.shape, dtype=torch.bool, device=boxes.device)
    alive = torch.ones(order.shape, dtype=torch.bool, device=boxes.device)
    while bool(alive.any()):
        free = alive & ~(over & alive[:, None]).any(0)
        keep |= free
        alive &= ~free & ~over[free].any(0)
    return order[keep][:max_output]


@functools.cache
def scripted_nms_loop() -> torch.jit.ScriptFunction:
    """`nms_loop` compiled by TorchScript (once, on first use: torch 2.13 warns that torch.jit is
    deprecated, which a mere import of this module should not print)."""
    from .formats import quiet

    with quiet():
        return torch.jit.script(nms_loop)


@torch.library.custom_op("classicnets::nms", mutates_args=())
def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, max_output: int) -> Tensor:
    """`nms_loop` as one operator, so `torch.export` keeps it whole for the ONNX translation."""
    return nms_loop(boxes, scores, iou_threshold, max_output)


@nms.register_fake
def _(boxes: Tensor, scores: Tensor, iou_threshold: float, max_output: int) -> Tensor:
    n = torch.library.get_ctx().new_dynamic_size(max=max_output)
    return boxes.new_empty((n,), dtype=torch.int64)


def onnx_nms(boxes, scores, iou_threshold: float, max_output: int):
    """`classicnets::nms` in ONNX: NonMaxSuppression (opset 11+) on one batch and one class. Its rules
    are ops.nms's: a box is dropped when its IoU with a kept box is strictly above the threshold, a
    score must be strictly above score_threshold (the lowest float: -inf drops out), output in
    decreasing score order, ties in index order (onnxruntime's kernel)."""
    from onnxscript import opset18 as op

    selected = op.NonMaxSuppression(op.Unsqueeze(boxes, [0]), op.Unsqueeze(scores, [0, 1]),
                                    op.Constant(value_ints=[max_output]), op.Constant(value_floats=[iou_threshold]),
                                    op.Constant(value_floats=[_LOWEST]))
    return op.Reshape(op.Slice(selected, [2], [3], [1]), [-1])  # (batch, class, box) rows -> box indices


# -- RoIAlign ------------------------------------------------------------------------------------------
def sampling_weights(start: Tensor, bin_size: Tensor, grid: int, pooled: int, size: int) -> Tensor:
    """`ops._sampling_weights` with the same `grid` for every box (a Python int, so no value of a
    tensor decides a shape): (K, pooled, size) weights of the map's rows or columns in each bin."""
    dt, dev = start.dtype, start.device
    p = torch.arange(pooled, dtype=dt, device=dev)[None, :, None]
    i = torch.arange(grid, dtype=dt, device=dev)[None, None, :]
    b = bin_size[:, None, None]
    pos = start[:, None, None] + p * b + (i + 0.5) * b / float(grid)         # (K, pooled, grid)
    ok = (pos >= -1) & (pos <= size)
    pos = torch.where(ok, pos, torch.zeros_like(pos)).clamp(min=0)
    low = pos.floor().long()
    edge = low >= size - 1
    low = torch.where(edge, torch.full_like(low, size - 1), low)
    high = torch.where(edge, low, low + 1)
    frac = torch.where(edge, torch.zeros_like(pos), pos - low.to(dt))
    per = 1 / float(grid)
    w_low = torch.where(ok, (1 - frac) * per, torch.zeros_like(pos))
    w_high = torch.where(ok, frac * per, torch.zeros_like(pos))
    weights = torch.zeros((start.shape[0], pooled, size), dtype=dt, device=dev)
    return weights.scatter_add(2, low, w_low).scatter_add(2, high, w_high)


def align_one_image(features: Tensor, boxes: Tensor, out: int, scale: float, grid: int) -> Tensor:
    """`roi_heads.align_rois` (legacy RoIAlign, aligned=False) for RoIs (K, 4) of the one image of
    `features` (1, C, H, W): (K, C, out, out), by the same two matrix products."""
    _, c, height, width = features.shape
    coords = boxes * scale
    x1, y1 = coords[:, 0], coords[:, 1]
    roi_w = (coords[:, 2] - x1).clamp(min=1)  # legacy RoIAlign: at least one cell
    roi_h = (coords[:, 3] - y1).clamp(min=1)
    wy = sampling_weights(y1, roi_h / out, grid, out, height)                  # (K, out, H)
    wx = sampling_weights(x1, roi_w / out, grid, out, width)                   # (K, out, W)
    if c == 1:
        return (wy @ features[0, 0] @ wx.transpose(1, 2))[:, None]
    rows = wy.reshape(-1, height) @ features[0].permute(1, 0, 2).reshape(height, c * width)  # (K * out, C * W)
    cols = rows.view(-1, out * c, width) @ wx.transpose(1, 2)                  # (K, out * C, out)
    return cols.view(-1, out, c, out).permute(0, 2, 1, 3)


# -- the graph -----------------------------------------------------------------------------------------
def check_exportable(model: nn.Module) -> None:
    """`UnsupportedDetector` naming the part of `model` that has no exportable form, and why."""
    name = type(model).__name__
    if getattr(model, "needs_proposals", False):
        raise UnsupportedDetector(
            f"{name} cannot be exported: its proposals come from selective search (scikit-image's "
            f"segmentation and a Python grouping loop in classicnets.detection.proposals), which runs "
            f"outside the network; Faster R-CNN and Mask R-CNN make their proposals in the network and export")
    if not all(hasattr(model, part) for part in ("backbone", "rpn", "roi_heads")):
        raise UnsupportedDetector(f"{name} is not a Faster R-CNN-style detector (backbone, rpn, roi_heads); "
                                  f"only those have an exportable inference path")
    cfg = model.roi_heads.config
    if cfg.pool != "align":
        raise UnsupportedDetector(
            f"{name}'s RoI max pooling (pool='pool') cannot be exported: each bin's extent comes from "
            f"rounding its box's coordinates, so the pooled window sizes depend on the data; train with "
            f"pool='align' (RoIAlign) to export")
    if cfg.sampling_ratio <= 0:
        raise UnsupportedDetector(
            f"{name}'s adaptive RoIAlign (sampling_ratio={cfg.sampling_ratio}) cannot be exported: the "
            f"number of samples per bin depends on each box's size; use a fixed sampling_ratio")


class DetectorGraph(nn.Module):
    """One image (1, C, H, W) -> boxes (D, 4), labels (D,), scores (D,) [, masks (D, H, W)], as the
    eval-mode `model(images)[0]`; `torchscript=True` runs NMS as the scripted loop, else as the
    `classicnets::nms` operator that the ONNX export translates."""

    def __init__(self, model: nn.Module, input_shape: tuple[int, int, int], *, torchscript: bool):
        super().__init__()
        check_exportable(model)
        self.model = model
        self.image_size = (int(input_shape[1]), int(input_shape[2]))
        self.torchscript = torchscript
        self.has_masks = model.roi_heads.mask_head is not None
        with torch.no_grad():  # the feature map's size at this image size fixes the anchors: constants
            param = next(model.parameters())
            h, w = model.backbone(param.new_zeros((1, *input_shape))).shape[-2:]
            self.register_buffer("anchors", model.rpn.anchors((h, w), param.device).clone(), persistent=False)

    def _nms(self, boxes: Tensor, scores: Tensor, iou_threshold: float, max_output: int) -> Tensor:
        if self.torchscript:  # a call to a scripted function: the trace keeps its loop
            return scripted_nms_loop()(boxes, scores, iou_threshold, max_output)
        return torch.ops.classicnets.nms(boxes, scores, iou_threshold, max_output)

    def proposals(self, features: Tensor) -> Tensor:
        """`RegionProposalNetwork.forward` + `filter_proposals` at test time for one image: (P, 4)."""
        rpn = self.model.rpn
        cfg = rpn.config
        logits, deltas = rpn.head(features)
        _, a, h, w = logits.shape
        objectness = logits.permute(0, 2, 3, 1).reshape(-1)                         # (N,), anchor order
        deltas = deltas.view(1, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(-1, 4)   # (N, 4)
        boxes = apply_deltas(deltas, self.anchors, (1.0, 1.0, 1.0, 1.0))
        k = min(cfg.pre_nms_top_n[1], objectness.shape[0])
        top, idx = objectness.topk(k)
        boxes = boxes[idx]
        height, width = self.image_size
        boxes = torch.stack((boxes[:, 0].clamp(0, width), boxes[:, 1].clamp(0, height),
                             boxes[:, 2].clamp(0, width), boxes[:, 3].clamp(0, height)), -1)
        ok = ((boxes[:, 2] - boxes[:, 0]) >= cfg.min_size) & ((boxes[:, 3] - boxes[:, 1]) >= cfg.min_size)
        top = torch.where(ok, top, torch.full_like(top, float("-inf")))
        return boxes[self._nms(boxes, top, cfg.nms_threshold, cfg.post_nms_top_n[1])]

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        from ..detection.roi_heads import BOX_WEIGHTS

        heads = self.model.roi_heads
        cfg, k, scale = heads.config, heads.num_classes, 1 / heads.stride
        features = self.model.backbone(images)
        rois = self.proposals(features)                                              # (P, 4)
        pooled = align_one_image(features, rois, cfg.pool_size, scale, cfg.sampling_ratio)
        logits, deltas = heads.box_predictor(heads.box_head(pooled))
        scores = F.softmax(logits, -1)[:, 1:].reshape(-1)                           # (P * K,) no background
        boxes = apply_deltas(deltas, rois, BOX_WEIGHTS).view(-1, k + 1, 4)[:, 1:].reshape(-1, 4)
        labels = torch.arange(k, device=boxes.device).repeat(rois.shape[0])          # (P * K,)
        height, width = self.image_size
        boxes = torch.stack((boxes[:, 0].clamp(0, width), boxes[:, 1].clamp(0, height),
                             boxes[:, 2].clamp(0, width), boxes[:, 3].clamp(0, height)), -1)
        ok = (scores > cfg.score_threshold) & ((boxes[:, 2] - boxes[:, 0]) >= 1e-2) \
            & ((boxes[:, 3] - boxes[:, 1]) >= 1e-2)
        # ops.batched_nms's shift, its extent taken over the boxes that pass (all coordinates >= 0 here)
        extent = torch.where(ok[:, None], boxes, torch.zeros_like(boxes)).max() + 1
        shifted = boxes + (labels.to(boxes) * extent)[:, None]
        keep = self._nms(shifted, torch.where(ok, scores, torch.full_like(scores, float("-inf"))),
                         cfg.nms_threshold, cfg.detections_per_image)
        out = (boxes[keep], labels[keep], scores[keep])
        if heads.mask_head is None:
            return out
        return (*out, self.masks(features, out[0], out[1]))

    def masks(self, features: Tensor, boxes: Tensor, labels: Tensor) -> Tensor:
        """The mask head on the detections, the detected class's mask pasted into the image (D, H, W):
        `RoIHeads.detect`'s mask step and `paste_masks` in one `grid_sample` call."""
        heads = self.model.roi_heads
        x = align_one_image(features, boxes, heads.config.mask_pool_size, 1 / heads.stride, 2)
        logits = heads.mask_predictor(heads.mask_head(x))                            # (D, K, M, M)
        probs = torch.sigmoid(logits.gather(1, labels[:, None, None, None].expand(-1, 1, *logits.shape[2:])))
        height, width = self.image_size
        xs = torch.arange(width, device=boxes.device, dtype=probs.dtype) + 0.5
        ys = torch.arange(height, device=boxes.device, dtype=probs.dtype) + 0.5
        w = (boxes[:, 2] - boxes[:, 0]).clamp(min=1e-6)[:, None]
        h = (boxes[:, 3] - boxes[:, 1]).clamp(min=1e-6)[:, None]
        u = (xs[None] - boxes[:, :1]) / w * 2 - 1                                    # (D, W)
        v = (ys[None] - boxes[:, 1:2]) / h * 2 - 1                                   # (D, H)
        grid = torch.stack((u[:, None, :].expand(-1, height, -1), v[:, :, None].expand(-1, -1, width)), -1)
        pasted = F.grid_sample(probs, grid, mode="bilinear", padding_mode="border", align_corners=False)[:, 0]
        inside = (u.abs() <= 1)[:, None, :] & (v.abs() <= 1)[:, :, None]
        return pasted * inside
