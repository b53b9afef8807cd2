"""What the studies share: their data, a thread setting for tiny models, figures, per-epoch probes,
and the record of the machine the numbers came from.

Every study is a dataclass whose fields are its settings (the command line maps `--name` options
onto them) and whose results are filled in by `run(log, callbacks)`; it then gives `table()` (rich),
`finding()` (one line: the claim's numbers), `plot(path)` (PNG) and `to_dict()` (every number, JSON,
with `environment()`: torch's version, the threads, the CPU and its vector instructions, the device).

Reproducibility: a study on its default (small, offline) data runs on the CPU (`device_for`) on one
thread (`one_thread`), where every operation is deterministic, so a rerun on the same machine gives
the same numbers to the last bit (checked: exploding-gradients, dropout and residual-identity wrote
identical JSON twice). Another machine may not: torch and MKL pick kernels by the CPU's vector
instructions and library versions, which add in another order, and a study that amplifies rounding
moves visibly. Measured on one machine (AMD EPYC, torch 2.13): the exploding-gradients growth is
7.0e6 with its AVX-512 kernels and with `ATEN_CPU_CAPABILITY=avx2`, 1.0e7 with
`ATEN_CPU_CAPABILITY=default`, 8.4e6 with `MKL_CBWR=COMPATIBLE ONEDNN_MAX_CPU_ISA=AVX2`; the dropout
gap 0.327 with AVX-512, 0.337 with AVX2. So the user guide quotes each figure with the margin its
test checks, and the JSON names the machine.
"""
from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UserError, check_range
from ..train.callbacks import Callback


def check_common(study, *, counts: tuple[str, ...] = (), epochs_from: int = 1) -> None:
    """`UserError` for a seed, an epoch count or a positive count out of range (named as options)."""
    check_range("seed", study.seed, 0, 2**63 - 1)
    if hasattr(study, "epochs"):
        check_range("epochs", study.epochs, epochs_from, None)
    for name in counts:
        check_range(name, getattr(study, name), 1, None)


def check_image_data(name: str, study: str) -> None:
    """`UserError` unless `name` is a registered image classification data set (nothing is loaded)."""
    from ..data.registry import dataset_info

    if len(dataset_info(name).input_shape) != 3:
        raise UserError(f"{study} trains image classifiers; --data {name} is not an image data set "
                        f"(try digits, mnist or cifar10)")


def image_data(name: str, study: str):
    """An image classification data set by name, refused with one sentence if it is not one."""
    from ..data import load_dataset

    check_image_data(name, study)
    return load_dataset(name)


@contextlib.contextmanager
def one_thread(small: bool = True) -> Iterator[None]:
    """Run tiny models (8x8 digits, 32-unit RNNs) on one CPU thread, then restore the setting: their
    layers are too small to split, and handing each over between threads costs more than the work,
    many times more when the cores are shared with other processes (measured: 4 s against 28-43 s
    for the same four epochs of plain-20 on 2 busy cores). Real data sets (`small=False`) keep
    torch's setting."""
    before = torch.get_num_threads()
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def device_for(small: bool) -> str:
    """The training device of a study: the CPU for its small default data (a GPU gains nothing on 8x8
    digits, and would change the numbers: bf16 autocast, other kernels), torch's choice otherwise."""
    return "cpu" if small else "auto"


def environment(device: str = "cpu") -> dict:
    """What a study's numbers depend on beyond its settings: call it inside the study's thread
    setting (`one_thread`), so the threads recorded are those the study ran on."""
    import numpy as np

    env = {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
           "threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "machine": platform.machine(), "cpu": _cpu_name(), "cores": os.cpu_count(),
           "system": f"{platform.system()} {platform.release()}", "device": device}
    if device != "cpu" and torch.cuda.is_available():
        env["device"] = f"cuda ({torch.cuda.get_device_name()})"
    return env


def _cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo; elsewhere platform's, which may be empty)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or sys.platform


def save_figure(fig, path: str | os.PathLike) -> None:
    """Write a matplotlib figure as PNG atomically (as runs.plots does), then close it."""
    import matplotlib.pyplot as plt

    from ..fileio import atomic_open
    with atomic_open(Path(path), "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def pyplot():
    """matplotlib.pyplot with the file-only Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


class EpochClock(Callback):
    """Wall-clock seconds of each epoch (training and validation)."""

    def __init__(self):
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, trainer, epoch):
        self._start = time.perf_counter()

    def on_epoch_end(self, trainer, epoch, logs):
        self.seconds.append(time.perf_counter() - self._start)


class StepLosses(Callback):
    """The training loss of every step, read from the epoch's running sum (one read per step: for
    studies, not for training runs)."""

    def __init__(self):
        self.losses: list[float] = []
        self._sum = 0.0
        self._seen = 0

    def on_epoch_begin(self, trainer, epoch):
        self._sum, self._seen = 0.0, 0

    def on_batch_end(self, trainer, step, meter):
        total = float(meter.loss_sum)
        n = meter.seen - self._seen
        if n:  # a skipped step adds nothing
            self.losses.append((total - self._sum) / n)
        self._sum, self._seen = total, meter.seen


class SplitProbe(Callback):
    """Loss and accuracy of the model on a split in evaluation mode (no dropout) after every epoch:
    the training split measured this way shows what the network has learnt, not what it scored
    while dropout was switching units off."""

    def __init__(self, split, normalization, task: str = "multiclass"):
        self.split, self.normalization, self.task = split, normalization, task
        self.loss: list[float] = []
        self.acc: list[float] = []

    def on_epoch_end(self, trainer, epoch, logs):
        from ..data.core import BatchLoader
        from ..train.evaluation import run_eval

        loader = BatchLoader(self.split, 1024, device=trainer.device, normalization=self.normalization)
        out = run_eval(trainer.model, loader, task=self.task)
        self.loss.append(out["loss"])
        self.acc.append(out.get("acc", float("nan")))


@dataclass
class Conv1DProblem:
    """The course's one-filter 1D convolution (file 004's figure: 5 inputs, a filter of 3), a tanh, a
    dense output and a squared error, on seeded random values: what `shared-weights` and
    `conv-backprop` differentiate by hand beside autograd. `run` validates, then computes (`_compute`)
    on one thread with the environment recorded."""

    length: int = 5          # inputs z_1..z_n of the convolution (the course's figure: 5)
    kernel: int = 3          # weights w_1..w_k of the filter (the course's figure: 3)
    examples: int = 4        # batch the loss is averaged over
    seed: int = 0            # inputs, targets and weights

    def validate(self):
        check_common(self, counts=("length", "kernel", "examples"))
        if self.kernel > self.length:
            raise UserError(f"--kernel {self.kernel} is longer than the input (--length {self.length}); "
                            f"a filter must fit at least once")
        return self

    @property
    def positions(self) -> int:
        return self.length - self.kernel + 1

    def run(self, log=print, callbacks=()):
        self.validate()
        with one_thread():
            self.environment = environment()
            return self._compute()

    def draw(self, g: torch.Generator) -> tuple[torch.Tensor, ...]:
        """(inputs (examples, length), targets (examples,), filter (kernel,), bias (1,), dense weights
        (positions,)), float64, drawn from `g` in that order."""
        d = torch.float64
        inputs = torch.randn(self.examples, self.length, generator=g, dtype=d)
        y = torch.randn(self.examples, generator=g, dtype=d)
        w = torch.randn(self.kernel, generator=g, dtype=d) / self.kernel ** 0.5
        b = torch.randn(1, generator=g, dtype=d) * 0.1
        v = torch.randn(self.positions, generator=g, dtype=d) / self.positions ** 0.5
        return inputs, y, w, b, v
