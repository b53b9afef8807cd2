"""Optimizers and learning-rate schedules from a `TrainConfig`. Every schedule steps once per batch."""
from __future__ import annotations

import torch
from torch import nn

from ..config import TrainConfig
from ..errors import UserError


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.lr <= 0:
        raise UserError(f"the learning rate must be positive; got {cfg.lr}")
    params: list = [p for p in model.parameters() if p.requires_grad]  # frozen tensors never reach it
    base = getattr(model, "base", None)
    if cfg.base_lr and isinstance(base, nn.Module):  # fine-tuning: the thawed base learns at its own rate
        in_base = {id(p) for p in base.parameters()}
        params = [{"params": [p for p in params if id(p) not in in_base]},
                  {"params": [p for p in params if id(p) in in_base], "lr": cfg.base_lr}]
        params = [g for g in params if g["params"]]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    if cfg.nesterov:
        raise UserError(f"--nesterov applies to SGD only, not {cfg.optimizer}")
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":  # Keras defaults: rho 0.9, epsilon 1e-7
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=0.9, eps=1e-7, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adadelta":  # Keras 2 defaults: lr 1.0, rho 0.95, epsilon 1e-7
        return torch.optim.Adadelta(params, lr=cfg.lr, rho=0.95, eps=1e-7, weight_decay=cfg.weight_decay)
    raise UserError(f"unknown optimizer {cfg.optimizer!r}; choose adam, adamw, sgd, rmsprop or adadelta")


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "constant":
        if cfg.decay:  # Keras 2: lr_t = lr / (1 + decay * t), t the updates made before this one
            return torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (1.0 + cfg.decay * t))
        return None
    if cfg.schedule == "piecewise":  # Keras's LearningRateScheduler: a rate per epoch
        points = cfg.lr_points()

        def factor(t: int) -> float:
            epoch = t // max(1, steps_per_epoch)
            return next(lr for start, lr in reversed(points) if start <= epoch) / cfg.lr  # every group alike
        return torch.optim.lr_scheduler.LambdaLR(opt, factor)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, cfg.step_epochs * steps_per_epoch),
                                               gamma=cfg.gamma)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total))
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups],
                                                   total_steps=max(1, total))
    raise UserError(f"unknown schedule {cfg.schedule!r}; choose constant, step, cosine or onecycle")
