"""Test-time augmentation: a model's logits averaged over each image and its left-right mirror.

Training with random horizontal flips teaches a network that a mirrored image is the same class;
at test time both views can then be asked and their logits averaged, which costs one more forward
pass and removes some of the errors either view makes alone (Krizhevsky, Sutskever & Hinton 2012,
section 4.1, averaged ten patches and their reflections; Jordan 2024, airbench, averages the logits
of an image and its mirror). Only for images whose class does not change when mirrored (clothes,
CIFAR's objects; not digits or text).

`TTA(model)` is itself a module, so whatever evaluates a model evaluates it unchanged:
`evaluate(TTA(model), data)`, `predict(TTA(model), x)`, `run_eval(TTA(model), loader)`.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Mode = Literal["none", "flip", "flip_translate"]
MODES: tuple[str, ...] = ("none", "flip", "flip_translate")


def flip_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean of `model`'s logits for images `x` (N, C, H, W) and for their mirror images."""
    # two passes of N rather than one of 2N: on a CPU a batch twice as large can fall out of the cache
    return (model(x) + model(x.flip(3))) * 0.5


def flip_translate_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """airbench's `tta_level=2` (Jordan 2024, `airbench94.py`, `infer_mirror_translate`): half the
    flip logits of `x`, half the mean of the flip logits of `x` shifted one pixel up-left and one
    pixel down-right (edges reflected): six forward passes."""
    h, w = x.shape[2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    shifted = (flip_logits(model, padded[:, :, :h, :w]) + flip_logits(model, padded[:, :, 2:, 2:])) * 0.5
    return (flip_logits(model, x) + shifted) * 0.5


class TTA(nn.Module):
    """`model` evaluated with test-time augmentation `mode` ("flip", "flip_translate"; "none" is the model itself).

    In training mode it is the model alone: augmentation at training time belongs to the loader."""

    def __init__(self, model: nn.Module, mode: Mode = "flip"):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown test-time augmentation {mode!r}; choose one of {', '.join(MODES)}")
        self.model, self.mode = model, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or self.mode == "none" or x.ndim != 4:
            return self.model(x)
        if self.mode == "flip_translate":
            return flip_translate_logits(self.model, x)
        return flip_logits(self.model, x)


def with_tta(model: nn.Module, mode: Mode = "none") -> nn.Module:
    """`model` wrapped for test-time augmentation `mode`, or `model` itself for "none"."""
    return model if mode == "none" else TTA(model, mode)
