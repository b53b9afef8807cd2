"""R-CNN trained as the paper trains it: three models, one after the other (Girshick et al. 2014,
section 2.3 and appendices B and C; the course, 000 L255-276: R-CNN "has to train three different
models separately - the CNN to generate image features, the classifier that predicts the class, and
the regression model to tighten the bounding boxes").

`rcnn(training="stages")` (`RCNNConfig.training`; the default "joint" trains everything in one loop):
1. Fine-tuning, the training engine's epochs: the CNN with its (K + 1)-way softmax on warped regions
   sampled as in the joint training (`RCNN.sample`), loss "cls" only. The SVMs and the box regressor
   are left alone, so each epoch's validation scores the softmax on the proposals as they are.
2. Object classifiers (`train_svms`), after the last epoch: the fine-tuned CNN, frozen from here on
   (eval mode, no gradients), gives the fc7 features of every training region once
   (`region_features`: each image's ground-truth boxes and its proposals), scaled so that their
   mean norm is 20 (the released code's `feat_norm_mean`). One linear SVM per class: positives the
   class's ground-truth boxes, negatives the regions under 0.3 IoU with every box of the class, the
   rest ignored. Hard-negative mining (`mine_negatives`): each SVM starts from a random
   `svm_initial_negatives` of its negatives; then, round after round, every negative is scored
   with the current SVM, those above -1 (the code's -1.0001) that are not yet in the SVM's cache are
   added, cached ones below -1.2 are evicted (the code's eviction), and the SVM is retrained,
   until a round finds no hard negative or `svm_rounds` rounds have run. Each SVM is liblinear's
   L2-regularised hinge-loss SVM solved in its dual (`-s 3`, through scikit-learn's `LinearSVC`)
   with the code's settings: C = 1e-3, positives weighted 2, a bias feature of 10. (The code mines
   in one pass over the images, updating the cache image by image and retraining every 2,000
   additions; here the features are in memory, so a round scores all of them at once.)
3. Box regression (`fit_box_regressors`): per class, ridge regression from the scaled fc7 features
   to the deltas (`ops.encode_boxes`, unweighted) that move each proposal with IoU >= 0.6 onto the
   ground-truth box it overlaps most; as in the code, the targets are centred and whitened and the
   bias column is penalised too. The paper regresses from pool5; here the model's box layer reads
   fc7. Lambda is the paper's 1000 (on features of the same scale) when there is no validation
   split; with one, it is chosen among `ridge_lambdas` by the squared error on the validation
   split's regions (`choose_lambda`), and the choice is logged.

The SVMs and regressors are written into the model's `svm` and `bbox_pred` layers, the feature scale
folded into their weights, and its `stage` buffer records how far training got (1: fine-tuned, 2:
SVMs, 3: regressors), so a saved model detects with SVM scores and regressed boxes. The backbone and
the softmax are not changed by stages 2 and 3. `RCNN.finish_training` runs them; the training engine
calls it after its epochs (`detection.train.fit_detection`). Features are held in memory, N regions
x F floats: 2,000 digit_boxes images of about 45 regions each with lenet's 128-dim fc7 are 46 MB;
the paper cached its VOC features on disk.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .ops import box_iou, encode_boxes

HARD_SCORE = -1.0001    # a negative scoring above this is hard (the released code's hard_thresh)
EASY_SCORE = -1.2       # a cached negative scoring below this is evicted (its evict_thresh)
FEATURE_NORM = 20.0     # the features' mean L2 norm after scaling (its feat_norm_mean)
TARGET_VARIANCE = 1e-3  # added to the targets' covariance eigenvalues before whitening (its 0.001)

Batches = Iterable[tuple[torch.Tensor, Sequence[dict[str, torch.Tensor]]]]
Log = Callable[[str], None]


@dataclass
class Regions:
    """The regions of a set of images (ground-truth boxes, then proposals, image by image) with
    their fc7 features, all on the CPU."""

    features: torch.Tensor       # (N, F) fc7, unscaled
    boxes: torch.Tensor          # (N, 4)
    class_iou: torch.Tensor      # (N, K) best IoU with the ground-truth boxes of each class (0: none)
    gt_label: torch.Tensor       # (N,) the class of a ground-truth box; -1 for a proposal
    matched: torch.Tensor        # (N, 4) the ground-truth box overlapping most (the region itself if none)
    matched_label: torch.Tensor  # (N,) its class; -1 in an image without objects
    best_iou: torch.Tensor       # (N,) IoU with it


def label_regions(gt: torch.Tensor, labels: torch.Tensor, proposals: torch.Tensor, k: int) -> tuple[torch.Tensor, ...]:
    """One image's regions (its ground-truth boxes `gt` (G, 4) with classes `labels`, then
    `proposals`) and their overlaps: boxes, class_iou, gt_label, matched, matched_label, best_iou."""
    boxes = torch.cat([gt.to(proposals), proposals])
    n = len(boxes)
    gt_label = torch.cat([labels.to(proposals.device), labels.new_full((len(proposals),), -1).to(proposals.device)])
    if not len(gt):
        return (boxes, boxes.new_zeros((n, k)), gt_label, boxes.clone(), gt_label.new_full((n,), -1),
                boxes.new_zeros(n))
    iou = box_iou(gt.to(boxes), boxes)                                    # (G, N)
    best, m = iou.max(0)
    lab = labels.to(boxes.device)
    class_iou = boxes.new_zeros((n, k)).scatter_reduce(1, lab[None].expand(n, -1), iou.T, "amax", include_self=True)
    return boxes, class_iou, gt_label, gt.to(boxes)[m], lab[m], best


@torch.no_grad()
def region_features(model, batches: Batches) -> Regions:
    """Every region of the images in `batches` ((normalised images, targets with "boxes", "labels"
    and optionally "proposals") pairs) through `model`'s frozen CNN, once (eval mode)."""
    model.eval()
    k, chunk = model.num_classes, model.config.chunk
    parts: list[tuple[torch.Tensor, ...]] = []
    for images, targets in batches:
        rows = [label_regions(t["boxes"], t["labels"], p, k)
                for p, t in zip(model.external_proposals(images, targets), targets)]
        boxes = torch.cat([r[0] for r in rows])
        image = torch.repeat_interleave(torch.arange(len(rows), device=boxes.device),
                                        torch.tensor([len(r[0]) for r in rows], device=boxes.device))
        feats = model.features(images, boxes, image, chunk).float()
        parts.append(tuple(t.cpu() for t in (feats, *(torch.cat(c) for c in zip(*rows)))))
    if not parts:
        raise ValueError("no images to extract region features from")
    return Regions(*(torch.cat(c) for c in zip(*parts)))


def feature_scale(features: torch.Tensor) -> float:
    """The factor that brings the features' mean L2 norm to `FEATURE_NORM`."""
    mean = float(features.norm(dim=1).mean())
    return FEATURE_NORM / mean if mean > 0 else 1.0


# -- stage 2: the SVMs ------------------------------------------------------------------------------
def fit_svm(x_pos: torch.Tensor, x_neg: torch.Tensor, cfg, seed: int) -> tuple[torch.Tensor, float]:
    """One linear SVM, positives `x_pos` (P, F) against negatives `x_neg` (M, F): liblinear's dual
    hinge-loss solver with the released code's C, positive weight and bias feature ((F,) weights,
    bias). Without positives (or negatives) nothing is learnt: zero weights, bias -1 (or +1)."""
    if not len(x_pos) or not len(x_neg):
        return x_pos.new_zeros(x_pos.shape[1]), -1.0 if not len(x_pos) else 1.0
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    x = torch.cat([x_pos, x_neg]).double().numpy()
    y = np.concatenate([np.ones(len(x_pos)), -np.ones(len(x_neg))])
    svm = LinearSVC(C=cfg.svm_c, loss="hinge", dual=True, class_weight={1: cfg.svm_positive_weight, -1: 1.0},
                    intercept_scaling=cfg.svm_bias, tol=1e-3, max_iter=20_000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached: the SVM so far is used
        svm.fit(x, y)
    return torch.from_numpy(svm.coef_[0]).float(), float(svm.intercept_[0])


@dataclass
class MiningRound:
    """One round of hard-negative mining: the negatives added to the SVM's cache (round 0: the random
    start) and evicted from it (region indices), and the SVM trained on the cache after it."""

    added: torch.Tensor
    evicted: torch.Tensor
    weight: torch.Tensor
    bias: float


@dataclass
class Mining:
    """A class's SVM after hard-negative mining: its rounds, the last one's SVM, and whether mining
    stopped because no negative outside the cache scored above -1 (rather than at `svm_rounds`)."""

    rounds: list[MiningRound]
    converged: bool

    @property
    def weight(self) -> torch.Tensor:
        return self.rounds[-1].weight

    @property
    def bias(self) -> float:
        return self.rounds[-1].bias

    @property
    def cached(self) -> int:
        return sum(len(r.added) - len(r.evicted) for r in self.rounds)


def mine_negatives(x: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, cfg, seed: int) -> Mining:
    """Train one class's SVM on the scaled features `x` (N, F), region indices `positives` and
    `negatives`, with hard-negative mining (see the module docstring)."""
    g = torch.Generator().manual_seed(seed)
    start = negatives[torch.randperm(len(negatives), generator=g)[:cfg.svm_initial_negatives]]
    cached = torch.zeros(len(x), dtype=torch.bool)
    cached[start] = True
    w, b = fit_svm(x[positives], x[start], cfg, seed)
    rounds = [MiningRound(start, start[:0], w, b)]
    for _ in range(cfg.svm_rounds):
        scores = x[negatives] @ w + b
        hard = negatives[(scores > HARD_SCORE) & ~cached[negatives]]
        if not len(hard):
            return Mining(rounds, True)
        cache = torch.nonzero(cached).flatten()
        evicted = cache[(x[cache] @ w + b) < EASY_SCORE]
        cached[evicted] = False
        cached[hard] = True
        w, b = fit_svm(x[positives], x[cached], cfg, seed)
        rounds.append(MiningRound(hard, evicted, w, b))
    scores = x[negatives] @ w + b
    return Mining(rounds, not bool(((scores > HARD_SCORE) & ~cached[negatives]).any()))


def train_svms(x: torch.Tensor, regions: Regions, cfg, seed: int) -> list[Mining]:
    """One SVM per class on the scaled features `x` of `regions`: positives the class's ground-truth
    boxes, negatives the regions under `cfg.svm_negative_iou` with every box of the class."""
    out = []
    for c in range(regions.class_iou.shape[1]):
        pos = torch.nonzero(regions.gt_label == c).flatten()
        neg = torch.nonzero(regions.class_iou[:, c] < cfg.svm_negative_iou).flatten()
        out.append(mine_negatives(x, pos, neg, cfg, seed + c))
    return out


# -- stage 3: the box regressors --------------------------------------------------------------------
def regression_set(regions: Regions, min_iou: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The proposals that teach box regression (IoU >= `min_iou` with a ground-truth box; the boxes
    themselves are left out) and their targets: (indices (R,), unweighted deltas (R, 4))."""
    sel = torch.nonzero((regions.gt_label < 0) & (regions.matched_label >= 0) & (regions.best_iou >= min_iou)).flatten()
    return sel, encode_boxes(regions.matched[sel], regions.boxes[sel])


def fit_ridge(x: torch.Tensor, t: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Ridge regression of targets `t` (R, 4) on features `x` (R, F), the targets centred and whitened
    and the bias penalised like the weights (the released code's): (weights (F, 4), bias (4,)) of the
    predictions in the targets' own units. Fewer than two examples: zeros (boxes left as they are)."""
    if len(x) < 2:
        return x.new_zeros((x.shape[1], 4)), x.new_zeros(4)
    x, t = x.double(), t.double()
    mu = t.mean(0)
    vals, vecs = torch.linalg.eigh(torch.cov((t - mu).T))
    vals = vals.clamp(min=0) + TARGET_VARIANCE
    whiten, unwhiten = vecs @ torch.diag(vals.rsqrt()) @ vecs.T, vecs @ torch.diag(vals.sqrt()) @ vecs.T
    a = torch.cat([x, x.new_ones((len(x), 1))], 1)                      # (R, F + 1): the bias column
    beta = torch.linalg.solve(a.T @ a + lam * torch.eye(a.shape[1], dtype=a.dtype), a.T @ ((t - mu) @ whiten))
    out = beta @ unwhiten                                                # (F + 1, 4)
    return out[:-1].float(), (out[-1] + mu).float()


def fit_box_regressors(x: torch.Tensor, regions: Regions, cfg, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One ridge regressor per class on the scaled features `x`: (weights (K, F, 4), biases (K, 4))."""
    sel, targets = regression_set(regions, cfg.box_iou)
    labels = regions.matched_label[sel]
    fits = [fit_ridge(x[sel][labels == c], targets[labels == c], lam) for c in range(regions.class_iou.shape[1])]
    return torch.stack([w for w, _ in fits]), torch.stack([b for _, b in fits])


def box_error(x: torch.Tensor, regions: Regions, weights: torch.Tensor, biases: torch.Tensor,
              min_iou: float) -> float:
    """Mean squared error of the class-specific regressors' deltas on the regression set of `regions`
    (the unregressed proposals' error is that of zero deltas)."""
    sel, targets = regression_set(regions, min_iou)
    if not len(sel):
        return float("nan")
    labels = regions.matched_label[sel]
    pred = torch.einsum("rf,rfd->rd", x[sel], weights[labels]) + biases[labels]
    return float((pred - targets).pow(2).sum(1).mean())


def choose_lambda(x: torch.Tensor, regions: Regions, x_val: torch.Tensor, val: Regions, cfg) -> tuple[float, dict[float, float]]:
    """The lambda among `cfg.ridge_lambdas` whose regressors, fitted on the training regions, have the
    least squared error on the validation regions: (lambda, {lambda: error})."""
    errors = {lam: box_error(x_val, val, *fit_box_regressors(x, regions, cfg, lam), cfg.box_iou)
              for lam in cfg.ridge_lambdas}
    finite = {k: v for k, v in errors.items() if v == v}
    return (min(finite, key=finite.get) if finite else cfg.ridge_lambda), errors


# -- the stages on a fine-tuned model -----------------------------------------------------------------
@torch.no_grad()
def fit_stages(model, train: Batches, val: Batches | None = None, *, seed: int = 0,
               log: Log = lambda s: None) -> dict:
    """Stages 2 and 3 on `model`, an `RCNN` whose CNN has been fine-tuned (stage 1), from the
    (images, targets) batches of the training and validation images; its backbone and softmax are
    left as they are. Returns what was done (for a log or a benchmark)."""
    mode, cfg, t0 = model.training, model.config, time.perf_counter()
    regions = region_features(model, train)
    scale = feature_scale(regions.features)
    x = regions.features * scale
    summary: dict = {"regions": len(x), "feature_scale": scale}
    log(f"R-CNN stages 2-3 on the fine-tuned CNN: fc7 features of {len(x):,} training regions "
        f"({int((regions.gt_label >= 0).sum()):,} ground-truth boxes) in {time.perf_counter() - t0:.1f}s")
    dev = model.stage.device
    if model.svm is not None:
        t1 = time.perf_counter()
        minings = train_svms(x, regions, cfg, seed)
        model.svm.weight.copy_(torch.stack([m.weight for m in minings]).to(dev) * scale)
        model.svm.bias.copy_(torch.tensor([m.bias for m in minings], device=dev))
        model.stage.fill_(2)
        summary.update(svm_rounds=[len(m.rounds) - 1 for m in minings], svm_converged=[m.converged for m in minings],
                       svm_cached_negatives=[m.cached for m in minings], svm_seconds=time.perf_counter() - t1)
        most = max(summary["svm_rounds"])
        log(f"  stage 2: {len(minings)} linear SVMs, hard-negative mining {most} round{'s' * (most != 1)} at most "
            f"({sum(summary['svm_converged'])} of {len(minings)} stopped with no hard negative left), "
            f"{sum(summary['svm_cached_negatives']):,} negatives cached in all, {summary['svm_seconds']:.1f}s")
    lam, how = cfg.ridge_lambda, "the paper's; no validation split to choose it on"
    if val is not None:
        val_regions = region_features(model, val)
        lam, errors = choose_lambda(x, regions, val_regions.features * scale, val_regions, cfg)
        summary["ridge_val_errors"] = errors
        how = "chosen on the validation regions, squared error " + ", ".join(
            f"{k:g}: {v:.4f}" for k, v in errors.items())
    weights, biases = fit_box_regressors(x, regions, cfg, lam)
    model.bbox_pred.weight.copy_((weights * scale).permute(0, 2, 1).reshape(-1, x.shape[1]).to(dev))
    model.bbox_pred.bias.copy_(biases.reshape(-1).to(dev))
    model.stage.fill_(3)
    n_reg = len(regression_set(regions, cfg.box_iou)[0])
    summary.update(ridge_lambda=lam, box_regions=n_reg, box_error_before=box_error(x, regions, weights * 0, biases * 0, cfg.box_iou),
                   box_error_after=box_error(x, regions, weights, biases, cfg.box_iou), seconds=time.perf_counter() - t0)
    log(f"  stage 3: ridge box regressors on {n_reg:,} proposals with IoU >= {cfg.box_iou:g}, lambda {lam:g} ({how}); "
        f"squared delta error on them {summary['box_error_before']:.4f} -> {summary['box_error_after']:.4f}; "
        f"stages 2-3 took {summary['seconds']:.1f}s")
    model.train(mode)
    return summary
