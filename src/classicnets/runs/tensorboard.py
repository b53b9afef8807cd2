"""TensorBoard logging of a run: the per-epoch numbers of metrics.csv, as event files in RUN/tensorboard/.

`tensorboard --logdir runs` then shows every run's curves side by side. The scalars are tagged as
metrics.csv names its columns (loss, acc, val_loss, val_acc, lr), at step = epoch (1-based, as in
metrics.csv); a resumed run appends its epochs to the same directory.

The `tensorboard` package is optional (`pip install 'classicnets[tensorboard]'`); the callback says
so when it is created, before any training starts.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..train.callbacks import Callback

TENSORBOARD = "tensorboard"  # the event files' directory inside a run directory
SCALARS = ("loss", "acc", "val_loss", "val_acc", "lr")


def summary_writer_class() -> Any:
    """torch's SummaryWriter; a `UserError` naming the extra to install if tensorboard is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("TensorBoard logging needs the tensorboard package; install it with "
                        "pip install 'classicnets[tensorboard]'") from None
    return SummaryWriter


class TensorBoard(Callback):
    """Write the epoch's loss, accuracy, validation loss and accuracy, and learning rate as scalars.

    `log_dir` may be given later (`callback.log_dir = run / TENSORBOARD`, e.g. once `train_run` has
    made the run directory). The writer, and so the directory, is made at the first finished epoch,
    so a run that fails before it leaves no event files behind.
    """

    def __init__(self, log_dir: str | os.PathLike | None = None):
        self._writer_class = summary_writer_class()
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.writer = None

    def on_epoch_end(self, trainer, epoch, logs):
        if self.writer is None:
            if self.log_dir is None:
                raise RuntimeError("TensorBoard callback has no log_dir; set it before training starts")
            self.writer = self._writer_class(log_dir=str(self.log_dir))
        for key in SCALARS:
            if key in logs:
                self.writer.add_scalar(key, float(logs[key]), epoch + 1)
        self.writer.flush()  # a live `tensorboard --logdir` sees each epoch as it ends

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
