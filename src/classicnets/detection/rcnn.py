"""R-CNN: Girshick, Donahue, Darrell & Malik (2014), "Rich feature hierarchies for accurate object
detection and semantic segmentation", CVPR (figure 1, section 2, appendices A-C).

Region proposals (selective search, `proposals.selective_search`), each cropped and warped to a
fixed square and run through a CNN on its own, one backbone pass per proposal, which is the cost
Fast R-CNN removes; the CNN's last hidden layer ("fc7") gives each proposal a feature vector, which
is scored per class and regressed to a tighter box per class; per-class NMS gives the detections.

- Warping (section 2.1, appendix A): the proposal is dilated so that the warped square holds
  `context_padding` pixels of surrounding image on every side (the paper: 16 at 227x227, the default
  here is that fraction of `warp_size`), then resampled bilinearly, anisotropically, to
  `warp_size` x `warp_size`. Where the dilated box leaves the image the crop reads the image mean,
  which after normalisation is 0 (the paper fills with the mean and then subtracts it).
- Backbone: a zoo classifier with its last linear layer removed, so its output is fc7 (its last
  hidden layer): the zoo's `lenet` (32-64 3x3 filters, 128 hidden units: 5.5M multiply-adds per
  region) at 32x32 by default, as digit_boxes' digits are 12-32 pixels; `lenet5` at its own 32x32
  input (0.4M per region, 84-unit fc7) is the cheap option; `alexnet` at 227x227 (the paper's) or
  `vgg16` at 224x224 (the paper's table 3).
- Fine-tuning (section 2.3): each image contributes `roi_batch` regions, a quarter of them
  foreground (IoU >= 0.5 with a ground-truth box: its class), the rest background (best IoU < 0.5),
  with the ground-truth boxes added as proposals; loss "cls" is the (K + 1)-way softmax's
  cross-entropy.
- `classifier="svm"` (section 2.3, "Object category classifiers"): one linear SVM per class on the
  fc7 features, positives the ground-truth boxes of the class only, negatives the regions under
  0.3 IoU with every box of the class, others ignored; hinge loss with positives weighted 2 and an
  L2 penalty (R-CNN's released code: C = 1e-3, positive weight 2). The SVMs are trained on detached
  features, by SGD inside the same minibatches rather than by the paper's hard-negative mining over
  the whole set after fine-tuning, and their hinge loss is added to "cls" (the softmax still
  fine-tunes the CNN). Detection scores are then sigmoid(SVM margin).
- Box regression (appendix C): class-specific deltas (`ops.encode_boxes`) for regions with IoU >= 0.6
  with a ground-truth box. `box_regression="linear"` trains a linear layer jointly with the CNN
  (smooth L1 on targets weighted (10, 10, 5, 5), as the Fast R-CNN heads here);
  `box_regression="ridge"` is the paper's ridge regression: squared loss on detached features plus
  `ridge_l2` times the squared weights, unweighted targets. Loss "box".
- `training="stages"` is the paper's own procedure (section 2.3, appendices B and C; the course,
  000 L255-276): three models trained one after another, the CNN fine-tuned with the softmax alone
  (the engine's epochs), then the per-class SVMs with hard-negative mining, then the ridge box
  regressors, both on the frozen CNN's fc7 features (`rcnn_stages`, run by `finish_training` after
  the last epoch). Its classifier is "svm" and its box regression "ridge" unless told otherwise
  (`classifier="softmax"` keeps the fine-tuned softmax and skips the SVMs). "joint" (the default)
  trains everything in one loop, as described above.
- Detection (section 2.2): per class, scores above `score_threshold`, boxes decoded and clipped,
  greedy NMS at `nms_threshold` (the paper: 0.3), the best `detections_per_image` kept.

Interface (that of every detector here, `detection.base.Detector`): `model(images, targets=None)`,
images (B, C, H, W) float, already normalised; targets one dict per image with "boxes" (K, 4),
"labels" (K,) 0-based data-set classes and optionally "proposals" (P, 4), used when given (also in
eval mode). Without them the model runs selective search on each image, after min-max rescaling it
to 0..255 as uint8 (`base.raw_pixels`: selective search wants raw pixels; normalisation shifted and
scaled them, and this undoes it exactly for an image whose pixels span 0..255, as digit_boxes' do),
keeping the result in an in-memory `ProposalCache` keyed by image content, so later epochs reuse it. Training returns {"cls", "box"};
eval returns one dict per image: "boxes" (D, 4), "labels" (D,) 0-based, "scores" (D,).
`inference_time(model, images)` times a forward per image, selective search and network apart.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from ..zoo.registry import model_info, register_model
from .base import Detector
from .ops import box_iou, decode_boxes, encode_boxes
from .proposals import ProposalCache, SelectiveSearchConfig
from .roi_heads import select_detections
from .rpn import SMOOTH_L1_BETA

LINEAR_BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)  # target scaling of the jointly trained box layer (Fast R-CNN's)
RIDGE_BOX_WEIGHTS = (1.0, 1.0, 1.0, 1.0)     # the paper's ridge regression fits the plain deltas
PAPER_CONTEXT = 16 / 227                     # context padding: 16 pixels of a 227-pixel warp (appendix A)
WARP_SIZES = {"lenet": 32, "lenet5": 32, "alexnet": 227, "zfnet": 224}  # others: the model's own input size


@dataclass
class RCNNConfig:
    """Warping, training sample, heads and detection filter; defaults are the paper's where it gives one."""

    warp_size: int = 32                 # side of the warped square, pixels
    context_padding: float | None = None  # pixels of context around the box in the warp; None: 16/227 of it
    training: str = "joint"             # "joint" (one loop) or "stages" (the paper's three, `rcnn_stages`)
    classifier: str | None = None       # "softmax" (the fine-tuned network's) or "svm" (per-class linear SVMs);
    #                                     None: softmax when joint, svm in stages
    box_regression: str | None = None   # "linear" (joint, smooth L1) or "ridge" (squared loss, detached features;
    #                                     in stages: closed form, stage 3); None: linear when joint, ridge in stages
    fg_iou: float = 0.5                 # fine-tuning: foreground at IoU >= this with a ground-truth box
    bg_iou: float = 0.5                 # fine-tuning: background below this best IoU
    svm_negative_iou: float = 0.3       # SVM negatives: below this IoU with every box of the class
    box_iou: float = 0.6                # box regression: regions with IoU >= this
    roi_batch: int = 64                 # regions per image in the loss (the paper: 128 per image)
    positive_fraction: float = 0.25     # of them at most this share foreground (the paper: 32 of 128)
    svm_l2: float = 1e-3                # SVM weight penalty (joint training's hinge loss)
    svm_positive_weight: float = 2.0    # hinge loss weight of positives
    ridge_l2: float = 1e-3              # ridge regression's weight penalty (joint training)
    svm_c: float = 1e-3                 # stages: each SVM's C (liblinear's; the released code's)
    svm_bias: float = 10.0              # stages: the SVMs' bias feature (liblinear's -B, the code's bias_mult)
    svm_initial_negatives: int = 2000   # stages: the random negatives each SVM starts from
    svm_rounds: int = 10                # stages: hard-negative mining rounds at most
    ridge_lambda: float = 1000.0        # stages: the ridge regressors' lambda without a validation split (the paper's)
    ridge_lambdas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)  # stages: chosen among on validation
    score_threshold: float = 0.05       # detections: class score above this
    nms_threshold: float = 0.3          # detections: greedy NMS IoU within a class (the paper's)
    detections_per_image: int = 100
    chunk: int = 256                    # proposals per backbone call at inference
    proposals: SelectiveSearchConfig = field(default_factory=SelectiveSearchConfig)

    def __post_init__(self):
        if self.training not in ("joint", "stages"):
            raise UserError(f"training must be 'joint' or 'stages'; got {self.training!r}")
        stages = self.training == "stages"
        if self.classifier is None:
            self.classifier = "svm" if stages else "softmax"
        if self.box_regression is None:
            self.box_regression = "ridge" if stages else "linear"
        if stages and self.box_regression != "ridge":
            raise UserError(f"training='stages' fits the box regressors by ridge regression after fine-tuning "
                            f"(stage 3); box_regression={self.box_regression!r} is trained jointly: leave it out")


def feature_backbone(name: str, in_channels: int, warp_size: int) -> tuple[nn.Module, int]:
    """A zoo classifier built for `warp_size` inputs with its last linear layer replaced by an identity:
    (backbone mapping (N, C, S, S) to (N, F) fc7 features, F)."""
    info = model_info(name)
    args = info.arguments()
    kwargs = {"num_classes": 1}
    if "in_channels" in args:
        kwargs["in_channels"] = in_channels
    elif in_channels != info.input_shape[0]:
        raise UserError(f"backbone {name!r} takes {info.input_shape[0]}-channel images; these have {in_channels}")
    if "input_size" in args:
        kwargs["input_size"] = warp_size
    net = info.builder(**kwargs)
    last = None
    for path, module in net.named_modules():
        if isinstance(module, nn.Linear):
            last = path
    if last is None:
        raise UserError(f"backbone {name!r} has no final linear layer to take fc7 features from; choose a "
                        f"classifier with a dense head such as 'lenet', 'alexnet' or 'vgg16'")
    parent_path, _, attr = last.rpartition(".")
    parent = net.get_submodule(parent_path) if parent_path else net
    dim = getattr(parent, attr).in_features
    setattr(parent, attr, nn.Identity())
    return net, dim


class RCNN(Detector):
    """Warped proposals through a CNN, per-class scores and box regression (see the module docstring)."""

    needs_proposals = True

    def __init__(self, num_classes: int, in_channels: int = 1, backbone: str = "lenet",
                 config: RCNNConfig | None = None):
        super().__init__()
        cfg = self.config = config or RCNNConfig()
        if cfg.classifier not in ("softmax", "svm"):
            raise UserError(f"classifier must be 'softmax' or 'svm'; got {cfg.classifier!r}")
        if cfg.box_regression not in ("linear", "ridge"):
            raise UserError(f"box_regression must be 'linear' or 'ridge'; got {cfg.box_regression!r}")
        pad = cfg.context_padding if cfg.context_padding is not None else PAPER_CONTEXT * cfg.warp_size
        if not 0 <= 2 * pad < cfg.warp_size:
            raise UserError(f"context padding must leave room for the box: 0 <= 2 * padding < warp size "
                            f"{cfg.warp_size}; got {pad}")
        self.num_classes, self.in_channels, self.padding = num_classes, in_channels, float(pad)
        self.backbone, dim = feature_backbone(backbone, in_channels, cfg.warp_size)
        self.cls_score = nn.Linear(dim, num_classes + 1)                             # softmax, background 0
        self.svm = nn.Linear(dim, num_classes) if cfg.classifier == "svm" else None  # one-vs-rest margins
        self.bbox_pred = nn.Linear(dim, 4 * num_classes)                             # per class, no background
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.zeros_(self.cls_score.bias)
        if cfg.training == "joint":
            nn.init.normal_(self.bbox_pred.weight, std=0.001)
        else:  # stages: the proposals' own boxes until stage 3 fits the regressors
            nn.init.zeros_(self.bbox_pred.weight)
        nn.init.zeros_(self.bbox_pred.bias)
        self.proposal_cache = ProposalCache()
        if cfg.training == "stages":  # 1 fine-tuned, 2 SVMs trained, 3 box regressors fitted: saved with the weights
            self.register_buffer("stage", torch.tensor(1))

    @property
    def staged(self) -> bool:
        return self.config.training == "stages"

    def finish_training(self, train, val=None, *, seed: int = 0, log=lambda s: None) -> bool:
        """Stages 2 and 3 (the SVMs, the box regressors) on the fine-tuned CNN, from the (images,
        targets) batches `train` and `val` (see `rcnn_stages`); the training engine calls this after
        its epochs. Whether the model changed: only with training="stages"."""
        if not self.staged:
            return False
        from .rcnn_stages import fit_stages
        fit_stages(self, train, val, seed=seed, log=log)
        return True

    @property
    def proposal_config(self) -> SelectiveSearchConfig:
        """The selective-search options proposals for this model are computed with (the training
        engine computes a split's proposals once with them, through a `ProposalCache`)."""
        return self.config.proposals

    @property
    def box_weights(self) -> tuple[float, float, float, float]:
        return LINEAR_BOX_WEIGHTS if self.config.box_regression == "linear" else RIDGE_BOX_WEIGHTS

    # -- regions ----------------------------------------------------------------------------------
    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        return images  # each region is cropped from the image and warped before the network sees it

    def search(self, image: torch.Tensor) -> torch.Tensor:
        """Selective search on the raw pixels, kept in the model's cache by content, so later epochs
        (and the whole-image proposals of a test set seen before) reuse it."""
        return self.proposal_cache.get(image.cpu(), self.config.proposals)

    def keep_proposals(self, proposals: torch.Tensor) -> torch.Tensor:
        """Boxes with no width or height are dropped."""
        p = proposals.float()
        return p[(p[:, 2] > p[:, 0]) & (p[:, 3] > p[:, 1])]

    def warp(self, images: torch.Tensor, boxes: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """(N, C, S, S) crops of `boxes` (N, 4) from images[`image`] (N,): each box dilated to hold the
        context padding, resampled bilinearly (pixel centres), zero (the mean) outside the image."""
        s = self.config.warp_size
        h, w = images.shape[-2:]
        scale = s / (s - 2 * self.padding)                      # dilation that leaves `padding` warped pixels
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        bw, bh = (boxes[:, 2] - boxes[:, 0]) * scale, (boxes[:, 3] - boxes[:, 1]) * scale
        t = (torch.arange(s, device=boxes.device, dtype=boxes.dtype) + 0.5) / s - 0.5  # (S,) centres, -0.5..0.5
        gx = (cx[:, None] + bw[:, None] * t) * (2 / w) - 1     # (N, S) normalised x of each column
        gy = (cy[:, None] + bh[:, None] * t) * (2 / h) - 1     # (N, S) normalised y of each row
        grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), -1).to(images.dtype)  # (N, S, S, 2)
        out = images.new_empty((len(boxes), images.shape[1], s, s))
        for b in image.unique().tolist():                       # one expanded view per image, no copies
            sel = torch.nonzero(image == b).flatten()
            out[sel] = F.grid_sample(images[b:b + 1].expand(len(sel), -1, -1, -1), grid[sel], mode="bilinear",
                                     padding_mode="zeros", align_corners=False)
        return out

    def features(self, images: torch.Tensor, boxes: torch.Tensor, image: torch.Tensor,
                 chunk: int | None = None) -> torch.Tensor:
        """(N, F) fc7 features of the regions, the backbone run on `chunk` warped regions at a time."""
        step = chunk or max(len(boxes), 1)
        parts = [self.backbone(self.warp(images, boxes[i:i + step], image[i:i + step]))
                 for i in range(0, len(boxes), step)]
        return torch.cat(parts) if parts else images.new_zeros((0, self.cls_score.in_features))

    # -- training ---------------------------------------------------------------------------------
    def sample(self, proposals: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]]):
        """Section 2.3's regions per image, ground truth added and always kept: boxes (N, 4), image index
        (N,), softmax labels (N,) (0 background, c + 1), SVM targets (N, K) (+1 / -1 / 0 ignored), the
        matched ground-truth box (N, 4) and whether it takes part in box regression (N,)."""
        cfg, k = self.config, self.num_classes
        rows: list[tuple[torch.Tensor, ...]] = []
        for i, (p, t) in enumerate(zip(proposals, targets)):
            gt, gt_labels = t["boxes"].to(p), t["labels"].to(p.device)
            p = torch.cat([gt, p])                                       # ground truth first: kept first
            is_gt = torch.arange(len(p), device=p.device) < len(gt)
            if len(gt):
                iou = box_iou(gt, p)                                     # (G, P)
                best, m = iou.max(0)
                lab = torch.where(best >= cfg.fg_iou, gt_labels[m] + 1, torch.zeros_like(m))
                lab = torch.where((best < cfg.fg_iou) & (best >= cfg.bg_iou), torch.full_like(m, -1), lab)
                # best IoU with the boxes of each class: (P, K), 0 for classes absent from the image
                per_class = iou.new_zeros((len(p), k)).scatter_reduce(
                    1, gt_labels[None].expand(len(p), -1), iou.T, "amax", include_self=True)
            else:
                best = m = torch.zeros(len(p), dtype=torch.int64, device=p.device)
                lab = torch.zeros(len(p), dtype=torch.int64, device=p.device)
                per_class = p.new_zeros((len(p), k))
            n_pos = min(int((lab > 0).sum()), int(cfg.roi_batch * cfg.positive_fraction))
            n_neg = min(int((lab == 0).sum()), cfg.roi_batch - n_pos)
            # random order within foreground and background, ground-truth boxes first among foreground
            key = torch.rand(len(p), device=p.device) - is_gt.float()
            pos = torch.nonzero(lab > 0).flatten()
            neg = torch.nonzero(lab == 0).flatten()
            keep = torch.cat([pos[key[pos].argsort()[:n_pos]], neg[key[neg].argsort()[:n_neg]]])
            svm = torch.where(per_class[keep] < cfg.svm_negative_iou, -1, 0)
            own = is_gt[keep] & (lab[keep] > 0)
            svm[own] = 0
            svm[own, lab[keep][own] - 1] = 1                             # a ground-truth box: positive for its class
            matched = gt[m[keep]] if len(gt) else p[keep]
            regress = (best[keep] >= cfg.box_iou) & (lab[keep] > 0) if len(gt) else torch.zeros_like(own)
            rows.append((p[keep], torch.full((len(keep),), i, device=p.device), lab[keep], svm, matched, regress))
        return [torch.cat(c) for c in zip(*rows)]

    def loss(self, images: torch.Tensor, proposals: Sequence[torch.Tensor],
             targets: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """"cls" (and the SVMs' hinge) and "box" on the sampled regions of `images`."""
        cfg = self.config
        with torch.no_grad():
            boxes, image, labels, svm_targets, matched, regress = self.sample(proposals, targets)
        feats = self.features(images, boxes, image)                    # (N, F): one backbone call
        logits = self.cls_score(feats)
        cls = F.cross_entropy(logits, labels) if len(labels) else logits.sum() * 0  # no region at all: zero
        if self.staged:  # stage 1: the softmax alone fine-tunes the CNN; SVMs and regressors come after
            return {"cls": cls}
        if self.svm is not None:
            margin = self.svm(feats.detach())                          # (N, K)
            weight = torch.where(svm_targets > 0, cfg.svm_positive_weight, 1.0) * (svm_targets != 0)
            hinge = (weight * F.relu(1 - svm_targets * margin)).sum() / max(int((svm_targets != 0).sum()), 1)
            cls = cls + hinge + cfg.svm_l2 * self.svm.weight.pow(2).sum()
        fg = torch.nonzero(regress).flatten()
        cls_fg = labels[fg] - 1
        targets_fg = encode_boxes(matched[fg], boxes[fg], self.box_weights)            # (R, 4)
        if cfg.box_regression == "linear":
            deltas = self.bbox_pred(feats).view(len(feats), -1, 4)[fg, cls_fg]         # (R, 4)
            box = F.smooth_l1_loss(deltas, targets_fg, beta=SMOOTH_L1_BETA, reduction="sum") / max(len(labels), 1)
        else:
            deltas = self.bbox_pred(feats.detach()).view(len(feats), -1, 4)[fg, cls_fg]
            box = (deltas - targets_fg).pow(2).sum() / max(len(fg), 1) \
                + cfg.ridge_l2 * self.bbox_pred.weight.pow(2).sum()
        return {"cls": cls, "box": box}

    # -- detection --------------------------------------------------------------------------------
    def scores(self, feats: torch.Tensor) -> torch.Tensor:
        """(N, K) class scores without background: softmax probabilities, or sigmoid(SVM margins)
        (in stages, once the SVMs are trained)."""
        if self.svm is not None and (not self.staged or int(self.stage) >= 2):
            return torch.sigmoid(self.svm(feats))
        return F.softmax(self.cls_score(feats), -1)[:, 1:]

    def detect(self, images: torch.Tensor, proposals: Sequence[torch.Tensor],
               size: tuple[int, int] | None = None) -> list[dict[str, torch.Tensor]]:
        cfg, k, b = self.config, self.num_classes, len(images)
        rois = torch.cat(list(proposals)) if proposals else images.new_zeros((0, 4))
        image = torch.repeat_interleave(torch.arange(b, device=rois.device),
                                        torch.tensor([len(p) for p in proposals], device=rois.device))
        feats = self.features(images, rois, image, cfg.chunk)                          # (N, F), chunked
        scores = self.scores(feats)                                                     # (N, K)
        boxes = decode_boxes(self.bbox_pred(feats), rois, self.box_weights).view(len(rois), k, 4)
        return select_detections(boxes, scores, image, b, tuple(images.shape[-2:]), cfg)

    def trace(self, images: torch.Tensor, size: tuple[int, int] | None = None) -> list[dict[str, torch.Tensor]]:
        """One whole-image region per image through the network, no data-dependent step: what a
        summary runs on the meta device, where there are no pixels to propose regions from."""
        s = self.config.warp_size
        feats = self.backbone(images.new_zeros((len(images), images.shape[1], s, s)))
        logits, deltas = self.cls_score(feats), self.bbox_pred(feats)
        if self.svm is not None:
            logits = self.svm(feats)
        return [{"boxes": deltas[i:i + 1, :4], "labels": logits[i:i + 1, 0].long(), "scores": logits[i:i + 1, 0]}
                for i in range(len(images))]


def inference_time(model: RCNN, images: torch.Tensor, proposals: Sequence[torch.Tensor] | None = None,
                   *, repeats: int = 1) -> dict[str, float]:
    """Seconds per image of R-CNN's detection, one image at a time, split into selective search
    ("proposals", on the CPU, measured only when `proposals` is None) and the network ("network":
    warping, one backbone pass per proposal in chunks, heads, NMS); "total" is their sum and
    "regions" the mean proposals per image. Images are normalised (B, C, H, W); the model is put in
    eval mode. The best of `repeats` runs counts, each image's network time after one warm-up."""
    model.eval()
    sync = torch.cuda.synchronize if images.is_cuda else (lambda: None)
    n = len(images)
    t_prop = 0.0
    if proposals is None:
        saved, t_prop = model.proposal_cache, float("inf")
        try:
            for _ in range(max(repeats, 1)):
                model.proposal_cache = ProposalCache()  # fresh: time the search, not the cache
                t0 = time.perf_counter()
                proposals = model.external_proposals(images, None)
                t_prop = min(t_prop, (time.perf_counter() - t0) / n)
        finally:
            model.proposal_cache = saved
    targets = [{"proposals": p} for p in proposals]
    t_net = float("inf")
    with torch.no_grad():
        model(images[:1], targets[:1])  # warm-up
        for _ in range(max(repeats, 1)):
            sync()
            t0 = time.perf_counter()
            for i in range(n):
                model(images[i:i + 1], targets[i:i + 1])
            sync()
            t_net = min(t_net, (time.perf_counter() - t0) / n)
    return {"proposals": t_prop, "network": t_net, "total": t_prop + t_net,
            "regions": sum(len(p) for p in proposals) / max(n, 1)}


@register_model(description="R-CNN: selective-search regions, each warped through a CNN; per-class scores and "
                            "box regression (detection)",
                paper="Girshick et al. 2014, Rich feature hierarchies for accurate object detection", year=2014,
                input_shape=(1, 64, 64), task="detection")
def rcnn(num_classes: int = 10, in_channels: int = 1, backbone: str = "lenet", warp_size: int | None = None,
         context_padding: float | None = None, classifier: str | None = None, box_regression: str | None = None,
         training: str = "joint", roi_batch: int = 64, nms_threshold: float = 0.3, detections_per_image: int = 100,
         max_proposals: int = 2000, chunk: int = 256) -> RCNN:
    """The zoo's `lenet` on 32x32 warps for digit_boxes (`backbone="lenet5"`: 13x cheaper per region,
    less accurate); `backbone="alexnet"` (227) or `"vgg16"` (224) with `in_channels=3` and
    `training="stages"` (fine-tuning, then SVMs with hard-negative mining, then ridge box regression)
    is the paper's form; `classifier="svm"`, `box_regression="ridge"` train its heads jointly instead."""
    if warp_size is None:
        warp_size = WARP_SIZES.get(backbone, model_info(backbone).input_shape[-1])
    cfg = RCNNConfig(warp_size=warp_size, context_padding=context_padding, classifier=classifier, training=training,
                     box_regression=box_regression, roi_batch=roi_batch, nms_threshold=nms_threshold,
                     detections_per_image=detections_per_image, chunk=chunk,
                     proposals=SelectiveSearchConfig(max_proposals=max_proposals))
    return RCNN(num_classes, in_channels, backbone, cfg)
