"""Keras's own behaviour, as builder options of the zoo's Keras-born models (the course's Keras code,
and the Keras examples it cites). Each option's default is PyTorch's, so a model built without it is
what it always was; the course's recipes (`classicnets.recipes.course`) set the Keras values.

- `init="keras"`: Keras 1 and 2 start every Conv and Dense layer from `glorot_uniform` kernels,
  uniform in ±sqrt(6 / (fan_in + fan_out)) with the fans counted over the kernel's area (Glorot &
  Bengio 2010), and zero biases. PyTorch's layers start from kaiming_uniform(a=sqrt(5)) weights and
  uniform(±1/sqrt(fan_in)) biases (`init="torch"`). Recurrent layers and embeddings
  (`classicnets.recurrent`) start as Keras's whatever `init` says: Glorot input kernels, orthogonal
  recurrent kernels, zero biases (LSTM forget bias 1), embeddings uniform in ±0.05.
- `bn_momentum`: PyTorch's BatchNorm momentum, the weight of the *new* batch statistic; Keras's
  `momentum` m weights the old running one (running = m * running + (1 - m) * batch), so PyTorch's
  momentum is 1 - m. Keras's default m = 0.99 is `bn_momentum=0.01`; PyTorch's default 0.1 is Keras 0.9.
- `pad_row="trainable"`: the embedding's row 0 (the padding id) is an ordinary trainable row, as in
  Keras's `Embedding` with `mask_zero=False` (its default, and the course's code); `"zero"` keeps it a
  frozen zero vector (PyTorch's `padding_idx=0`).
- `output="probability"`: Keras reads a bare `Dense(1)` (no sigmoid) under `binary_crossentropy` as a
  probability, clipped to [1e-7, 1 - 1e-7], and counts it right at output > 0.5 (see
  `ProbabilityAsLogit`).
"""
from __future__ import annotations

import torch
from torch import nn

INITS = ("torch", "keras")
PAD_ROWS = ("zero", "trainable")
OUTPUTS = ("logit", "probability")
KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): the clip of a probability in binary_crossentropy


def _choice(option: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{option} must be {' or '.join(repr(a) for a in allowed)}; got {value!r}")


def initialise(model: nn.Module, init: str) -> nn.Module:
    """`model` with its Conv and Dense layers initialised Keras's way (`init="keras"`: glorot_uniform
    kernels, zero biases) or left with PyTorch's (`"torch"`). Draws from the global generator, so a
    seeded `create` gives the same weights every time."""
    _choice("init", init, INITS)
    if init == "keras":
        for m in model.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)  # fans: channels x kernel area, as Keras counts them
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return model


def check_bn_momentum(momentum: float) -> float:
    if not 0.0 < momentum <= 1.0:
        raise ValueError(f"bn_momentum is PyTorch's (1 - Keras's momentum), in (0, 1]; got {momentum}")
    return momentum


def padding_idx(pad_row: str) -> int | None:
    """The embedding's `padding_idx` for `pad_row`: 0 (a frozen zero row) or None (a trainable row)."""
    _choice("pad_row", pad_row, PAD_ROWS)
    return 0 if pad_row == "zero" else None


class ProbabilityAsLogit(nn.Module):
    """Keras's reading of a bare `Dense(1)` under `binary_crossentropy`: the output o is a probability,
    clipped to [eps, 1 - eps] (eps = 1e-7), with no gradient outside that range (`clip_by_value`).
    Returned as its logit, log(p / (1 - p)), so the project's binary loss, binary cross-entropy on a
    logit (`train.losses`), is Keras's -y log p - (1 - y) log(1 - p) with the same gradient
    (p - y) / (p (1 - p)); only a clipped output's loss differs, by the eps Keras adds inside its
    logarithms (-log(1e-7) here, -log(2e-7) in Keras), its gradient being zero in both. Accuracy at
    logit > 0 is Keras's at o > 0.5, and `predict`'s probability is the clipped o."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = x.float().clamp(KERAS_EPSILON, 1.0 - KERAS_EPSILON)  # float32 as Keras: 1 - 1e-7 rounds to 1 - 1.2e-7
        return torch.log(p) - torch.log1p(-p)                    # (batch, 1) logits


def output_layer(output: str) -> list[nn.Module]:
    """The layers after a binary model's last Dense: none (a logit) or `ProbabilityAsLogit`."""
    _choice("output", output, OUTPUTS)
    return [ProbabilityAsLogit()] if output == "probability" else []
