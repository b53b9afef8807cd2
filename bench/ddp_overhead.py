"""What does data parallel training cost, and what do two processes buy, on this machine's CPU?

Three ways to do the same work (same model, data, global batch, optimizer, epochs; Gloo on the CPU):

- plain: `fit` in this process, no process group (the single-process path);
- DDP x1: `fit` in one process started by torchrun, so the model is wrapped in DistributedDataParallel
  and every step all-reduces its gradients (with one process: the bookkeeping without the sharing);
- DDP x2: two processes under torchrun, each taking half of every global batch.

Each process under torchrun gets one thread (OMP_NUM_THREADS=1, torchrun's own choice for several
processes), so plain runs with one thread too; one process with as many threads as there are cores
is reported beside it. Each trial times the epochs
after the first (warm-up) from inside `fit`, so starting Python, torch and the process group is not
counted; trials of the three alternate, so all see the same machine state. Printed: examples/second
(median, min, max) and the ratios DDP x1 / plain (the overhead) and DDP x2 / DDP x1 (the speedup).

No GPU was available where this was written: the figures in the README are CPU figures only, and
nothing here estimates what NCCL on GPUs would give; run it on a GPU machine (`--device cuda`) to know.

    python bench/ddp_overhead.py                       # lenet on digits, batch 64
    python bench/ddp_overhead.py --batch-size 256 --trials 5
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import classicnets
from classicnets.data import load_dataset
from classicnets.train import Callback, TrainConfig, fit
from classicnets.zoo import create


class EpochClock(Callback):
    """Seconds of the epochs after the first."""

    def on_epoch_begin(self, trainer, epoch):
        if epoch == 1:
            self.t0 = time.perf_counter()

    def on_train_end(self, trainer):
        self.seconds = time.perf_counter() - self.t0


def train(a: argparse.Namespace) -> tuple[float, int]:
    """(examples per second after the first epoch, world size) of one `fit` in this process."""
    data = load_dataset(a.data)
    cfg = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, schedule="constant", lr=1e-3,
                      device=a.device, compile="off", precision="fp32", seed=0)
    model = create(a.model, seed=0, num_classes=data.num_classes, in_channels=data.input_shape[0],
                   input_size=data.input_shape[1])
    clock = EpochClock()
    fit(model, data, cfg, callbacks=[clock])
    from classicnets.train import distributed
    d = distributed.current()
    return len(data.train) * (a.epochs - 1) / clock.seconds, d.world_size if d else 1


def worker(a: argparse.Namespace) -> None:
    torch.set_num_threads(1)  # as torchrun sets for several processes; for one it leaves the default
    speed, world = train(a)
    if int(os.environ.get("RANK", "0")) == 0:
        Path(a.worker).write_text(json.dumps({"speed": speed, "world": world}))


def under_torchrun(a: argparse.Namespace, nproc: int) -> float:
    out = Path(tempfile.mkdtemp()) / "speed.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", __file__,
           "--worker", str(out), "--model", a.model, "--data", a.data, "--batch-size", str(a.batch_size),
           "--epochs", str(a.epochs), "--device", a.device]
    subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    result = json.loads(out.read_text())
    assert result["world"] == nproc
    return result["speed"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lenet")
    ap.add_argument("--data", default="digits")
    ap.add_argument("--batch-size", type=int, default=64, help="the global batch")
    ap.add_argument("--epochs", type=int, default=4, help="epochs per trial (the first is not timed)")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--worker", metavar="FILE", help=argparse.SUPPRESS)  # a process under torchrun
    a = ap.parse_args()
    if a.worker:
        return worker(a)

    cores = os.cpu_count() or 1
    rows: dict[str, list[float]] = {"plain (1 thread)": [], f"plain ({cores} threads)": [], "DDP x1": [], "DDP x2": []}
    for _ in range(a.trials):
        torch.set_num_threads(1)
        rows["plain (1 thread)"].append(train(a)[0])
        torch.set_num_threads(cores)
        rows[f"plain ({cores} threads)"].append(train(a)[0])
        rows["DDP x1"].append(under_torchrun(a, 1))
        rows["DDP x2"].append(under_torchrun(a, 2))

    data = load_dataset(a.data)
    print(f"# ddp_overhead: {a.model} on {a.data} ({len(data.train):,} training examples), global batch "
          f"{a.batch_size}, Adam, {a.epochs} epochs per trial ({a.epochs - 1} timed), {a.trials} trials, alternating")
    print(f"# device {a.device} ({platform.processor() or platform.machine()}, {cores} cores); Gloo; "
          f"torch {torch.__version__}, classicnets {classicnets.__version__}, python {platform.python_version()}")
    fmt = lambda v: f"{statistics.median(v):,.0f} ex/s (min {min(v):,.0f}, max {max(v):,.0f})"  # noqa: E731
    for name, v in rows.items():
        print(f"{name:<18}: {fmt(v)}")
    overhead = [d / p for d, p in zip(rows["DDP x1"], rows["plain (1 thread)"])]
    speedup = [d2 / d1 for d2, d1 in zip(rows["DDP x2"], rows["DDP x1"])]
    print(f"DDP x1 / plain (1 thread): median {statistics.median(overhead):.3f} "
          f"(min {min(overhead):.3f}, max {max(overhead):.3f})")
    print(f"DDP x2 / DDP x1          : median {statistics.median(speedup):.3f} "
          f"(min {min(speedup):.3f}, max {max(speedup):.3f})")


if __name__ == "__main__":
    main()
