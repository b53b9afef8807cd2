"""The loss each task minimises and the predictions it is scored by.

- multiclass: softmax cross-entropy over the last axis, so (batch, classes) logits against (batch,)
  labels, or (batch, time, classes) against (batch, time) for per-step targets (the copy task);
- binary: one logit per example and binary cross-entropy (Keras's Dense(1, sigmoid) with
  binary_crossentropy, the sigmoid folded into the loss for stability); accuracy at logit > 0;
- regression: mean squared error, no accuracy (the adding problem).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.core import Task


def make_loss(task: Task, label_smoothing: float = 0.0, reduction: str = "mean"):
    """loss(logits, targets) for a task (see the module docstring)."""
    if task == "binary":
        return lambda logits, y: F.binary_cross_entropy_with_logits(
            logits.float().reshape(y.shape), y.float(), reduction=reduction)
    if task == "regression":
        return lambda out, y: F.mse_loss(out.float().reshape(y.shape), y.float(), reduction=reduction)
    return lambda logits, y: F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                             label_smoothing=label_smoothing, reduction=reduction)


def predictions(task: Task, logits: torch.Tensor, y_shape: torch.Size | tuple) -> torch.Tensor:
    """Predicted classes, shaped like the targets (binary: logit > 0)."""
    if task == "binary":
        return (logits.reshape(y_shape) > 0).long()
    return logits.argmax(-1).reshape(y_shape)


def probabilities(task: Task, logits: torch.Tensor) -> torch.Tensor:
    """What `predict` reports: class probabilities over the last axis; for a binary task (N, 2),
    [P(negative), P(positive)]; for regression the outputs themselves."""
    logits = logits.float()
    if task == "binary":
        p = torch.sigmoid(logits.reshape(len(logits)))
        return torch.stack([1 - p, p], dim=1)
    return logits if task == "regression" else torch.softmax(logits, -1)
