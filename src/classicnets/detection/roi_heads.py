"""The heads that run once per region of interest, shared by Fast R-CNN, Faster R-CNN and Mask R-CNN.

- The box head (Girshick 2015, "Fast R-CNN", ICCV, section 2 and figure 1): each RoI's features are
  pooled to a fixed grid (RoI max pooling, section 2.1, or Mask R-CNN's RoIAlign), flattened through
  two fully connected layers (`fc6`, `fc7`), then two siblings: softmax scores over K + 1 classes
  (background is class 0) and one box regression (tx, ty, tw, th) per class. Training (section 2.3):
  each image contributes `batch_per_image` RoIs (the paper: 64), at most a quarter foreground (IoU
  >= 0.5 with a ground-truth box, which then gives the RoI its class and box), the rest background
  (best IoU in [bg_iou_low, 0.5); the paper uses 0.1, torchvision 0.0); the ground-truth boxes join
  the proposals. Loss (equation 1): cross-entropy over the classes plus smooth L1 on the true
  class's deltas of the foreground RoIs, as torchvision computes it (targets weighted (10, 10, 5,
  5), beta 1/9, summed and divided by the sampled RoIs). Detection: per class, softmax score above
  0.05, the class's box decoded and clipped, NMS at 0.3-0.5 within the class, the best 100 kept.
- The mask head (He, Gkioxari, Dollár & Girshick 2017, "Mask R-CNN", ICCV, section 3 and figure 4
  right): RoIAlign to 14x14, four 3x3 convolutions of 256 filters, a 2x2 stride-2 deconvolution to
  28x28 and a 1x1 convolution to one mask per class. The loss is the average binary cross-entropy of
  the ground-truth class's mask on the foreground RoIs, against the ground-truth mask cropped to the
  RoI and resampled to 28x28 (RoIAlign of the mask). At test time the head runs on the final
  detections, and the mask of the detected class is pasted into the image (bilinear resampling of
  the 28x28 probabilities onto the box's pixels, zero outside it).

Sizes (pooled grids, widths, layers, RoIs per image) are `RoIConfig` fields, the paper's by default.
Layer names follow torchvision's (`box_head.fc6`, `box_predictor.cls_score`, `mask_head.mask_fcn1`,
`mask_predictor.mask_fcn_logits`), so weights map key for key. All images of a batch are handled
together: one RoI pooling call, one head call, one NMS call (the image and class keep boxes apart);
only the matching of proposals to each image's few ground-truth boxes loops over images.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from .ops import batched_nms, box_iou, decode_boxes, encode_boxes, match_boxes, roi_align, roi_pool, sample_labels
from .rpn import SMOOTH_L1_BETA, split_per_image

BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)  # the box head's target scaling (torchvision; Fast R-CNN's target normalisation)


@dataclass
class RoIConfig:
    """The RoI heads' pooling, training sample and detection filter; defaults are Fast R-CNN's (VGG-16)."""

    pool: str = "align"             # "pool" (Fast R-CNN's RoI max pooling) or "align" (Mask R-CNN's RoIAlign)
    pool_size: int = 7              # pooled grid of the box head, cells per side
    sampling_ratio: int = 2         # RoIAlign: samples per bin along each axis
    hidden: int = 4096              # width of fc6 and fc7 (VGG-16's; torchvision's FPN heads use 1024)
    fg_iou: float = 0.5             # IoU with a ground-truth box that makes a RoI foreground
    bg_iou_low: float = 0.0         # RoIs whose best IoU is below this are left out (the paper: 0.1)
    batch_per_image: int = 64       # RoIs per image in the loss (the paper: 128 over 2 images)
    positive_fraction: float = 0.25
    score_threshold: float = 0.05   # detections: class probability above this
    nms_threshold: float = 0.5      # detections: NMS IoU within a class
    detections_per_image: int = 100
    mask_pool_size: int = 14        # mask head's RoIAlign grid, cells per side; masks are twice as fine (28x28)
    mask_channels: int = 256        # filters of the mask head's convolutions
    mask_layers: int = 4            # 3x3 convolutions of the mask head before its deconvolution


class BoxHead(nn.Module):
    """Fast R-CNN's fc6 and fc7 on the flattened pooled features: (R, C, p, p) -> (R, hidden)."""

    def __init__(self, in_features: int, hidden: int):
        super().__init__()
        self.fc6 = nn.Linear(in_features, hidden)
        self.fc7 = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc7(F.relu(self.fc6(x.flatten(1)))))


class BoxPredictor(nn.Module):
    """The two siblings: class scores (R, K + 1) and per-class box deltas (R, 4 (K + 1))."""

    def __init__(self, hidden: int, num_classes: int):
        super().__init__()
        self.cls_score = nn.Linear(hidden, num_classes + 1)
        self.bbox_pred = nn.Linear(hidden, 4 * (num_classes + 1))
        nn.init.normal_(self.cls_score.weight, std=0.01)  # the paper's initialisation (section 2.3)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cls_score(x), self.bbox_pred(x)


class MaskHead(nn.Sequential):
    """Mask R-CNN's four 3x3 convolutions (figure 4, right): (R, C, 14, 14) -> (R, channels, 14, 14)."""

    def __init__(self, in_channels: int, channels: int = 256, layers: int = 4):
        mods = []
        for i in range(layers):
            mods += [(f"mask_fcn{i + 1}", nn.Conv2d(in_channels if i == 0 else channels, channels, 3, padding=1)),
                     (f"relu{i + 1}", nn.ReLU(inplace=True))]
        super().__init__(OrderedDict(mods))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)


class MaskPredictor(nn.Module):
    """2x2 stride-2 deconvolution and a 1x1 convolution: (R, channels, 14, 14) -> (R, K, 28, 28) mask logits."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.conv5_mask = nn.ConvTranspose2d(channels, channels, 2, 2)
        self.mask_fcn_logits = nn.Conv2d(channels, num_classes, 1)
        for m in (self.conv5_mask, self.mask_fcn_logits):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mask_fcn_logits(F.relu(self.conv5_mask(x)))


def select_detections(boxes: torch.Tensor, scores: torch.Tensor, image: torch.Tensor, n_images: int,
                      image_size: tuple[int, int], cfg) -> list[dict[str, torch.Tensor]]:
    """The detections of `n_images` images from per-class boxes (R, K, 4) and scores (R, K) of R regions
    (`image`: (R,) each region's image): boxes clipped to the image, kept above `cfg.score_threshold`
    and at least 0.01 pixel wide and tall, per-class NMS within each image at `cfg.nms_threshold`,
    the best `cfg.detections_per_image` of each image (R-CNN's and Fast R-CNN's test-time rule)."""
    k = scores.shape[1]
    height, width = image_size
    boxes = torch.stack((boxes[..., 0].clamp(0, width), boxes[..., 1].clamp(0, height),
                         boxes[..., 2].clamp(0, width), boxes[..., 3].clamp(0, height)), -1)
    labels = torch.arange(k, device=boxes.device).expand(len(boxes), k)
    image = image[:, None].expand(len(boxes), k)
    ok = (scores > cfg.score_threshold) & ((boxes[..., 2] - boxes[..., 0]) >= 1e-2) \
        & ((boxes[..., 3] - boxes[..., 1]) >= 1e-2)
    boxes, scores, labels, image = boxes[ok], scores[ok], labels[ok], image[ok]
    keep = batched_nms(boxes, scores, image * k + labels, cfg.nms_threshold)                # by decreasing score
    per_image = split_per_image(boxes[keep], image[keep], n_images, cfg.detections_per_image, scores[keep],
                                labels[keep])
    return [{"boxes": bx, "labels": lab, "scores": s} for bx, s, lab in per_image]


class RoIHeads(nn.Module):
    """Box head (and mask head with `masks=True`) on the RoIs of a feature map of `stride` pixels per cell."""

    def __init__(self, in_channels: int, stride: int, num_classes: int, config: RoIConfig | None = None,
                 masks: bool = False):
        super().__init__()
        cfg = self.config = config or RoIConfig()
        if cfg.pool not in ("pool", "align"):
            raise UserError(f"RoI pooling must be 'pool' (RoI max pooling) or 'align' (RoIAlign); got {cfg.pool!r}")
        self.stride, self.num_classes = stride, num_classes
        self.box_head = BoxHead(in_channels * cfg.pool_size ** 2, cfg.hidden)
        self.box_predictor = BoxPredictor(cfg.hidden, num_classes)
        self.mask_head = MaskHead(in_channels, cfg.mask_channels, cfg.mask_layers) if masks else None
        self.mask_predictor = MaskPredictor(cfg.mask_channels, num_classes) if masks else None

    # -- pooling ----------------------------------------------------------------------------------
    def pool_boxes(self, features: torch.Tensor, rois: Sequence[torch.Tensor]) -> torch.Tensor:
        """(R, C, p, p) features of the RoIs (one (L, 4) tensor per image), in order."""
        cfg = self.config
        if cfg.pool == "pool":
            return roi_pool(features, list(rois), cfg.pool_size, 1 / self.stride)
        return roi_align(features, list(rois), cfg.pool_size, 1 / self.stride, cfg.sampling_ratio)

    def mask_logits(self, features: torch.Tensor, rois: Sequence[torch.Tensor]) -> torch.Tensor:
        """(R, K, 2p, 2p) mask logits of the RoIs."""
        x = roi_align(features, list(rois), self.config.mask_pool_size, 1 / self.stride, 2)
        return self.mask_predictor(self.mask_head(x))

    # -- training ---------------------------------------------------------------------------------
    def sample(self, proposals: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]]):
        """Section 2.3's minibatch: per image, the sampled RoIs (the ground truth included), their
        labels (0 background, c + 1 for data-set class c) and the index of the ground-truth box each
        foreground RoI matched (into the batch's boxes, images concatenated)."""
        cfg = self.config
        rois, labels, matched, offset = [], [], [], 0
        for p, t in zip(proposals, targets):
            gt, gt_labels = t["boxes"].to(p), t["labels"]
            p = torch.cat([p, gt])
            if len(gt):
                iou = box_iou(gt, p)                                                     # (G, P)
                m = match_boxes(iou, cfg.fg_iou, cfg.fg_iou, allow_low_quality=False)  # >= fg or -1
                lab = torch.where(m >= 0, gt_labels[m.clamp(min=0)] + 1, 0)
                lab[(m < 0) & (iou.max(0).values < cfg.bg_iou_low)] = -1                 # too far: left out
            else:
                m = torch.full((len(p),), -1, dtype=torch.int64, device=p.device)
                lab = torch.zeros(len(p), dtype=torch.int64, device=p.device)
            pos, neg = sample_labels(lab, cfg.batch_per_image, cfg.positive_fraction)
            keep = torch.nonzero(pos | neg).flatten()
            rois.append(p[keep])
            labels.append(torch.where(pos[keep], lab[keep], 0))
            matched.append(torch.where(pos[keep], m[keep] + offset, -1))
            offset += len(gt)
        return rois, torch.cat(labels), torch.cat(matched)

    def loss(self, features: torch.Tensor, proposals: Sequence[torch.Tensor],
             targets: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """"cls" and "box" (equation 1 of Fast R-CNN), and "mask" with a mask head."""
        with torch.no_grad():
            rois, labels, matched = self.sample(proposals, targets)
        logits, deltas = self.box_predictor(self.box_head(self.pool_boxes(features, rois)))
        gt_boxes = torch.cat([t["boxes"] for t in targets]).to(features)
        roi_boxes = torch.cat(rois)
        fg = torch.nonzero(labels > 0).flatten()
        targets_fg = encode_boxes(gt_boxes[matched[fg]], roi_boxes[fg], BOX_WEIGHTS)          # (F, 4)
        deltas_fg = deltas.view(len(deltas), -1, 4)[fg, labels[fg]]                           # (F, 4)
        losses = {"cls": F.cross_entropy(logits, labels),
                  "box": F.smooth_l1_loss(deltas_fg, targets_fg, beta=SMOOTH_L1_BETA, reduction="sum")
                  / max(len(labels), 1)}
        if self.mask_head is not None:
            losses["mask"] = self.mask_loss(features, rois, labels, matched, targets)
        return losses

    def mask_loss(self, features: torch.Tensor, rois: Sequence[torch.Tensor], labels: torch.Tensor,
                  matched: torch.Tensor, targets: Sequence[dict[str, torch.Tensor]]) -> torch.Tensor:
        """Binary cross-entropy of the true class's mask (2p x 2p: the paper's 28x28) on the foreground
        RoIs, against each matched ground-truth mask cropped to the RoI and resampled by RoIAlign
        (torchvision's project_masks_on_boxes)."""
        if any("masks" not in t for t in targets):
            raise UserError("Mask R-CNN needs a 'masks' entry (K, H, W) in every target; this data set has none")
        fg_rois = [r[lab > 0] for r, lab in zip(rois, labels.split([len(r) for r in rois]))]
        fg = labels > 0
        logits = self.mask_logits(features, fg_rois)                                       # (F, K, M, M)
        if not len(logits):
            return logits.sum() * 0  # no foreground RoI: a zero that still reaches the head's weights
        m = logits.shape[-1]
        gt_masks = torch.cat([t["masks"] for t in targets])[:, None].to(features)         # (G, 1, H, W)
        crop = torch.cat([matched[fg, None].to(features), torch.cat(fg_rois)], 1)         # (F, 5): mask index, box
        mask_targets = roi_align(gt_masks, crop, m, 1.0)[:, 0]                             # (F, M, M) in [0, 1]
        picked = logits[torch.arange(len(logits), device=logits.device), labels[fg] - 1]  # (F, M, M)
        return F.binary_cross_entropy_with_logits(picked, mask_targets)

    # -- detection --------------------------------------------------------------------------------
    def detect(self, features: torch.Tensor, proposals: Sequence[torch.Tensor],
               image_size: Sequence[int]) -> list[dict[str, torch.Tensor]]:
        """Boxes, 0-based labels, scores (and pasted masks) per image, all images at once."""
        cfg, k = self.config, self.num_classes
        b = len(proposals)
        logits, deltas = self.box_predictor(self.box_head(self.pool_boxes(features, proposals)))
        rois = torch.cat(list(proposals)).to(deltas)
        image = torch.repeat_interleave(torch.arange(b, device=rois.device),
                                        torch.tensor([len(p) for p in proposals], device=rois.device))
        scores = F.softmax(logits, -1)[:, 1:]                                               # (R, K) no background
        boxes = decode_boxes(deltas, rois, BOX_WEIGHTS).view(len(rois), k + 1, 4)[:, 1:]     # (R, K, 4)
        out = select_detections(boxes, scores, image, b, image_size, cfg)
        if self.mask_head is not None:
            logits = self.mask_logits(features, [d["boxes"] for d in out])                  # (D, K, M, M)
            labels_all = torch.cat([d["labels"] for d in out])
            probs = torch.sigmoid(logits[torch.arange(len(logits), device=logits.device), labels_all])
            pasted = paste_masks(probs, torch.cat([d["boxes"] for d in out]), image_size)
            for d, m in zip(out, pasted.split([len(d["boxes"]) for d in out])):
                d["masks"] = m
        return out

    def trace(self, features: torch.Tensor, image_size: Sequence[int]) -> list[dict[str, torch.Tensor]]:
        """The heads on one RoI per image, with no data-dependent step (no matching, no NMS): what a
        summary runs on the meta device, where boxes have no values. Head rows then count one RoI."""
        cfg, b, c = self.config, len(features), features.shape[1]
        p = features.new_zeros((b, c, cfg.pool_size, cfg.pool_size))
        logits, deltas = self.box_predictor(self.box_head(p))
        out = [{"boxes": deltas[i:i + 1, :4], "labels": logits[i:i + 1, 0].long(), "scores": logits[i:i + 1, 0]}
               for i in range(b)]
        if self.mask_head is not None:
            m = features.new_zeros((b, c, cfg.mask_pool_size, cfg.mask_pool_size))
            masks = self.mask_predictor(self.mask_head(m))
            for d in out:
                d["masks"] = masks.new_zeros((1, *image_size))
        return out


def paste_masks(masks: torch.Tensor, boxes: torch.Tensor, image_size: Sequence[int]) -> torch.Tensor:
    """(D, H, W) image-sized masks from (D, M, M) box-relative ones: pixel (x, y) of the image reads
    the mask bilinearly at its centre's place in the box ((x + 0.5 - x1) / width * M - 0.5 cells);
    pixels whose centre lies outside the box get 0. One `grid_sample` for all boxes (in chunks)."""
    height, width = image_size
    d = len(masks)
    out = masks.new_zeros((d, height, width))
    if d == 0:
        return out
    xs = torch.arange(width, device=masks.device, dtype=masks.dtype) + 0.5
    ys = torch.arange(height, device=masks.device, dtype=masks.dtype) + 0.5
    step = max(1, (1 << 22) // (height * width))
    for i in range(0, d, step):
        bx = boxes[i:i + step].to(masks.dtype)
        w = (bx[:, 2] - bx[:, 0]).clamp(min=1e-6)[:, None]
        h = (bx[:, 3] - bx[:, 1]).clamp(min=1e-6)[:, None]
        u = (xs[None] - bx[:, :1]) / w * 2 - 1                                             # (n, W) in [-1, 1] inside
        v = (ys[None] - bx[:, 1:2]) / h * 2 - 1                                            # (n, H)
        grid = torch.stack(torch.broadcast_tensors(u[:, None, :], v[:, :, None]), -1)      # (n, H, W, 2)
        pasted = F.grid_sample(masks[i:i + step, None], grid, mode="bilinear", padding_mode="border",
                               align_corners=False)[:, 0]
        inside = (u.abs() <= 1)[:, None, :] & (v.abs() <= 1)[:, :, None]
        out[i:i + step] = pasted * inside
    return out
