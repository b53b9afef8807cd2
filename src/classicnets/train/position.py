"""Where training stands inside an epoch, so a checkpoint taken between two steps resumes exactly.

An epoch is a permutation of the training split cut into batches; its augmentation draws come from
the data generator, batch after batch. After `step` steps the rest of the epoch is determined by the
permutation, the generator's state at that moment (saved with the other generators) and the step
count; the epoch's metrics by the running sums. Those are what a mid-epoch checkpoint adds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import UserError


@dataclass
class EpochPosition:
    order: torch.Tensor | None     # (N,) the epoch's permutation of the training split (None: unshuffled)
    step: int                      # steps of the epoch done
    loss_sum: torch.Tensor         # () float32 on the device: sum of per-example losses so far
    correct: torch.Tensor          # () int64 on the device: correct predictions so far
    seen: int = 0                  # examples in the steps taken (skipped steps excluded)
    targets: int = 0               # predicted values in them (examples x time steps for per-step targets)
    first: torch.Tensor | None = None  # () the loss of the epoch's first step taken
    skipped: int = 0               # steps skipped for a non-finite loss (--on-nonfinite skip)
    parts: dict[str, torch.Tensor] = field(default_factory=dict)  # a detector's named losses: () sums so far

    @classmethod
    def start(cls, order: torch.Tensor | None, device: torch.device) -> EpochPosition:
        return cls(order, 0, torch.zeros((), device=device), torch.zeros((), dtype=torch.int64, device=device))

    def to_state(self) -> dict[str, Any]:
        return {"order": self.order, "step": self.step, "loss_sum": self.loss_sum, "correct": self.correct,
                "seen": self.seen, "targets": self.targets, "first": self.first, "skipped": self.skipped,
                "parts": dict(self.parts)}

    @classmethod
    def from_state(cls, s: dict[str, Any], device: torch.device, num_train: int, steps: int) -> EpochPosition:
        order = s["order"]
        if order is not None and (order.ndim != 1 or len(order) != num_train):
            raise UserError(f"the checkpoint stopped inside an epoch of {len(order)} examples, but the training "
                            f"split now has {num_train}")
        if not 0 <= int(s["step"]) <= steps:
            raise UserError(f"the checkpoint stopped at step {s['step']} of an epoch that has {steps} steps; "
                            f"the batch size or the data changed")
        first = s["first"]
        return cls(order.to(device) if order is not None else None, int(s["step"]),
                   s["loss_sum"].to(device=device, dtype=torch.float32),
                   s["correct"].to(device=device, dtype=torch.int64), int(s["seen"]), int(s["targets"]),
                   first.to(device) if first is not None else None, int(s["skipped"]),
                   {k: torch.as_tensor(v).to(device=device, dtype=torch.float32)
                    for k, v in (s.get("parts") or {}).items()})


def nonfinite_message(value: float, epoch: int, step: int, steps: int, lr: float) -> str:
    """The sentence that stops a run at a non-finite loss (`epoch`, `step` 0-based)."""
    return (f"the training loss became {value} at epoch {epoch + 1}, step {step + 1} of {steps} (the inputs are "
            f"finite), so the run stopped there, keeping its last good checkpoint; lower the learning rate (now "
            f"{lr:g}), normalise the inputs, or clip the gradients (--clip-norm 1.0), or skip such steps with "
            f"--on-nonfinite skip")


class NonFiniteWatch:
    """The losses of the steps since the last check, kept on the device (one copy per step) and
    looked at only at check points, so the loop never waits for the device to find out (CUDA, and
    processes that must agree first)."""

    def __init__(self, size: int, device: torch.device):
        self.values = torch.zeros(size, device=device)
        self.n = 0

    def add(self, loss: torch.Tensor) -> None:
        self.values[self.n] = loss.detach()
        self.n += 1

    def first_bad(self, steps_done: int) -> tuple[int, float] | None:
        """(0-based step in the epoch, loss) of the first non-finite loss since the last call, or None."""
        n, self.n = self.n, 0
        if not n:
            return None
        values = self.values[:n].cpu()  # waits for the device: once per check, not per step
        bad = (~torch.isfinite(values)).nonzero()
        if not len(bad):
            return None
        i = int(bad[0])
        return steps_done - n + i, float(values[i])
