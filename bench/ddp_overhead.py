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

On a GPU (`--device cuda`) the process group is NCCL, each process uses one GPU, and the rows are
plain `fit` and DDP x1 (and DDP x2 where two GPUs are present); the data can be `synthetic-cifar`
(50,000 random CIFAR-shaped uint8 images, the same in every process: a GPU machine may have no
network). `fit` runs with its CUDA defaults there (bf16 autocast, channels_last) except
torch.compile, off in every row so that compile time does not enter the comparison.

`--checkpoint-every K` adds the per-step cost of `--checkpoint-every`: the same `fit` with the
`Checkpoint` callback writing the whole training state every K steps, against checkpoints at epoch
ends only, in this process; printed per checkpoint and as a ratio of throughput.

    python bench/ddp_overhead.py                       # lenet on digits, batch 64
    python bench/ddp_overhead.py --batch-size 256 --trials 5
    python bench/ddp_overhead.py --device cuda --model resnet20 --data synthetic-cifar --batch-size 512 --checkpoint-every 50
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
from classicnets.data.core import Dataset, Split
from classicnets.runs.run import fill_model_args
from classicnets.train import Callback, Checkpoint, TrainConfig, fit
from classicnets.zoo import create


class EpochClock(Callback):
    """Seconds of the epochs after the first."""

    def on_epoch_begin(self, trainer, epoch):
        if epoch == 1:
            self.t0 = time.perf_counter()

    def on_train_end(self, trainer):
        self.seconds = time.perf_counter() - self.t0


def load(name: str) -> Dataset:
    """A registered data set, or `synthetic-cifar`: 50,000 + 1,000 seeded random 3x32x32 uint8 images, 10 classes."""
    if name != "synthetic-cifar":
        return load_dataset(name)
    g = torch.Generator().manual_seed(0)
    split = lambda n: Split(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),  # noqa: E731
                            torch.randint(0, 10, (n,), generator=g))
    return Dataset("synthetic-cifar", [str(i) for i in range(10)], split(50_000), split(1_000))


def train(a: argparse.Namespace, checkpoint_every: int = 0, folder: Path | None = None) -> tuple[float, int]:
    """(examples per second after the first epoch, world size) of one `fit` in this process; with
    `folder`, checkpoints are written there (every `checkpoint_every` steps, or at epoch ends)."""
    data = load(a.data)
    cuda = a.device.startswith("cuda")
    cfg = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, schedule="constant", lr=1e-3,
                      device=a.device, compile="off", precision="auto" if cuda else "fp32", seed=0,
                      checkpoint_every=checkpoint_every)
    model = create(a.model, seed=0, **fill_model_args(a.model, {}, data.input_shape, data.num_classes))
    clock = EpochClock()
    extra = [Checkpoint(folder / "checkpoint.safetensors")] if folder is not None else []
    fit(model, data, cfg, callbacks=[clock, *extra])
    from classicnets.train import distributed
    d = distributed.current()
    return len(data.train) * (a.epochs - 1) / clock.seconds, d.world_size if d else 1


def worker(a: argparse.Namespace) -> None:
    if not a.device.startswith("cuda"):
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
    ap.add_argument("--checkpoint-every", type=int, default=0,
                    help="also time checkpoints every K steps against epoch ends only")
    ap.add_argument("--json", metavar="FILE", help="write the figures here too")
    ap.add_argument("--worker", metavar="FILE", help=argparse.SUPPRESS)  # a process under torchrun
    a = ap.parse_args()
    if a.worker:
        return worker(a)

    cores = os.cpu_count() or 1
    cuda = a.device.startswith("cuda")
    gpus = torch.cuda.device_count() if cuda else 0
    plain = "plain" if cuda else "plain (1 thread)"
    rows: dict[str, list[float]] = {plain: []}
    if not cuda:
        rows[f"plain ({cores} threads)"] = []
    rows["DDP x1"] = []
    if not cuda or gpus >= 2:
        rows["DDP x2"] = []
    if a.checkpoint_every:
        rows["checkpoints at epoch ends"], rows[f"checkpoint every {a.checkpoint_every} steps"] = [], []
    for _ in range(a.trials):
        if not cuda:
            torch.set_num_threads(1)
        rows[plain].append(train(a)[0])
        if not cuda:
            torch.set_num_threads(cores)
            rows[f"plain ({cores} threads)"].append(train(a)[0])
        rows["DDP x1"].append(under_torchrun(a, 1))
        if "DDP x2" in rows:
            rows["DDP x2"].append(under_torchrun(a, 2))
        if a.checkpoint_every:
            with tempfile.TemporaryDirectory() as d:
                rows["checkpoints at epoch ends"].append(train(a, 0, Path(d))[0])
            with tempfile.TemporaryDirectory() as d:
                rows[f"checkpoint every {a.checkpoint_every} steps"].append(train(a, a.checkpoint_every, Path(d))[0])

    data = load(a.data)
    steps = -(-len(data.train) // a.batch_size)
    print(f"# ddp_overhead: {a.model} on {a.data} ({len(data.train):,} training examples, {steps} steps per epoch), "
          f"global batch {a.batch_size}, Adam, {a.epochs} epochs per trial ({a.epochs - 1} timed), {a.trials} trials, "
          f"alternating")
    where = torch.cuda.get_device_name() if cuda else f"{platform.processor() or platform.machine()}, {cores} cores"
    print(f"# device {a.device} ({where}); {'NCCL' if cuda else 'Gloo'}; "
          f"torch {torch.__version__}, classicnets {classicnets.__version__}, python {platform.python_version()}")
    fmt = lambda v: f"{statistics.median(v):,.0f} ex/s (min {min(v):,.0f}, max {max(v):,.0f})"  # noqa: E731
    for name, v in rows.items():
        print(f"{name:<28}: {fmt(v)}")
    result = {"model": a.model, "data": a.data, "batch_size": a.batch_size, "epochs": a.epochs, "trials": a.trials,
              "device": where, "torch": torch.__version__, "examples_per_s": rows}

    def ratio(label: str, top: str, bottom: str) -> None:
        r = [t / b for t, b in zip(rows[top], rows[bottom])]
        result[label] = r
        print(f"{label:<28}: median {statistics.median(r):.3f} (min {min(r):.3f}, max {max(r):.3f})")
    ratio(f"DDP x1 / {plain}", "DDP x1", plain)
    if "DDP x2" in rows:
        ratio("DDP x2 / DDP x1", "DDP x2", "DDP x1")
    if a.checkpoint_every:
        every, ends = rows[f"checkpoint every {a.checkpoint_every} steps"], rows["checkpoints at epoch ends"]
        ratio(f"every {a.checkpoint_every} / epoch ends", f"checkpoint every {a.checkpoint_every} steps",
              "checkpoints at epoch ends")
        extra = (a.epochs - 1) * (steps // a.checkpoint_every)  # mid-epoch checkpoints in the timed epochs
        n = len(data.train) * (a.epochs - 1)
        cost = [(n / e - n / b) / max(extra, 1) for e, b in zip(every, ends)]
        result["seconds_per_checkpoint"] = cost
        print(f"{'seconds per checkpoint':<28}: median {statistics.median(cost) * 1e3:.1f} ms "
              f"(about {extra} mid-epoch checkpoints per trial; "
              f"{statistics.median(cost) / a.checkpoint_every * 1e3:.2f} ms per step amortised)")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
