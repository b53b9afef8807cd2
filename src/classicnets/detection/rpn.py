"""The Region Proposal Network: Ren, He, Girshick & Sun (2015), "Faster R-CNN: towards real-time object
detection with region proposal networks", NIPS, section 3.1.

A 3x3 convolution slides over the backbone's feature map; at every cell two sibling 1x1
convolutions score A anchors (boxes of `anchor_sizes` x `aspect_ratios` centred on the cell) as
object or not and regress each anchor's box (tx, ty, tw, th) (section 3.1.1, figure 3). Training
(section 3.1.3): an anchor is positive with IoU >= 0.7 to a ground-truth box or as some box's best
anchor, negative below 0.3 with every box, else ignored; 256 anchors per image are sampled, at most
half positive; the loss is binary cross-entropy on objectness plus smooth L1 on the positives'
deltas (equation 1), as torchvision computes them (beta 1/9, summed and divided by the sample).
Proposals: the best `pre_nms_top_n` anchors by objectness, decoded, clipped to the image, tiny ones
dropped, non-maximum suppression at IoU 0.7, the best `post_nms_top_n` kept (the paper: 2,000 in
training, 300 at test time). Gradients do not flow through the proposals into the RoI heads
(approximate joint training, section 3.2).

Design follows torchvision's models/detection/rpn.py; the operators are `detection.ops`'.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .ops import BETWEEN_THRESHOLDS, box_iou, decode_boxes, encode_boxes, make_anchors, match_boxes, sample_labels

SMOOTH_L1_BETA = 1 / 9  # torchvision's RPN and box-head loss: quadratic below 1/9, linear above


@dataclass
class RPNConfig:
    """The RPN's anchors, training sample and proposal filter; defaults are the paper's (VOC, VGG-16)."""

    anchor_sizes: tuple[float, ...] = (128.0, 256.0, 512.0)  # anchor side (square root of its area), pixels
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)       # anchor height / width
    fg_iou: float = 0.7              # IoU with a ground-truth box that makes an anchor positive
    bg_iou: float = 0.3              # best IoU below which an anchor is negative
    batch_per_image: int = 256       # anchors per image in the loss
    positive_fraction: float = 0.5   # at most this share of them positive
    pre_nms_top_n: tuple[int, int] = (12000, 6000)  # best anchors per image kept before NMS: (training, test)
    post_nms_top_n: tuple[int, int] = (2000, 300)   # proposals per image after NMS: (training, test)
    nms_threshold: float = 0.7
    min_size: float = 1e-3           # proposals narrower or shorter than this (pixels) are dropped

    @property
    def num_anchors(self) -> int:
        return len(self.anchor_sizes) * len(self.aspect_ratios)


class RPNHead(nn.Module):
    """3x3 conv + ReLU, then objectness (A per cell) and box deltas (4A per cell), as 1x1 convolutions."""

    def __init__(self, in_channels: int, num_anchors: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, 4 * num_anchors, 1)
        for layer in (self.conv, self.cls_logits, self.bbox_pred):  # the paper: N(0, 0.01), zero bias
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = F.relu(self.conv(x))
        return self.cls_logits(t), self.bbox_pred(t)  # (B, A, H, W), (B, 4A, H, W)


class RegionProposalNetwork(nn.Module):
    """Proposals (one (P, 4) tensor per image) and, in training, the RPN's two losses."""

    def __init__(self, in_channels: int, stride: int, config: RPNConfig | None = None):
        super().__init__()
        self.config = config or RPNConfig()
        self.stride = stride
        self.head = RPNHead(in_channels, self.config.num_anchors)
        self._anchors: dict[tuple, torch.Tensor] = {}

    def anchors(self, feature_size: Sequence[int], device: torch.device) -> torch.Tensor:
        """(H * W * A, 4) anchors of a feature map, cells row by row, then the A anchors of a cell."""
        key = (tuple(feature_size), str(device))
        if key not in self._anchors:
            self._anchors[key] = make_anchors(tuple(feature_size), self.stride, self.config.anchor_sizes,
                                              self.config.aspect_ratios, device=device)
        return self._anchors[key]

    def forward(self, features: torch.Tensor, image_size: Sequence[int],
                targets: Sequence[dict[str, torch.Tensor]] | None = None
                ) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        logits, deltas = self.head(features)
        b, a, h, w = logits.shape
        objectness = logits.permute(0, 2, 3, 1).reshape(b, h * w * a)                  # (B, N), anchor order
        deltas = deltas.view(b, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(b, h * w * a, 4)  # (B, N, 4)
        anchors = self.anchors((h, w), features.device)                              # (N, 4)
        with torch.no_grad():
            boxes = decode_boxes(deltas.detach().reshape(-1, 4), anchors.repeat(b, 1)).view(b, -1, 4)
            proposals = self.filter_proposals(boxes, objectness.detach(), image_size)
        losses = {}
        if self.training:
            losses = self.loss(objectness, deltas, anchors, targets)
        return proposals, losses

    def filter_proposals(self, boxes: torch.Tensor, scores: torch.Tensor,
                         image_size: Sequence[int]) -> list[torch.Tensor]:
        """The best-scoring boxes (B, N, 4) of each image after clipping and NMS, every image at once."""
        cfg, phase = self.config, 0 if self.training else 1
        b, n = scores.shape
        k = min(cfg.pre_nms_top_n[phase], n)
        top, idx = scores.topk(k, dim=1)                                             # (B, k), best first
        boxes = boxes.gather(1, idx[..., None].expand(b, k, 4))
        height, width = image_size
        boxes = torch.stack((boxes[..., 0].clamp(0, width), boxes[..., 1].clamp(0, height),
                             boxes[..., 2].clamp(0, width), boxes[..., 3].clamp(0, height)), -1)
        ok = ((boxes[..., 2] - boxes[..., 0]) >= cfg.min_size) & ((boxes[..., 3] - boxes[..., 1]) >= cfg.min_size)
        keep = nms_per_image(boxes, ok, cfg.nms_threshold)
        keep &= torch.cumsum(keep, 1) <= cfg.post_nms_top_n[phase]                  # the best post_nms_top_n
        return list(boxes[keep].split(keep.sum(1).tolist()))

    def loss(self, objectness: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor,
             targets: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Section 3.1.3's sample and loss: "rpn_objectness" (binary cross-entropy over the sampled
        anchors) and "rpn_box" (smooth L1 over the positives' deltas, divided by the sample size)."""
        cfg = self.config
        labels, regression = [], []
        with torch.no_grad():
            for t in targets:  # one small matching per image; the loss below is one call for the batch
                gt = t["boxes"].to(anchors)
                if len(gt):
                    matches = match_boxes(box_iou(gt, anchors), cfg.fg_iou, cfg.bg_iou, allow_low_quality=True)
                    lab = (matches >= 0).to(torch.int64)
                    lab[matches == BETWEEN_THRESHOLDS] = -1
                    matched = gt[matches.clamp(min=0)]
                else:
                    lab = torch.zeros(len(anchors), dtype=torch.int64, device=anchors.device)
                    matched = anchors
                pos, neg = sample_labels(lab, cfg.batch_per_image, cfg.positive_fraction)
                lab = torch.where(pos, 1, torch.where(neg, 0, -1))
                labels.append(lab)
                regression.append(encode_boxes(matched, anchors) if len(gt) else torch.zeros_like(anchors))
            labels_t = torch.stack(labels)                                       # (B, N): 1, 0, or -1 (unused)
            regression_t = torch.stack(regression)                               # (B, N, 4)
        sampled = labels_t >= 0
        positive = labels_t == 1
        n_sampled = max(int(sampled.sum()), 1)
        objectness_loss = F.binary_cross_entropy_with_logits(objectness[sampled], labels_t[sampled].to(objectness))
        box_loss = F.smooth_l1_loss(deltas[positive], regression_t[positive], beta=SMOOTH_L1_BETA,
                                    reduction="sum") / n_sampled
        return {"rpn_objectness": objectness_loss, "rpn_box": box_loss}


def nms_per_image(boxes: torch.Tensor, valid: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """(B, k) bool: which of each image's boxes (B, k, 4), ranked best first, greedy NMS keeps
    (`ops.nms`, strict threshold), with `valid` (B, k) marking the boxes taking part. All images in
    one set of (B, k, k) tensor operations: a box is kept once no live box ranked above it overlaps
    it, and drops the boxes it overlaps; each pass settles at least one box per image."""
    lt = torch.maximum(boxes[:, :, None, :2], boxes[:, None, :, :2])
    rb = torch.minimum(boxes[:, :, None, 2:], boxes[:, None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]                                                   # (B, k, k)
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    over = (inter / (area[:, :, None] + area[:, None, :] - inter) > iou_threshold).triu(1)  # i above j, overlapping
    keep = torch.zeros_like(valid)
    alive = valid.clone()
    while bool(alive.any()):
        free = alive & ~(over & alive[:, :, None]).any(1)
        keep |= free
        alive &= ~free & ~(over & free[:, :, None]).any(1)
    return keep


def split_per_image(boxes: torch.Tensor, image: torch.Tensor, num_images: int, top_n: int,
                    *extra: torch.Tensor) -> list:
    """Rows of `boxes` (sorted by decreasing score) grouped by `image`, at most `top_n` per image, in
    score order: one tensor per image (or, with `extra` tensors of the same rows, one tuple per image)."""
    order = torch.sort(image, stable=True).indices                               # by image, score order kept
    image = image[order]
    counts = torch.bincount(image, minlength=num_images)
    rank = torch.arange(len(image), device=image.device) - (torch.cumsum(counts, 0) - counts)[image]
    sel = order[rank < top_n]
    counts = counts.clamp(max=top_n).tolist()
    parts = [t[sel].split(counts) for t in (boxes, *extra)]
    return list(parts[0]) if not extra else list(zip(*parts))
