"""The settings of a run, typed: training (`TrainConfig`), transfer learning (`TransferConfig`) and the
whole run (`RunConfig`, with the data set's `AugmentConfig`). Units are in the comments; the command
line maps its options onto these fields.

Torch-free and at the bottom of the package, so the command line builds its options (and `--help`)
without importing torch, and every layer (the engine, transfer learning, recipes, the run record) can
read the same settings.
"""
from __future__ import annotations

import math
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from .data.augment_config import AugmentConfig
from .errors import UserError, check_range


@dataclass
class TrainConfig:
    epochs: int = 30                  # passes over the training split
    batch_size: int = 64              # examples per optimizer step
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop", "adadelta"] = "adam"
    lr: float = 3e-3                  # learning rate per step (the peak, with a schedule); not scaled by batch size
    base_lr: float = 0.0              # fine-tuning: learning rate of a transferred model's unfrozen base layers; 0: the same as lr
    momentum: float = 0.9             # SGD momentum (unused by the other optimizers), 0 <= momentum < 1
    nesterov: bool = False            # Nesterov momentum, SGD only
    weight_decay: float = 0.0         # L2 coefficient (decoupled from the gradient for adamw)
    schedule: Literal["constant", "step", "cosine", "onecycle", "piecewise"] = "onecycle"
    decay: float = 0.0                # Keras 2's optimizer decay: lr / (1 + decay * steps taken); with the constant schedule
    lr_at: str = ""                   # piecewise schedule: learning rate from each epoch on, "0:1e-3,30:1e-4" (Keras's LearningRateScheduler)
    step_epochs: int = 10             # step schedule: epochs between decays
    gamma: float = 0.1                # step schedule: factor applied at each decay
    label_smoothing: float = 0.0      # cross-entropy target smoothing, 0 <= smoothing < 1
    clip_norm: float = 0.0            # rescale each step's gradient so its global L2 norm (all parameters as one vector) is at most this; 0 disables
    clip_value: float = 0.0           # clamp each gradient element to [-clip_value, clip_value] before the step (after clip_norm); 0 disables
    val_split: float = 0.0            # fraction of the training split held out for validation; 0: use the data set's own validation split
    val_split_mode: Literal["stratified", "last"] = "stratified"  # stratified and seeded, or the last fraction of the arrays before shuffling (Keras's validation_split)
    validate_on: Literal["val", "test"] = "val"  # validate each epoch on the validation split, or on the test split (Keras's validation_data=(x_test, y_test))
    early_stopping: int = 0           # patience in epochs without improvement of `monitor`; 0 disables
    monitor: Literal["val_loss", "val_acc", "loss", "acc", "val_map50"] = "val_loss"  # for early stopping and keep_best (val_map50: detection, VOC mAP@0.5)
    keep_best: bool = False           # end with the weights of the best epoch by `monitor`
    seed: int = 0                     # seeds weights, data order, augmentation and dropout
    device: str = "auto"              # "auto" (cuda when present, else cpu), "cpu", "cuda", "cuda:1", ...
    compile: Literal["auto", "on", "off"] = "auto"        # torch.compile; auto: on for CUDA, except recurrent models
    precision: Literal["auto", "fp32", "bf16"] = "auto"   # autocast dtype; auto: bf16 on CUDA, fp32 on CPU
    eval_batch_size: int = 1024       # examples per forward pass when evaluating
    tta: Literal["none", "flip", "flip_translate"] = "none"  # test-time augmentation when scoring images (validation, test, evaluate): flip averages the logits of each image and its mirror image (Krizhevsky et al. 2012, section 4.1); flip_translate also those of both shifted by a pixel up-left and down-right (airbench's level 2, six passes); for classes a mirror leaves unchanged
    normalize: Literal["standardize", "scale", "max", "pixel"] = "standardize"  # images, statistics of the training split: per-channel mean/std; scale to [0, 1] (x/255); divide by the largest value; or the ResNet chapter's global mean and per-pixel std
    test_normalize: Literal["train", "own", "raw"] = "train"  # images: the test split normalised with the training split's statistics; with its own, computed as --normalize computes them (the ResNet chapter's code, 001 L158-167); or not at all, raw values (the CIFAR dropout chapter's code, 002 L123, divides X_test by the maximum of the already divided X_train, 1.0)
    checkpoint_every: int = 0         # optimizer steps between checkpoints inside an epoch (counted from the run's start); 0: at epoch ends only
    on_nonfinite: Literal["stop", "skip"] = "stop"  # a NaN or infinite training loss: stop the run at that step, or skip the step (no update) and count it
    sync_bn: bool = False             # data parallel: BatchNorm statistics over the global batch (SyncBatchNorm, CUDA only); no effect in one process

    def validate(self) -> TrainConfig:
        """Raise a `UserError` naming the first setting out of its range (as its command-line option); return self."""
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise UserError(f"--{f.name.replace('_', '-')} must be a finite number; got {v}")
        check_range("epochs", self.epochs, 1, None)
        check_range("batch_size", self.batch_size, 1, None)
        check_range("lr", self.lr, 0, None, low_open=True)
        check_range("momentum", self.momentum, 0, 1, high_open=True)
        check_range("base_lr", self.base_lr, 0, None)
        check_range("weight_decay", self.weight_decay, 0, None)
        check_range("step_epochs", self.step_epochs, 1, None)
        check_range("gamma", self.gamma, 0, None, low_open=True)
        check_range("label_smoothing", self.label_smoothing, 0, 1, high_open=True)
        check_range("clip_norm", self.clip_norm, 0, None)
        check_range("clip_value", self.clip_value, 0, None)
        check_range("val_split", self.val_split, 0, 1, high_open=True)
        check_range("early_stopping", self.early_stopping, 0, None)
        check_range("seed", self.seed, 0, 2**63 - 1)
        check_range("eval_batch_size", self.eval_batch_size, 1, None)
        check_range("checkpoint_every", self.checkpoint_every, 0, None)
        check_range("decay", self.decay, 0, None)
        if self.decay and self.schedule != "constant":
            raise UserError(f"--decay is Keras's own schedule; use it with --schedule constant, not {self.schedule}")
        if self.schedule == "piecewise":
            self.lr_points()
        elif self.lr_at:
            raise UserError("--lr-at gives a piecewise schedule; add --schedule piecewise")
        if self.validate_on == "test" and self.val_split:
            raise UserError("--validate-on test uses the test split for validation; leave out --val-split")
        if not self.device or self.device != self.device.strip():
            raise UserError(f"--device must name a device (auto, cpu, cuda or cuda:N); got {self.device!r}")
        return self

    def lr_points(self) -> list[tuple[int, float]]:
        """The piecewise schedule as sorted (first epoch, learning rate) pairs, starting at epoch 0."""
        points = []
        for part in filter(None, (p.strip() for p in self.lr_at.split(","))):
            epoch, sep, lr = part.partition(":")
            try:
                e, v = int(epoch), float(lr)
            except ValueError:
                e, v = -1, float("nan")
            if not sep or e < 0 or not math.isfinite(v) or v <= 0:
                raise UserError(f"--lr-at {self.lr_at!r}: write EPOCH:LR pairs with positive rates, "
                                f"e.g. 0:1e-3,30:1e-4")
            points.append((e, v))
        points.sort()
        if not points or points[0][0] != 0:
            raise UserError(f"--lr-at {self.lr_at!r} must start at epoch 0, e.g. 0:1e-3,30:1e-4")
        return points


@dataclass
class TransferConfig:
    """Transfer learning: published or earlier weights, a new head, what is frozen (see `classicnets.transfer`)."""

    weights: str = ""        # published or earlier weights to start from: a file, a run directory, or 'imagenet' (looked up in $CLASSICNETS_WEIGHTS, else downloaded)
    head: str = ""           # a new head on the model's base, e.g. flatten,dense:256,dropout:0.5,dense (the last dense follows the data)
    freeze: str = ""         # what stops learning: 'base', or module-name patterns such as 'features.*' (frozen BatchNorm runs in inference mode)
    unfreeze_top: int = 0    # fine-tuning: thaw the last N blocks of a frozen base (with --base-lr for their learning rate)
    features: bool = False   # method 1: run the frozen base once over the data, cache the features, train only the head on them

    @property
    def enabled(self) -> bool:
        return bool(self.weights or self.head or self.freeze or self.unfreeze_top or self.features)

    def validate(self) -> TransferConfig:
        check_range("unfreeze_top", self.unfreeze_top, 0, None)
        if "all" in [p.strip() for p in self.freeze.split(",")] and not self.unfreeze_top:
            raise UserError("--freeze all freezes every parameter, so nothing would be trained; freeze 'base' to "
                            "train a head on a fixed base (or add --unfreeze-top N to train the base's top blocks)")
        if self.unfreeze_top and not self.freeze:
            raise UserError("--unfreeze-top thaws blocks of a frozen base; add --freeze base")
        if self.features and not self.head:
            raise UserError("--features trains a new head on extracted features; give it with --head "
                            "(e.g. flatten,dense:256,dropout:0.5,dense)")
        if self.features and self.unfreeze_top:
            raise UserError("--features keeps the whole base frozen (its outputs are computed once); "
                            "fine-tune afterwards with --weights RUN --freeze base --unfreeze-top N")
        return self


@dataclass
class RunConfig:
    """Everything that defines a training run."""

    model: str = "lenet"                                   # registry name
    model_args: dict[str, Any] = field(default_factory=dict)  # builder keyword arguments
    data: str = "digits"                                   # data set registry name
    data_dir: str | None = None                            # directory of data files the user already has
    data_args: dict[str, Any] = field(default_factory=dict)  # data set loader options (num_words, length...)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(translate=1))
    transfer: TransferConfig = field(default_factory=TransferConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        try:
            cfg = cls(model=d["model"], model_args=dict(d["model_args"]), data=d["data"],
                      data_dir=d.get("data_dir"), data_args=dict(d.get("data_args") or {}),
                      train=TrainConfig(**d["train"]), augment=AugmentConfig(**d["augment"]),
                      transfer=TransferConfig(**(d.get("transfer") or {})))
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"run configuration is incomplete or from another version: {e}") from None
        _check_types(cfg.train, "run configuration's train")
        _check_types(cfg.augment, "run configuration's augment")
        _check_types(cfg.transfer, "run configuration's transfer")
        if not isinstance(cfg.model, str) or not isinstance(cfg.data, str):
            raise UserError("run configuration is damaged: model and data must be names")
        return cfg


def _check_types(obj: Any, what: str) -> None:
    """`UserError` if a dataclass loaded from JSON holds a value of the wrong type (an edited or damaged file)."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        v, tp = getattr(obj, f.name), hints[f.name]
        if typing.get_origin(tp) is typing.Literal:
            ok = v in typing.get_args(tp)
        elif tp is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        elif tp is int:
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif tp in (bool, str):
            ok = isinstance(v, tp)
        else:
            continue
        if not ok:
            raise UserError(f"{what} field {f.name!r} holds {v!r}, which is not a valid {getattr(tp, '__name__', tp)}; "
                            f"the file is damaged or from another version")
