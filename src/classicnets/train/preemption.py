"""Stopping on SIGTERM or SIGINT without losing work: finish the step, save a checkpoint, say how to go on.

A batch scheduler (SLURM, Kubernetes) ends a job with SIGTERM and a grace period; Ctrl-C sends SIGINT.
While `StopOnSignal` is installed, either signal only sets `trainer.stop_signal`; the loop notices it
after the current step, saves a checkpoint of that exact position inside the epoch (see
`train.position`) and raises `Preempted`. The command line then prints the resume command and
exits with 128 + the signal's number: 143 for SIGTERM, 130 for SIGINT (the shells' convention).
A second Ctrl-C stops at once (the last complete checkpoint stays valid; files are written atomically).
"""
from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING

from .callbacks import Callback

if TYPE_CHECKING:
    from .engine import Trainer

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Preempted(KeyboardInterrupt):
    """Training stopped on a signal after saving its position (`epoch` done, `step` of the next one)."""

    def __init__(self, signum: int, epoch: int | None = None, step: int | None = None):
        super().__init__(signal.Signals(signum).name)
        self.signum, self.epoch, self.step = signum, epoch, step

    @property
    def status(self) -> int:
        return 128 + self.signum


def raise_preempted(signum, frame) -> None:
    """A signal handler for the moments outside the training loop: unwind (cleaning up) now."""
    raise Preempted(signum)


class StopOnSignal(Callback):
    """Turn SIGTERM and SIGINT into a request to stop after the current step (installed in the main
    thread only; elsewhere signals keep their handlers). Restores the previous handlers at the end."""

    order = -1000

    def __init__(self):
        self._previous: dict[int, object] = {}

    def on_train_begin(self, trainer: Trainer) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handle(signum, frame):
            if trainer.stop_signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: stop now
            trainer.stop_signal = signum
        for s in SIGNALS:
            self._previous[s] = signal.signal(s, handle)

    def close(self) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous.clear()
