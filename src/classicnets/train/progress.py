"""What the user sees while training: a rich progress bar per epoch, or plain lines for logs and CI.

Both end each epoch with the Keras line `Epoch 3/30 - 0.1s - loss: ... - acc: ... - val_loss: ...`.
On a terminal narrower than that line (82 characters for a classifier at epoch 3/30), the bar
prints a compact form, `Epoch 3/30 0.1s loss 0.1234 acc 0.9876 ...`, so that no value is wrapped
onto a line of its own or cropped; plain mode always prints the Keras line, which logs are grepped for.
The bar reads the running loss and accuracy at most every `refresh` seconds, since reading them
waits for the device.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column

from .callbacks import Callback, Meter

SHOWN = ("loss", "acc", "val_loss", "val_acc", "val_map50")  # val_map50: a detector's VOC mAP@0.5


def format_value(v: float, decimals: int = 4) -> str:
    """Keras's choice: fixed point, scientific outside [1e-3, 1e5) so a diverging loss of 1e23 takes
    10 characters instead of 29, and a tiny one does not read 0.0000."""
    if v == 0 or not math.isfinite(v) or 1e-3 <= abs(v) < 1e5:
        return f"{v:.{decimals}f}"
    return f"{v:.{decimals}e}"


def format_logs(logs: dict[str, float], sep: str = " - ", colon: str = ":", decimals: int = 4) -> str:
    return sep.join(f"{k}{colon} {format_value(logs[k], decimals)}" for k in SHOWN if k in logs)


def epoch_line(epoch: int, epochs: int, secs: float, logs: dict[str, float], width: int | None = None) -> str:
    """The line ending epoch `epoch` (0-based): Keras's form, or with `width` the first of ever more
    compact forms that fits in `width` characters (the most compact one if none does)."""
    forms = [
        f"Epoch {epoch + 1}/{epochs} - {secs:.1f}s - {format_logs(logs)}",
        f"Epoch {epoch + 1}/{epochs} {secs:.1f}s {format_logs(logs, ' ', '')}",
        f"{epoch + 1}/{epochs} {secs:.1f}s {format_logs(logs, ' ', '')}",
        f"{epoch + 1}/{epochs} {secs:.0f}s {format_logs(logs, ' ', '', decimals=3)}",
        f"{epoch + 1}/{epochs} {secs:.0f}s {format_logs(logs, ' ', '', decimals=2)}",
    ]
    if width is None:
        return forms[0]
    return next((f for f in forms if len(f) <= width), forms[-1])


class EpochLogger(Callback):
    """One line per epoch through `print_fn` (plain mode: always the full Keras line)."""

    def __init__(self, print_fn: Callable[[str], None] = print):
        self.print_fn = print_fn
        self._t0 = 0.0

    def width(self) -> int | None:
        """Characters a line may take; None: no limit (a log file)."""
        return None

    def on_train_begin(self, trainer):
        val = f", validate on {trainer.num_val:,} samples" if trainer.num_val else ""
        self.print_fn(f"Train on {trainer.num_train:,} samples{val}")

    def on_epoch_begin(self, trainer, epoch):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, trainer, epoch, logs):
        secs = time.perf_counter() - self._t0
        self.print_fn(epoch_line(epoch, trainer.epochs, secs, logs, self.width()))


class ProgressBar(EpochLogger):
    """A transient bar per epoch (batches done, time left, running loss and accuracy), laid out to
    fit the console: the bar shrinks (at most 40 wide) before any text does, and text that still
    does not fit ends in an ellipsis rather than wrapping the bar onto two lines. On a console that
    cannot redraw a line (TERM=dumb, a pipe) there is no bar, and the epoch lines are the Keras lines
    of plain mode: a bar there would leave a blank line, and its width is a guess."""

    def __init__(self, console: Console | None = None, refresh: float = 0.2):
        self.console = console or Console()
        super().__init__(self._print)
        self.refresh = refresh
        self.progress: Progress | None = None
        self._task = None
        self._next = 0.0

    def _print(self, line: str) -> None:
        # soft_wrap: never cropped nor wrapped by rich; a line longer than the console (only on a
        # very narrow one) is wrapped by the terminal, whole
        self.console.print(line, soft_wrap=True, markup=False)

    def width(self) -> int | None:
        if not self.console.is_interactive:
            return None
        return self.console.width  # read each epoch: the terminal may have been resized

    def on_train_begin(self, trainer):
        super().on_train_begin(trainer)
        if not self.console.is_interactive:
            return
        text = Column(no_wrap=True, overflow="ellipsis")
        self.progress = Progress(
            TextColumn("Epoch {task.fields[epoch]}", table_column=text.copy()),
            BarColumn(bar_width=None, table_column=Column(max_width=40)),
            MofNCompleteColumn(table_column=text.copy()), TextColumn("ETA", table_column=text.copy()),
            TimeRemainingColumn(table_column=text.copy()),
            TextColumn("{task.fields[metrics]}", table_column=text.copy()),
            console=self.console, transient=True)
        self.progress.start()

    def on_epoch_begin(self, trainer, epoch):
        super().on_epoch_begin(trainer, epoch)
        if self.progress is None:
            return
        if self._task is not None:
            self.progress.remove_task(self._task)
        self._task = self.progress.add_task("", total=trainer.steps_per_epoch,
                                            epoch=f"{epoch + 1}/{trainer.epochs}", metrics="")
        self._next = 0.0

    def on_batch_end(self, trainer, step, meter: Meter):
        now = time.perf_counter()
        if self.progress is not None and now >= self._next:
            self._next = now + self.refresh
            self.progress.update(self._task, completed=step + 1,
                                 metrics=format_logs(meter.values(), " ", ""))

    def on_epoch_end(self, trainer, epoch, logs):
        if self.progress is not None:
            self.progress.update(self._task, completed=trainer.steps_per_epoch)
        super().on_epoch_end(trainer, epoch, logs)

    def close(self):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
