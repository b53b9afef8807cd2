"""What the user sees while training: a rich progress bar per epoch, or plain lines for logs and CI.

Both end each epoch with the Keras line `Epoch 3/30 - 0.1s - loss: ... - acc: ... - val_loss: ...`.
The bar reads the running loss and accuracy at most every `refresh` seconds, since reading them
waits for the device.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .callbacks import Callback, Meter

SHOWN = ("loss", "acc", "val_loss", "val_acc")


def format_logs(logs: dict[str, float]) -> str:
    return " - ".join(f"{k}: {logs[k]:.4f}" for k in SHOWN if k in logs)


class EpochLogger(Callback):
    """One line per epoch through `print_fn` (plain mode)."""

    def __init__(self, print_fn: Callable[[str], None] = print):
        self.print_fn = print_fn
        self._t0 = 0.0

    def on_train_begin(self, trainer):
        val = f", validate on {trainer.num_val:,} samples" if trainer.num_val else ""
        self.print_fn(f"Train on {trainer.num_train:,} samples{val}")

    def on_epoch_begin(self, trainer, epoch):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, trainer, epoch, logs):
        secs = time.perf_counter() - self._t0
        self.print_fn(f"Epoch {epoch + 1}/{trainer.epochs} - {secs:.1f}s - {format_logs(logs)}")


class ProgressBar(EpochLogger):
    """A transient bar per epoch (batches done, time left, running loss and accuracy)."""

    def __init__(self, console: Console | None = None, refresh: float = 0.2):
        self.console = console or Console()
        super().__init__(self.console.print)
        self.refresh = refresh
        self.progress: Progress | None = None
        self._task = None
        self._next = 0.0

    def on_train_begin(self, trainer):
        super().on_train_begin(trainer)
        self.progress = Progress(
            TextColumn("Epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[metrics]}"),
            console=self.console, transient=True)
        self.progress.start()

    def on_epoch_begin(self, trainer, epoch):
        super().on_epoch_begin(trainer, epoch)
        if self._task is not None:
            self.progress.remove_task(self._task)
        self._task = self.progress.add_task("", total=trainer.steps_per_epoch,
                                            epoch=f"{epoch + 1}/{trainer.epochs}", metrics="")
        self._next = 0.0

    def on_batch_end(self, trainer, step, meter: Meter):
        now = time.perf_counter()
        if now >= self._next:
            self._next = now + self.refresh
            self.progress.update(self._task, completed=step + 1, metrics=format_logs(meter.values()))

    def on_epoch_end(self, trainer, epoch, logs):
        self.progress.update(self._task, completed=trainer.steps_per_epoch)
        super().on_epoch_end(trainer, epoch, logs)

    def close(self):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
