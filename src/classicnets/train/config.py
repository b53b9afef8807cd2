"""Typed training configuration. Units are in the comments; the CLI maps its options onto these fields."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class TrainConfig:
    epochs: int = 30                  # passes over the training split
    batch_size: int = 64              # examples per optimizer step
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    lr: float = 3e-3                  # learning rate per step (the peak, with a schedule); not scaled by batch size
    momentum: float = 0.9             # SGD momentum (unused by the other optimizers)
    nesterov: bool = False            # Nesterov momentum, SGD only
    weight_decay: float = 0.0         # L2 coefficient (decoupled from the gradient for adamw)
    schedule: Literal["constant", "step", "cosine", "onecycle"] = "onecycle"
    step_epochs: int = 10             # step schedule: epochs between decays
    gamma: float = 0.1                # step schedule: factor applied at each decay
    label_smoothing: float = 0.0      # cross-entropy target smoothing, 0..1
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
