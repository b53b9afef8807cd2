"""Callbacks: what happens beside the training loop (stopping, keeping the best, checkpointing, logging).

A callback overrides the hooks it needs. `on_batch_end` is called only for callbacks that override
it, so the loop pays nothing per step for the others. Stateful callbacks return JSON-able (or tensor)
state from `state_dict`, saved in the checkpoint so a resumed run continues exactly.
"""
from __future__ import annotations

import contextlib
import csv
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import UserError
from ..fileio import BackgroundWriter
from .checkpoint import serialize_state

if TYPE_CHECKING:
    from .engine import Trainer


class Callback:
    order = 0  # callbacks run in ascending order; Checkpoint runs last so it saves the others' state

    def on_train_begin(self, trainer: Trainer) -> None: ...
    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None: ...
    def on_batch_end(self, trainer: Trainer, step: int, meter: Meter) -> None: ...
    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None: ...
    def on_train_end(self, trainer: Trainer) -> None: ...
    def on_checkpoint(self, trainer: Trainer) -> None: ...  # save inside an epoch (checkpoint_every, a stop)
    def close(self) -> None: ...  # always called last, also when training fails or is interrupted

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Meter:
    """Running sums of the current epoch, kept on the device; `values()` syncs, so call it sparingly."""

    def __init__(self, steps: int):
        self.steps = steps
        self.step = 0
        self.loss_sum: torch.Tensor | None = None
        self.correct: torch.Tensor | None = None  # None for regression: no accuracy
        self.seen = 0       # examples
        self.targets = 0    # predicted values (examples x steps for per-step targets)

    def values(self) -> dict[str, float]:
        if not self.seen:
            return {}
        out = {"loss": self.loss_sum.item() / self.seen}
        if self.correct is not None and self.targets:
            out["acc"] = self.correct.item() / self.targets
        return out


def _improved(mode: str, value: float, best: float | None, min_delta: float = 0.0) -> bool:
    if best is None:
        return not math.isnan(value)
    return value > best + min_delta if mode == "max" else value < best - min_delta


def _mode(mode: str, monitor: str) -> str:
    """"min" or "max"; "auto" as Keras infers it: an accuracy rises, anything else (a loss) falls."""
    if mode == "auto":
        return "max" if monitor.endswith("acc") else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min', 'max' or 'auto'; got {mode!r}")
    return mode


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved for `patience` epochs (Keras's EarlyStopping); `mode`
    says whether it improves by falling ("min", a loss) or rising ("max", an accuracy or a mAP)."""

    def __init__(self, patience: int, monitor: str = "val_loss", min_delta: float = 0.0, mode: str = "auto"):
        self.patience, self.monitor, self.min_delta = patience, monitor, min_delta
        self.mode = _mode(mode, monitor)
        self.best: float | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, trainer, epoch, logs):
        value = logs[self.monitor]
        if _improved(self.mode, value, self.best, self.min_delta):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True

    def state_dict(self):
        return {"best": self.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state):
        self.best, self.wait, self.stopped_epoch = state["best"], state["wait"], state["stopped_epoch"]


class KeepBest(Callback):
    """Remember the weights of the best epoch by `monitor` (`mode` as `EarlyStopping`'s); restore them
    when training ends."""

    def __init__(self, monitor: str = "val_loss", mode: str = "auto"):
        self.monitor, self.mode = monitor, _mode(mode, monitor)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, trainer, epoch, logs):
        value = logs[self.monitor]
        if _improved(self.mode, value, self.best):
            self.best, self.best_epoch = value, epoch
            self.weights = {k: v.detach().to("cpu", copy=True) for k, v in trainer.model.state_dict().items()}

    def on_train_end(self, trainer):
        if self.weights is not None:
            trainer.model.load_state_dict(self.weights)

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "weights": self.weights}

    def load_state_dict(self, state):
        self.best, self.best_epoch, self.weights = state["best"], state["best_epoch"], state["weights"]


class Checkpoint(Callback):
    """Save the whole training state (model, optimizer, schedule, RNGs, callbacks) after every epoch,
    and inside epochs when the trainer asks (`on_checkpoint`: `checkpoint_every`, a stop request).

    The state is serialised on the training thread (a consistent snapshot) and written to disk on a
    worker thread while training goes on; `close` waits for it, also on Ctrl-C. A file that cannot be
    written (full disk, read-only directory) is a `UserError`; the previous checkpoint stays as it
    was. With several processes every one takes part in `trainer.state()`; rank 0 writes.
    """

    order = 100

    def __init__(self, path: str | os.PathLike):
        self.path = path
        self.writer = BackgroundWriter()

    def on_epoch_end(self, trainer, epoch, logs):
        self._save(trainer)

    def on_checkpoint(self, trainer):
        self._save(trainer)

    def _save(self, trainer):
        state = trainer.state()
        if trainer.is_main:
            data = serialize_state(state)
            with _write_errors(self.path, "checkpoint"):
                self.writer.submit(self.path, data)

    def close(self):
        with _write_errors(self.path, "checkpoint"):
            self.writer.wait()


class CSVLogger(Callback):
    """Rewrite `metrics.csv` (a row per epoch) atomically after every epoch, on a worker thread."""

    def __init__(self, path: str | os.PathLike):
        self.path = path
        self.writer = BackgroundWriter()

    def on_epoch_end(self, trainer, epoch, logs):
        if trainer.is_main:
            with _write_errors(self.path, "metrics"):
                self.writer.submit(self.path, history_csv(trainer.history).encode())

    def close(self):
        with _write_errors(self.path, "metrics"):
            self.writer.wait()


@contextlib.contextmanager
def _write_errors(path: str | os.PathLike, what: str) -> Iterator[None]:
    """A file that cannot be written as one sentence: which, why, and that the last checkpoint is intact."""
    try:
        yield
    except OSError as e:
        path = Path(path)
        reason = e.strerror or str(e)
        ckpt = path if what == "checkpoint" else path.with_name("checkpoint.safetensors")
        kept = ("the previous checkpoint is intact, so once there is room (or the directory is writable) "
                f"`classicnets train --resume {path.parent}` continues from it") if ckpt.exists() else \
            "no checkpoint had been saved yet"
        raise UserError(f"cannot write the {what} file {path} ({reason}); {kept}") from None


def history_csv(history) -> str:
    buf = io.StringIO()
    keys = list(history.history)
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["epoch", *keys])
    for i, e in enumerate(history.epoch):
        w.writerow([e + 1, *(repr(history.history[k][i]) for k in keys)])
    return buf.getvalue()
