"""Training detectors with the project's one training loop: `fit_detection` and the detection `hooks`.

A detector is trained by the same `train.engine.Trainer` as a classifier, so everything beside the
step is shared rather than copied: the optimizer and schedule, checkpoints after every epoch (and
inside one with `checkpoint_every` or a stop on SIGTERM / SIGINT) with exact resumption, the
callbacks (metrics.csv, progress, early stopping, keep best), the non-finite guard, bf16 autocast and
channels_last on CUDA. Its `Hooks` change three things:
- the loader: `loader.DetectionLoader`, batches of images with their boxes (see `detection.loader`);
- the step: the model returns its losses by name (Ren et al. 2015's RPN objectness and box terms,
  Girshick 2015's classification and box terms, He et al. 2017's mask term); the loss minimised is
  their sum, and each one's epoch mean lands in the history as `loss_<name>` (so in metrics.csv);
- validation: PASCAL VOC mAP at IoU 0.5 on the validation split (`val_map50`, see
  `detection.evaluate`), not a loss and an accuracy.

Augmentation follows the boxes (`loader.check_augment` says which). Models with `needs_proposals` (R-CNN, Fast R-CNN on selective search) get their proposals computed
once per image by `detection.proposals.proposals_for` and cached on disk (under the data cache,
`proposals/`), so selective search does not run again every epoch or run.

A detector with more to fit after the epochs (R-CNN with `training="stages"`: its SVMs and box
regressors, `detection.rcnn_stages`) does it in `finish_training`, called once the epochs are done;
the checkpoints hold the state after the epochs, so a run resumed after its last epoch (stopped during
those stages) does no epoch and fits them again, and a finished run trained further refits them.

Training runs in one process (data parallel detection is not supported yet).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..config import TrainConfig
from ..data.augment_config import AugmentConfig
from ..data.core import Normalization
from ..errors import UserError
from ..train import distributed
from ..train.callbacks import Callback
from ..train.engine import Hooks, Trainer, resolve_splits, run_trainer, with_stopping
from ..train.history import History
from .data import DetectionDataset, DetectionSplit
from .evaluate import detect, score
from .loader import EVAL_BATCH_CAP, DetectionLoader, check_augment, compute_proposals


def hooks(model: nn.Module, val: DetectionSplit | None,
          proposals: dict[str, list[torch.Tensor] | None]) -> Hooks:
    """The trainer's hooks for detector `model`: detection batches (with each split's precomputed
    `proposals` for a model that takes them), the sum of the model's losses, mAP@0.5 on `val`."""

    def loaders(trainer: Trainer, train: DetectionSplit, val_split: DetectionSplit | None):
        cfg = trainer.config
        train_loader = DetectionLoader(train, cfg.batch_size, device=trainer.device,
                                       normalization=trainer.normalization, shuffle=True,
                                       generator=trainer.generator, augment=trainer.augment,
                                       masks=model.has_masks, proposals=proposals.get("train"))
        val_loader = None if val_split is None else DetectionLoader(
            val_split, min(cfg.eval_batch_size, EVAL_BATCH_CAP), device=trainer.device,
            normalization=trainer.normalization, proposals=proposals.get("val"))
        return train_loader, val_loader

    def step_loss(trainer: Trainer, xb, targets, loss_fn):
        losses = trainer.forward(xb, targets)
        if not isinstance(losses, dict) or not losses:
            raise UserError(f"{type(trainer.model).__name__} returned {type(losses).__name__} in training mode; a "
                            f"detector returns its losses as a dict of named scalars")
        return sum(losses.values()), None, losses

    def validate(trainer: Trainer) -> dict[str, float]:
        detections = detect(trainer.model, trainer.val_loader, trainer.autocast)
        return {"map50": score(detections, val, boxes_only=True).map50}

    # box sampling, NMS and per-image shapes change every step: compiled graphs would be rebuilt,
    # so compile only when asked
    return Hooks(loaders=loaders, step_loss=step_loss, validate=validate, compile=False)


def fit_detection(model: nn.Module, data: DetectionDataset, config: TrainConfig | None = None, *,
                  augment: AugmentConfig | None = None, normalization: Normalization | None = None,
                  callbacks: Sequence[Callback] = (), resume: str | None = None, log=None) -> History:
    """Train detector `model` on `data` and return its `History` (`history.history["loss_cls"]`,
    `["val_map50"]`, ...), as `train.fit` does for a classifier: same configuration, callbacks and
    checkpoints (`resume` continues from one). `model(images, targets)` returns its losses by name in
    training mode and one dict of boxes, labels and scores per image in evaluation mode."""
    config = (config or TrainConfig()).validate()
    if augment is not None:
        augment.validate()
    check_augment(augment)
    if not isinstance(data, DetectionDataset):
        raise UserError(f"{type(model).__name__} is a detector; it trains on a detection data set (boxes), "
                        f"such as digit_boxes or voc2007")
    if distributed.current() is not None:
        raise UserError("detection training runs in one process; leave out --nproc and torchrun")
    train, val = resolve_splits(data, None, config)
    monitor = config.monitor
    if config.early_stopping or config.keep_best:
        if monitor in ("val_loss", "val_acc", "acc"):
            raise UserError(f"a detection run has no {monitor}: it is validated by its mAP; use --monitor "
                            f"val_map50 (or loss)")
        if monitor == "val_map50" and val is None:
            raise UserError("monitoring val_map50 needs validation data; set --val-split or monitor loss")
    normalization = normalization or data.normalization(config.normalize)
    proposals = {"train": compute_proposals(model, train, log=log),
                 "val": compute_proposals(model, val, log=log) if val is not None else None}
    torch.manual_seed(config.seed)  # weights are initialised by the caller; the model's sampling draws from here
    stopping = with_stopping(callbacks, config, higher_is_better=monitor == "val_map50")
    trainer = Trainer(model, train, val, config, normalization, augment, stopping, "detection",
                      hooks=hooks(model, val, proposals))
    history = run_trainer(trainer, resume, normalization)
    finish_training(trainer, train, val, proposals, log)
    return history


def finish_training(trainer: Trainer, train: DetectionSplit, val: DetectionSplit | None,
                    proposals: dict[str, list[torch.Tensor] | None], log=None) -> None:
    """After the engine's epochs (and the best epoch's weights restored with keep_best): what the model
    fits on its own (`Detector.finish_training`; R-CNN's stages 2 and 3), on the training and
    validation images in order, unaugmented; then the validation mAP of the model as it now is."""
    finish = getattr(trainer.model, "finish_training", None)
    if finish is None:
        return
    log = log or (lambda s: None)
    size = min(trainer.config.eval_batch_size, EVAL_BATCH_CAP)

    def batches(split, props):
        return DetectionLoader(split, size, device=trainer.device, normalization=trainer.normalization, proposals=props)
    val_batches = batches(val, proposals.get("val")) if val is not None else None
    if finish(batches(train, proposals.get("train")), val_batches, seed=trainer.config.seed, log=log) \
            and trainer.val_loader is not None:
        log(f"  val_map50 after them: {trainer.validate()['map50']:.4f}")
