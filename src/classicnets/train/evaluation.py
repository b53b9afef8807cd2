"""Evaluating and predicting: one evaluation loop for `evaluate`, for validation during training (in
one process or several: the strategy sums the parts) and for `predict`'s batches, with the inputs
both take (data sets, splits or tensors, normalised as in training).
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from ..data.core import BatchLoader, Dataset, Normalization, Split, Task, check_finite_array
from .losses import make_loss, predictions, probabilities
from .strategy import OneProcess

DataLike = Dataset | Split | tuple[torch.Tensor, torch.Tensor]


def as_split(data: Split | tuple[torch.Tensor, torch.Tensor]) -> Split:
    return data if isinstance(data, Split) else Split(torch.as_tensor(data[0]), torch.as_tensor(data[1]))


def default_normalization(data: DataLike, mode: str = "standardize") -> Normalization | None:
    """Training-split statistics for a data set (or [0, 1] scaling with mode 'scale'); for raw
    tensors: per-channel statistics of uint8 images, identity for float images, None for sequences."""
    if isinstance(data, Dataset):
        return data.normalization(mode)
    split = as_split(data)
    if split.kind != "image":
        return None
    if split.x.dtype == torch.uint8:
        return Normalization.for_images(split.x, 255.0, mode)
    return Normalization.identity(split.x.shape[1])


def task_of(data: DataLike) -> Task:
    """The data set's task; for tensors: regression for float targets, else multiclass."""
    if isinstance(data, Dataset):
        return data.task
    return "regression" if as_split(data).y.is_floating_point() else "multiclass"


@torch.no_grad()
def run_eval(model: nn.Module, loader: BatchLoader, autocast=contextlib.nullcontext,
             confusion: bool = False, num_classes: int | None = None,
             task: Task = "multiclass", strategy: OneProcess | None = None) -> dict[str, Any]:
    """Mean loss (per target value, as in training) and accuracy over a loader; with `confusion`
    also the confusion matrix (rows: true class, columns: predicted). With several processes
    (`strategy`) each evaluates the part its loader holds, with rank 0's BatchNorm statistics, and
    the sums are taken over all of them."""
    strategy = strategy or OneProcess()
    strategy.before_eval(model)
    was_training = model.training
    model.eval()
    loss_fn = make_loss(task, reduction="sum")
    loss_sum = torch.zeros((), dtype=torch.float64, device=loader.y.device)
    correct = torch.zeros((), dtype=torch.int64, device=loader.y.device)
    preds = []
    for xb, yb in loader:
        with autocast():
            logits = model(xb)
        loss_sum += loss_fn(logits.float(), yb)
        if task != "regression":
            p = predictions(task, logits, yb.shape)
            correct += (p == yb).sum()
            if confusion:
                preds.append(p)
    model.train(was_training)
    loss, right, values = strategy.sum([loss_sum.item(), correct.item(), loader.y.numel()])
    out: dict[str, Any] = {"loss": loss / values}
    if task != "regression":
        out["acc"] = right / values
        if confusion:
            k = num_classes or int(max(loader.y.max().item(), 1)) + 1
            pred = torch.cat(preds).reshape(-1)
            out["confusion"] = torch.bincount(loader.y.reshape(-1) * k + pred, minlength=k * k).view(k, k).cpu()
    return out


def evaluate(model: nn.Module, data: DataLike, *, split: str = "test",
             normalization: Normalization | None = None, batch_size: int = 1024,
             device: str | torch.device | None = None, confusion: bool = False,
             task: Task | None = None) -> dict[str, Any]:
    """Loss and accuracy of `model` on a split; with `confusion=True` also the confusion matrix
    (rows: true class, columns: predicted). Regression reports the loss (MSE) only."""
    normalization = normalization or default_normalization(data)
    s = data.split(split) if isinstance(data, Dataset) else as_split(data)
    dev = next(model.parameters()).device if device is None else torch.device(device)
    k = data.num_classes if isinstance(data, Dataset) else None
    loader = BatchLoader(s, batch_size, device=dev, normalization=normalization)
    return run_eval(model.to(dev), loader, confusion=confusion, num_classes=k, task=task or task_of(data))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, *, normalization: Normalization | None = None,
            batch_size: int = 1024, task: Task = "multiclass") -> torch.Tensor:
    """Class probabilities (N, [time,] classes) for raw inputs `x` in the training data's units:
    images (N, C, H, W), word ids (N, T) or sequences (N, T, F). Binary tasks give (N, 2):
    [P(negative), P(positive)]; regression gives the model's outputs."""
    x = torch.as_tensor(x)
    check_finite_array(x, "the inputs", "replace them before predicting")
    split = Split(x, torch.zeros(len(x), dtype=torch.long))
    normalization = normalization or default_normalization(split)
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = [probabilities(task, model(xb))
           for xb, _ in BatchLoader(split, batch_size, device=dev, normalization=normalization)]
    model.train(was_training)
    return torch.cat(out).cpu()
