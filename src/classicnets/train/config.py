"""Typed training configuration. Units are in the comments; the CLI maps its options onto these fields.

Torch-free, so the command line builds its options (and `--help`) without importing torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

from ..errors import UserError, check_range


@dataclass
class TrainConfig:
    epochs: int = 30                  # passes over the training split
    batch_size: int = 64              # examples per optimizer step
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    lr: float = 3e-3                  # learning rate per step (the peak, with a schedule); not scaled by batch size
    momentum: float = 0.9             # SGD momentum (unused by the other optimizers), 0 <= momentum < 1
    nesterov: bool = False            # Nesterov momentum, SGD only
    weight_decay: float = 0.0         # L2 coefficient (decoupled from the gradient for adamw)
    schedule: Literal["constant", "step", "cosine", "onecycle"] = "onecycle"
    step_epochs: int = 10             # step schedule: epochs between decays
    gamma: float = 0.1                # step schedule: factor applied at each decay
    label_smoothing: float = 0.0      # cross-entropy target smoothing, 0 <= smoothing < 1
    val_split: float = 0.0            # fraction of the training split held out for validation (stratified, seeded); 0: use the data set's own validation split
    early_stopping: int = 0           # patience in epochs without improvement of `monitor`; 0 disables
    monitor: Literal["val_loss", "val_acc", "loss", "acc"] = "val_loss"  # for early stopping and keep_best
    keep_best: bool = False           # end with the weights of the best epoch by `monitor`
    seed: int = 0                     # seeds weights, data order, augmentation and dropout
    device: str = "auto"              # "auto" (cuda when present, else cpu), "cpu", "cuda", "cuda:1", ...
    compile: Literal["auto", "on", "off"] = "auto"        # torch.compile; auto: on for CUDA, except recurrent models
    precision: Literal["auto", "fp32", "bf16"] = "auto"   # autocast dtype; auto: bf16 on CUDA, fp32 on CPU
    eval_batch_size: int = 1024       # examples per forward pass when evaluating
    normalize: Literal["standardize", "scale"] = "standardize"  # images: per-channel mean/std of the training split, or scale to [0, 1]

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
        check_range("weight_decay", self.weight_decay, 0, None)
        check_range("step_epochs", self.step_epochs, 1, None)
        check_range("gamma", self.gamma, 0, None, low_open=True)
        check_range("label_smoothing", self.label_smoothing, 0, 1, high_open=True)
        check_range("val_split", self.val_split, 0, 1, high_open=True)
        check_range("early_stopping", self.early_stopping, 0, None)
        check_range("seed", self.seed, 0, 2**63 - 1)
        check_range("eval_batch_size", self.eval_batch_size, 1, None)
        if not self.device or self.device != self.device.strip():
            raise UserError(f"--device must name a device (auto, cpu, cuda or cuda:N); got {self.device!r}")
        return self
