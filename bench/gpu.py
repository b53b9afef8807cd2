"""The GPU benchmark suite (issue 24): `fit` against the loops a PyTorch user writes, on one GPU.

One command runs every section below on one device and writes `gpu-bench.json` and `gpu-bench.md` to
`--out` (default `$OUT` when set, else `bench-results/`), rewriting both after every section and every
model, so a run stopped by a time limit keeps what it measured. Every figure is a time or a ratio of
times measured in this process, on this device; the header records the device, torch, CUDA, cuDNN,
the driver and the switches that change the numbers (TF32, cudnn.benchmark, a warm compile cache).
Timings: CUDA events after a synchronize on a GPU, `time.perf_counter` on the CPU; warm-up steps are
never timed; the first steps' extra time (compilation, mostly) is reported apart from steady state.

- correctness: the first 50 Adam steps of the course's MiniModel (`resnet_mini`, dropout 0 so no
  random mask differs) on CIFAR-shaped uint8 images (noise plus a faint per-class pattern, so the loss
  falls), the same initial weights and the same batches fed in the same order on the CPU and on the
  device: fp32 on the device (PyTorch's defaults, cuDNN convolutions in TF32; and TF32 off) against
  fp32 on the CPU, and bf16 autocast against the device's fp32; per step the absolute and relative
  difference of the losses, each comparison against its stated tolerance.
- throughput: training images/s of lenet, cifar_convnet, resnet_mini at 32x32 and resnet18, resnet50,
  vgg16, mobilenet, densenet121 at 224 on random uint8 images held on the device, for (a) `fit` with
  its device defaults (on CUDA: torch.compile, bf16 autocast, channels_last), (b) a plain loop in
  NCHW fp32, (c) the plain loop with fit's tricks on this device, and (d) for resnet50, vgg16 and
  densenet121 torchvision's model in loop (c). All use Adam with fit's default one-cycle schedule
  and sum the loss and accuracy on the device as fit does; the plain loops read pre-normalised
  float32 images (the fastest a user can feed), fit normalises its uint8 batches on the fly. Trials
  alternate between the variants; the median is reported. Ratios fit/(c) (goal >= 0.95) and fit/(b)
  (goal >= 1.3).
- memory: peak allocated memory per model and variant (torch.cuda.max_memory_allocated, reset
  before each), less what was allocated before it started (the data on the device); taken during
  the throughput runs (memory alone runs variants (a) and (b)).
- epoch: the recipe `resnet_mini_cifar10` (its optimizer, batch, normalisation, augmentation and
  per-epoch validation on the 10,000 test images) on 50,000 + 10,000 random CIFAR-shaped uint8
  images held on the device; the second epoch is timed, and 50 epochs are projected as the first
  (with its compilation) plus 49 timed ones, against the course's 1,076 s (goal <= 60 s on an H100).
- imdb: 25,000 x 500 random word ids in 1..9,999, imdb_lstm and imdb_gru with dropout 0.2 through
  `fit` (the recipe's RMSprop and batch 128, no validation): the fused cuDNN kernel against the step
  loop that recurrent_dropout=0.2 needs; seconds per step, and per epoch (196 steps).
- fashion: the Fashion-MNIST recipe (`--recipe`, default fashion_mnist_fast; a fallback, recorded,
  where this checkout lacks it) on the real IDX files (`--fashion-dir`): training time per epoch and,
  for the time-to-accuracy curve only, the test accuracy after every epoch (not used to choose any
  setting); the first epoch at `--target-acc` (0.95) and the training seconds up to it.

    python bench/gpu.py                                   # everything, on the GPU (see bench/README-gpu.md)
    python bench/gpu.py --smoke --out /tmp/gpu-smoke      # every section at toy sizes, on the CPU, about a minute
    python bench/gpu.py --only throughput,memory --models resnet50,vgg16 --budget-s 270
"""
from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# this checkout's classicnets, installed or not (a GPU machine runs the suite from a bare copy of the tree)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from classicnets.data.core import Dataset, Normalization, Split  # noqa: E402
from classicnets.errors import UserError  # noqa: E402
from classicnets.fileio import write_json, write_text  # noqa: E402
from classicnets.train import Callback, TrainConfig, fit  # noqa: E402
from classicnets.train.engine import describe_machine, environment, resolve_device  # noqa: E402
from classicnets.zoo import create  # noqa: E402

SECTIONS = ("correctness", "throughput", "memory", "epoch", "imdb", "fashion")
ORDER = ("correctness", "epoch", "imdb", "throughput", "fashion")  # run order; memory rides on throughput
VARIANTS = ("fit", "tricks", "plain", "torchvision")
VARIANT_NAMES = {"fit": "(a) fit, defaults", "tricks": "(c) plain loop + fit's tricks",
                 "plain": "(b) plain loop, NCHW fp32", "torchvision": "(d) torchvision model in (c)"}
GOAL_FIT_VS_TRICKS, GOAL_FIT_VS_PLAIN, GOAL_EPOCHS_S = 0.95, 1.3, 60.0
COURSE_EPOCHS_S = 1076.0  # recipe resnet_mini_cifar10's notes: the course's 50 epochs add up to 1,076 s


@dataclass(frozen=True)
class ModelSpec:
    name: str
    shape: tuple[int, int, int]   # (C, H, W) of the images
    classes: int
    batch: int
    steps: int                    # timed steps per trial (also fit's warm-up epoch)
    torchvision: str | None = None  # torchvision.models builder of the same network
    # scheduling only, never reported as a figure: guessed seconds (compilation, mostly) of variants (a)-(c)
    # and of (d), so that a model, or its (d), is not started when less of the budget is left
    guess_s: float = 0.0
    guess_tv_s: float = 0.0


@dataclass(frozen=True)
class Sizes:
    """Every size of the suite; `--smoke` swaps in toy ones."""

    models: tuple[ModelSpec, ...]
    warmup: int = 5               # untimed steps of each plain loop before its timed ones
    trials: int = 3
    corr_steps: int = 50
    corr_batch: int = 32
    epoch_train: int = 50_000
    epoch_test: int = 10_000
    imdb_train: int = 25_000
    imdb_length: int = 500
    imdb_loop_steps: int = 20     # timed steps of the recurrent-dropout step loop (then projected to the epoch)
    imdb_warmup: int = 3
    imdb_batch: int | None = None  # None: the recipe's (128)
    fashion_train: int | None = None  # None: all 60,000
    fashion_test: int | None = None
    fashion_epochs: int | None = None  # None: the recipe's
    guess_epoch_s: float = 0.0    # scheduling guesses, as ModelSpec.guess_s
    guess_fashion_s: float = 0.0


def _full_models() -> tuple[ModelSpec, ...]:
    s32, s224 = (3, 32, 32), (3, 224, 224)
    return (ModelSpec("lenet", s32, 10, 256, 100, guess_s=25), ModelSpec("cifar_convnet", s32, 10, 256, 100, guess_s=25),
            ModelSpec("resnet_mini", s32, 10, 128, 50, guess_s=30),  # the recipe's batch: its compiled graph is epoch's
            ModelSpec("resnet18", s224, 1000, 128, 20, guess_s=55),
            ModelSpec("resnet50", s224, 1000, 128, 20, "resnet50", guess_s=90, guess_tv_s=70),
            ModelSpec("vgg16", s224, 1000, 64, 20, "vgg16", guess_s=45, guess_tv_s=35),
            ModelSpec("mobilenet", s224, 1000, 128, 20, guess_s=45),
            ModelSpec("densenet121", s224, 1000, 64, 20, "densenet121", guess_s=130, guess_tv_s=110))


def _smoke_models(names: tuple[str, ...] | None = None) -> tuple[ModelSpec, ...]:
    """The models (all, or those named) at toy sizes: 32x32 inputs, batch 4 (2 for the 224 ones), one step a trial."""
    return tuple(ModelSpec(m.name, (3, 32, 32), 10, 4 if m.shape[1] == 32 else 2, 1, m.torchvision)
                 for m in _full_models() if names is None or m.name in names)


FULL = Sizes(_full_models(), trials=3, guess_epoch_s=70, guess_fashion_s=75)
SMOKE = Sizes(_smoke_models(("lenet", "cifar_convnet", "resnet_mini", "resnet18")),  # resnet18 stands for the 224 ones
              warmup=1, trials=2, corr_steps=3, corr_batch=2, epoch_train=32, epoch_test=16,
              imdb_train=64, imdb_length=20, imdb_loop_steps=2, imdb_warmup=1, imdb_batch=8, fashion_train=128,
              fashion_test=128, fashion_epochs=2)

# Used where --recipe names a recipe this checkout lacks (fashion_mnist_fast comes with the real-data
# issue): its draft's training settings on resnet20, a model every checkout has.
FASHION_FALLBACK = dict(model="resnet20", data="fashion-mnist",
                        train=dict(optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4,
                                   schedule="onecycle", label_smoothing=0.1, batch_size=128, epochs=16,
                                   normalize="standardize"),
                        augment=dict(horizontal_flip=True, translate=2, fill_mode="constant"))

# Correctness: how each precision on the device runs (cuDNN TF32 on or off; None: leave it) and its
# tolerances. One step from the CPU's own state (weights and Adam's moments, copied before every step):
# the loss's relative difference, and the cosine between the device's and the CPU's parameter update
# (loose for TF32 and bf16: Adam's first steps are nearly sign(gradient), so rounding flips the update
# of every weight whose gradient is near zero; a wrong kernel gives far lower cosines). The CUDA
# tolerances are set from this CPU calibration and the formats' precision, not yet from a GPU run.
# Training freely for the steps: rounding differences grow step by step (training is chaotic: on
# the CPU, fp32 against float64 reaches 10% at some steps by step 40), so the per-step differences are
# reported and the mean loss over the steps is judged. Calibrated on the CPU (batch 8, Adam 0.001):
# fp32 against float64 one step apart: loss 1e-7, update cosine 0.99993 or more; bf16 against fp32:
# loss 2.4e-3, cosine 0.82 at step 1, 0.99 from step 5; means over 50 free steps: 0.16% (fp32 with
# another summation order) and 0.5% (bf16).
@dataclass(frozen=True)
class Precision:
    bf16: bool
    tf32: bool | None
    one_step_loss: float       # largest relative difference of the loss, one step from the same state
    one_step_cosine: float | None  # smallest cosine between the two updates
    mean_loss: float           # largest relative difference of the mean loss over the free steps


CUDA_PRECISIONS = {"fp32, TF32 off": Precision(False, False, 1e-5, 0.999, 2e-2),
                   "fp32, TF32 convolutions (PyTorch's default)": Precision(False, True, 1e-2, 0.95, 2e-2),
                   "bf16 autocast": Precision(True, None, 2e-2, 0.5, 5e-2)}
CPU_PRECISIONS = {"fp32": Precision(False, None, 1e-5, 0.999, 2e-2), "bf16 autocast": Precision(True, None, 2e-2, 0.5, 5e-2)}


# -- clocks, budget, report -------------------------------------------------------------------------
class Timer:
    """Seconds between `start()` and `stop()`: CUDA events (after a synchronize) on a GPU, perf_counter on the CPU."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def start(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.begin = torch.cuda.Event(enable_timing=True)
            self.begin.record()
        else:
            self.t0 = time.perf_counter()

    def stop(self) -> float:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            end.synchronize()
            return self.begin.elapsed_time(end) / 1000.0
        return time.perf_counter() - self.t0


class Budget:
    def __init__(self, seconds: float):
        self.seconds, self.t0 = seconds, time.perf_counter()

    def spent(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.seconds - self.spent()

    def refuse(self, guess: float, what: str) -> str | None:
        """Why `what` is not started (the budget is spent, or less is left than its guessed cost), else None."""
        if self.left() <= 0 or self.left() < guess:
            return (f"skipped: {self.left():.0f} s of --budget-s {self.seconds:g} left after {self.spent():.0f} s, "
                    f"{what} was guessed to need {guess:.0f} s")
        return None


class Report:
    """The JSON document, written with the Markdown table after every piece of work."""

    def __init__(self, out: Path, name: str, head: dict[str, Any]):
        self.out, self.name, self.doc = out, name, {**head, "sections": {}, "seconds": {}}

    def path(self, suffix: str) -> Path:
        return self.out / f"{self.name}.{suffix}"

    def section(self, name: str) -> dict[str, Any]:
        return self.doc["sections"].setdefault(name, {})

    def save(self) -> None:
        write_json(self.path("json"), self.doc)
        write_text(self.path("md"), markdown(self.doc))


def sync_empty(device: torch.device) -> None:
    """Drop what the last piece of work left: compiled code (so recompile limits never carry over), memory."""
    gc.collect()
    torch._dynamo.reset()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def memory_start(device: torch.device) -> int:
    if device.type != "cuda":
        return 0
    torch.cuda.reset_peak_memory_stats(device)
    return torch.cuda.memory_allocated(device)


def memory_peak(device: torch.device, base: int) -> float | None:
    """MiB allocated at the peak since `memory_start`, above what was allocated then; None on the CPU."""
    return (torch.cuda.max_memory_allocated(device) - base) / 2**20 if device.type == "cuda" else None


# -- the header -------------------------------------------------------------------------------------
def _run(cmd: list[str]) -> str | None:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 - missing or broken: recorded as absent
        return None


def inductor_cache_warm() -> bool | None:
    """Whether torch.compile's on-disk cache already holds anything (then compile times are a warm cache's)."""
    try:
        from torch._inductor.runtime.cache_dir_utils import cache_dir
        folder = Path(cache_dir())
    except Exception:  # noqa: BLE001 - another torch: its documented default place
        import getpass
        import tempfile
        folder = Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR") or Path(tempfile.gettempdir()) / f"torchinductor_{getpass.getuser()}")
    try:
        return folder.is_dir() and any(folder.iterdir())
    except OSError:
        return None


def machine(device: torch.device) -> dict[str, Any]:
    env = environment()
    root = Path(__file__).resolve().parents[1]
    m: dict[str, Any] = {
        "line": describe_machine(device), "device": str(device), "classicnets": env["classicnets"],
        "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(), "cpu_threads": torch.get_num_threads(),
        "torchvision": _version("torchvision"), "triton": _version("triton"),
        "git_commit": _run(["git", "-C", str(root), "rev-parse", "HEAD"]),
        "git_dirty": bool(_run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"])),
        "inductor_cache_warm": inductor_cache_warm(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32, "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
    }
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        m.update(name=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                 cudnn=torch.backends.cudnn.version(), capability=f"{p.major}.{p.minor}",
                 memory_gib=round(p.total_memory / 2**30, 1), multiprocessors=p.multi_processor_count,
                 driver=_run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]))
    else:
        m["name"] = m["cpu"]
    return m


# -- 1. correctness -------------------------------------------------------------------------------
def patterned_images(n: int, classes: int, seed: int, shape=(3, 32, 32)) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 noise with a faint fixed pattern per class (a fifth of the intensity): learnable, so the
    loss falls over the steps and a wrong gradient would show, yet far from solved in 50 steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    pattern = torch.randint(0, 256, (classes, *shape), generator=g).float()
    noise = torch.randint(0, 256, (n, *shape), generator=g).float()
    return (0.2 * pattern[y] + 0.8 * noise).round().to(torch.uint8), y         # (N, C, H, W) uint8, (N,)


class Stepper:
    """resnet_mini (dropout 0) with Adam (the recipe's rate 0.001) on one device, in one precision."""

    def __init__(self, state: dict, device: torch.device, precision: Precision | None = None):
        self.device, self.p = device, precision or Precision(False, None, 0, 0, 0)
        self.model = create("resnet_mini", dropout=0.0)
        self.model.load_state_dict(state)
        self.model.to(device).train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.losses: list[float] = []

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> float:
        saved = torch.backends.cudnn.allow_tf32
        if self.p.tf32 is not None:
            torch.backends.cudnn.allow_tf32 = self.p.tf32
        try:
            xb, yb = xb.to(self.device), yb.to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.p.bf16):
                loss = F.cross_entropy(self.model(xb), yb)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        finally:
            torch.backends.cudnn.allow_tf32 = saved
        self.losses.append(loss.item())
        return self.losses[-1]

    def flat(self) -> torch.Tensor:
        return torch.cat([p.detach().double().cpu().flatten() for p in self.model.parameters()])

    def take(self, other: Stepper) -> None:
        """Continue from a copy of `other`'s weights and optimizer state (a copy: loading keeps tensors that are
        already on the right device, Adam's step counts among them, and this one's step would change them)."""
        self.model.load_state_dict(other.model.state_dict())
        self.opt.load_state_dict(copy.deepcopy(other.opt.state_dict()))


def one_step(cpu: Stepper, devices: dict[str, Stepper], batches) -> dict[str, dict[str, list[float]]]:
    """Each device precision does every step from the CPU's state before it: the loss's relative
    difference and the cosine between the updates. `cpu` trains freely meanwhile."""
    out = {name: {"loss_rel_diff": [], "update_cosine": [], "update_rel_diff": []} for name in devices}
    for xb, yb in batches:
        for d in devices.values():
            d.take(cpu)
        before = cpu.flat()
        loss = cpu.step(xb, yb)
        update = cpu.flat() - before
        for name, d in devices.items():
            theirs = (d.step(xb, yb), d.flat() - before)
            out[name]["loss_rel_diff"].append(abs(theirs[0] - loss) / abs(loss))
            out[name]["update_cosine"].append(float(theirs[1] @ update / (theirs[1].norm() * update.norm())))
            out[name]["update_rel_diff"].append(float((theirs[1] - update).norm() / update.norm()))
    return out


def judge_one_step(r: dict[str, list[float]], p: Precision) -> dict[str, Any]:
    worst, lowest = max(r["loss_rel_diff"]), min(r["update_cosine"])
    return {**r, "max_loss_rel_diff": worst, "min_update_cosine": lowest, "max_update_rel_diff": max(r["update_rel_diff"]),
            "tolerance_loss_rel": p.one_step_loss, "tolerance_cosine": p.one_step_cosine,
            "ok": worst <= p.one_step_loss and (p.one_step_cosine is None or lowest >= p.one_step_cosine)}


def drift(losses: list[float], reference: list[float], reference_name: str, tolerance: float) -> dict[str, Any]:
    """Two free-running loss curves: per-step differences (reported) and the mean loss's (judged)."""
    absd = [abs(a - b) for a, b in zip(losses, reference)]
    reld = [d / abs(b) for d, b in zip(absd, reference)]
    mean_rel = abs(statistics.fmean(losses) - statistics.fmean(reference)) / abs(statistics.fmean(reference))
    return {"against": reference_name, "losses": losses, "abs_diff": absd, "rel_diff": reld,
            "max_abs_diff": max(absd), "max_rel_diff": max(reld), "worst_step": reld.index(max(reld)) + 1,
            "mean_loss_rel_diff": mean_rel, "tolerance_mean_rel": tolerance, "ok": mean_rel <= tolerance}


def correctness(device: torch.device, sz: Sizes) -> dict[str, Any]:
    x, y = patterned_images(sz.corr_steps * sz.corr_batch, 10, seed=1)
    xf = Normalization.fit(x, 255.0)(x)                                         # (N, 3, 32, 32) float32, on the CPU
    batches = [(xf[i:i + sz.corr_batch], y[i:i + sz.corr_batch]) for i in range(0, len(y), sz.corr_batch)]
    state = copy.deepcopy(create("resnet_mini", seed=0, dropout=0.0).state_dict())
    precisions = CUDA_PRECISIONS if device.type == "cuda" else CPU_PRECISIONS
    cpu = Stepper(state, torch.device("cpu"))
    forced = one_step(cpu, {k: Stepper(state, device, p) for k, p in precisions.items()}, batches)
    free = {k: Stepper(state, device, p) for k, p in precisions.items()}
    for xb, yb in batches:
        for s in free.values():
            s.step(xb, yb)
    fp32 = next(k for k in precisions if k.startswith("fp32"))  # bf16's reference: TF32 off on CUDA
    curves = {f"{k} vs cpu fp32" if not p.bf16 else f"{k} vs {fp32}":
              drift(free[k].losses, cpu.losses if not p.bf16 else free[fp32].losses,
                    "cpu fp32" if not p.bf16 else fp32, p.mean_loss) for k, p in precisions.items()}
    out = {"model": "resnet_mini (dropout 0)", "steps": len(batches), "batch": sz.corr_batch, "optimizer": "Adam, lr 0.001",
           "data": "random uint8 CIFAR-shaped images with a faint pattern per class (patterned_images), normalised once",
           "cpu_fp32_losses": cpu.losses,
           "one_step": {k: judge_one_step(forced[k], p) for k, p in precisions.items()}, "free": curves,
           "note": ("the same initial weights and batches on both devices, fed in order by a plain loop (fit "
                    "shuffles with a generator of its device, so its order differs between devices)")}
    out["ok"] = all(c["ok"] for c in [*out["one_step"].values(), *curves.values()])
    return out


# -- 2. throughput and 5. memory --------------------------------------------------------------------
@dataclass(frozen=True)
class Tricks:
    """What fit turns on for image models on this device (Trainer's rules), for loop (c) to copy."""

    compile: bool
    bf16: bool
    channels_last: bool

    @classmethod
    def of(cls, device: torch.device, force: bool) -> Tricks:
        cuda = device.type == "cuda"
        return cls(compile=cuda or force, bf16=cuda or force, channels_last=cuda)

    def fit_settings(self) -> dict[str, str]:
        return {"compile": "on" if self.compile else "off", "precision": "bf16" if self.bf16 else "fp32"}


def resolved(cfg: TrainConfig, device: torch.device, recurrent: bool = False) -> dict[str, str]:
    """What fit's compile and precision settings come to on `device` (the Trainer's rules)."""
    cuda = device.type == "cuda"
    return {"compile": "on" if cfg.compile == "on" or (cfg.compile == "auto" and cuda and not recurrent) else "off",
            "precision": "bf16" if cfg.precision == "bf16" or (cfg.precision == "auto" and cuda) else "fp32"}


def random_images(n: int, spec: ModelSpec, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *spec.shape), dtype=torch.uint8, generator=g)   # (N, C, H, W) uint8
    return x.to(device), torch.randint(0, spec.classes, (n,), generator=g).to(device)


def build(spec: ModelSpec, torchvision: bool = False) -> nn.Module:
    if torchvision:
        import torchvision.models as tvm
        torch.manual_seed(0)
        return getattr(tvm, spec.torchvision)(weights=None, num_classes=spec.classes)
    from classicnets.runs.tasks.base import fill_model_args
    return create(spec.name, seed=0, **fill_model_args(spec.name, {}, spec.shape, spec.classes))


class PlainLoop:
    """The loop a careful user writes: data on the device, index batches, Adam with fit's default
    one-cycle schedule, the epoch's loss and accuracy summed on the device (read once per call)."""

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, tricks: Tricks | None,
                 device: torch.device, warmup: int, timed: int, trials: int):
        self.tricks = tricks or Tricks(False, False, False)
        self.warmup, self.timed = warmup, timed
        self.model = model.to(device)
        if self.tricks.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.forward = torch.compile(self.model) if self.tricks.compile else self.model
        cfg = TrainConfig()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=cfg.lr, total_steps=trials * (warmup + timed))
        self.x, self.y, self.batch, self.device = x, y, batch, device
        self.g = torch.Generator(device=device).manual_seed(0)
        self.order, self.at = None, len(y)

    def steps(self, n: int) -> None:
        model, opt, bs, cl = self.model, self.opt, self.batch, self.tricks.channels_last
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        model.train()
        for _ in range(n):
            if self.at + bs > len(self.y):  # a new epoch: a new permutation
                self.order, self.at = torch.randperm(len(self.y), generator=self.g, device=self.device), 0
            idx = self.order[self.at:self.at + bs]
            self.at += bs
            xb, yb = self.x[idx], self.y[idx]
            if cl:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.tricks.bf16):
                logits = self.forward(xb)
                loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            self.sched.step()
            loss_sum += loss.detach() * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum()
        loss_sum.item(), correct.item()

    def __call__(self, timer: Timer) -> tuple[float, float]:
        """One trial: (seconds of the warm-up steps, seconds of the timed steps)."""
        timer.start()
        self.steps(self.warmup)
        warm = timer.stop()
        timer.start()
        self.steps(self.timed)
        return warm, timer.stop()


class EpochTimes(Callback):
    """Seconds of each epoch of a fit, from its beginning to its end (after validation)."""

    def __init__(self, timer: Timer):
        self.timer, self.seconds = timer, []

    def on_epoch_begin(self, trainer, epoch):
        self.timer.start()

    def on_epoch_end(self, trainer, epoch, logs):
        self.seconds.append(self.timer.stop())


class Variant:
    """One way of training one model, made at its first trial (so its weights, optimizer state and
    compilation count in its peak memory); `trial(timer)` gives (warm-up seconds, timed seconds)."""

    def __init__(self, make, device: torch.device):
        self.make, self.device = make, device
        self.runner, self.memory_mib = None, None

    def trial(self, timer: Timer) -> tuple[float, float]:
        if self.runner is not None:
            return self.runner(timer)
        base = memory_start(self.device)
        self.runner = self.make()
        seconds = self.runner(timer)
        self.memory_mib = memory_peak(self.device, base)
        return seconds


def fit_runner(spec: ModelSpec, data: Dataset, norm: Normalization, tricks: Tricks, device: torch.device):
    """A callable running one fit trial: two epochs of `spec.steps` steps, the second timed."""
    model = build(spec)
    cfg = TrainConfig(epochs=2, batch_size=spec.batch, seed=0, device=str(device), **tricks.fit_settings())

    def run(timer: Timer) -> tuple[float, float]:
        clock = EpochTimes(timer)
        fit(model, data, cfg, normalization=norm, callbacks=[clock])
        return clock.seconds[0], clock.seconds[1]
    return run


def model_variants(spec: ModelSpec, wanted: tuple[str, ...], device: torch.device, tricks: Tricks, sz: Sizes):
    """{variant: Variant} for one model on shared data, and notes on variants left out."""
    n = spec.steps * spec.batch
    x, y = random_images(n, spec, device)
    norm = Normalization.fit(x, 255.0)
    xf = norm(x)                                     # (N, C, H, W) float32, pre-normalised for the plain loops
    data = Dataset("random", [str(i) for i in range(spec.classes)], Split(x, y))
    steps = (sz.warmup, spec.steps, sz.trials)
    made = {"fit": lambda: fit_runner(spec, data, norm, tricks, device),
            "tricks": lambda: PlainLoop(build(spec), xf, y, spec.batch, tricks, device, *steps),
            "plain": lambda: PlainLoop(build(spec), xf, y, spec.batch, None, device, *steps),
            "torchvision": lambda: PlainLoop(build(spec, torchvision=True), xf, y, spec.batch, tricks, device, *steps)}
    notes = []
    if "torchvision" in wanted and spec.torchvision and _version("torchvision") is None:
        notes.append("torchvision is not installed: variant (d) skipped")
    keep = [v for v in wanted if v != "torchvision" or (spec.torchvision and _version("torchvision") is not None)]
    return {v: Variant(made[v], device) for v in keep}, notes


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def throughput_model(spec: ModelSpec, wanted: tuple[str, ...], device: torch.device, tricks: Tricks,
                     sz: Sizes) -> dict[str, Any]:
    variants, notes = model_variants(spec, wanted, device, tricks, sz)
    timer = Timer(device)
    warm: dict[str, list[float]] = {v: [] for v in variants}
    timed: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(sz.trials):  # alternate, so every variant sees the same machine state
        for name, var in variants.items():
            w, t = var.trial(timer)
            warm[name].append(w)
            timed[name].append(t)
    images = spec.steps * spec.batch
    out: dict[str, Any] = {"input": list(spec.shape), "classes": spec.classes, "batch": spec.batch,
                           "timed_steps": spec.steps, "trials": sz.trials, "notes": notes, "variants": {}}
    for name, var in variants.items():
        step_s = statistics.median(timed[name]) / spec.steps
        warm_steps = spec.steps if name == "fit" else sz.warmup
        out["variants"][name] = {
            "images_per_s": images / statistics.median(timed[name]), "images_per_s_trials": [images / t for t in timed[name]],
            "timed_s": timed[name], "first_warmup_s": warm[name][0], "warmup_steps": warm_steps,
            # the first warm-up's time beyond the same steps at steady speed: compilation, autotuning, first calls
            "compile_s": warm[name][0] - warm_steps * step_s, "peak_memory_mib": var.memory_mib}
    speed = {k: v["images_per_s"] for k, v in out["variants"].items()}
    out["fit_vs_tricks"] = ratio(speed.get("fit"), speed.get("tricks"))
    out["fit_vs_plain"] = ratio(speed.get("fit"), speed.get("plain"))
    out["tricks_vs_plain"] = ratio(speed.get("tricks"), speed.get("plain"))
    out["ours_vs_torchvision"] = ratio(speed.get("tricks"), speed.get("torchvision"))
    del variants
    sync_empty(device)
    return out


# -- 3. the MiniModel's epoch -------------------------------------------------------------------------
def epoch(device: torch.device, sz: Sizes) -> dict[str, Any]:
    from classicnets.recipes import get_recipe
    recipe = get_recipe("resnet_mini_cifar10")
    run = recipe.run_config()
    cfg = replace(run.train, epochs=2, device=str(device), seed=0)
    spec = ModelSpec("resnet_mini", (3, 32, 32), 10, cfg.batch_size, 0)
    x, y = random_images(sz.epoch_train, spec, device, seed=0)
    xt, yt = random_images(sz.epoch_test, spec, device, seed=1)
    data = Dataset("random-cifar10", [str(i) for i in range(10)], Split(x, y), test=Split(xt, yt))
    timer = Timer(device)
    clock = EpochTimes(timer)
    model = create(run.model, seed=0, **run.model_args)
    fit(model, data, cfg, augment=run.augment, callbacks=[clock])
    first, steady = clock.seconds
    projected = first + 49 * steady
    return {"recipe": recipe.name, "train_images": sz.epoch_train, "test_images": sz.epoch_test,
            "settings": {**{k: getattr(cfg, k) for k in ("optimizer", "lr", "batch_size", "normalize", "validate_on")},
                         **resolved(cfg, device)},
            "augment": {k: v for k, v in vars(run.augment).items()},
            "first_epoch_s": first, "epoch_s": steady, "epochs_50_projected_s": projected,
            "epochs_50_steady_s": 50 * steady, "course_50_epochs_s": COURSE_EPOCHS_S,
            "speedup_vs_course": COURSE_EPOCHS_S / projected, "goal_s": GOAL_EPOCHS_S,
            "meets_goal": projected <= GOAL_EPOCHS_S if device.type == "cuda" else None,
            "note": (f"an epoch is the recipe's: training on the {sz.epoch_train:,} images with its augmentation, "
                     f"then validation on the {sz.epoch_test:,} test images (Keras's validation_data; the course's "
                     "epoch times include it too); the second epoch is timed; 50 epochs = the first (compilation "
                     "included) + 49 x the timed one; the goal is set against that total")}


# -- 4. IMDB: fused cuDNN kernel against the recurrent-dropout step loop ------------------------------
class StepTimes(Callback):
    """Seconds of the steps after the first `warmup` of a fit (a synchronize at two steps only)."""

    def __init__(self, timer: Timer, warmup: int, last: int):
        self.timer, self.warmup, self.last, self.seconds = timer, warmup, last, None

    def on_batch_end(self, trainer, step, meter):
        if step == self.warmup - 1:
            self.timer.start()
        elif step == self.last - 1:
            self.seconds = self.timer.stop()


def imdb_variant(name: str, recurrent_dropout: float, steps: int, device: torch.device, sz: Sizes,
                 x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig) -> dict[str, Any]:
    n = min(len(y), (sz.imdb_warmup + steps) * cfg.batch_size)
    if math.ceil(n / cfg.batch_size) <= sz.imdb_warmup:
        raise ValueError(f"{len(y)} examples in batches of {cfg.batch_size} leave no step after the warm-up")
    timer = Timer(device)
    clock = StepTimes(timer, sz.imdb_warmup, math.ceil(n / cfg.batch_size))
    model = create(name, seed=0, dropout=0.2, recurrent_dropout=recurrent_dropout)
    data = Dataset("random-imdb", ["neg", "pos"], Split(x[:n], y[:n]), task="binary")
    fit(model, data, cfg, callbacks=[clock])
    timed = clock.last - clock.warmup  # the last of them partial where the examples do not fill it
    per_step = clock.seconds / timed
    return {"dropout": 0.2, "recurrent_dropout": recurrent_dropout, "timed_steps": timed,
            "step_s": per_step, "epoch_s": per_step * math.ceil(sz.imdb_train / cfg.batch_size),
            "epoch_measured": n == len(y)}


def imdb(device: torch.device, sz: Sizes) -> dict[str, Any]:
    from classicnets.recipes import get_recipe
    train = get_recipe("imdb_lstm").run_config().train
    cfg = replace(train, epochs=1, val_split=0.0, device=str(device), seed=0, batch_size=sz.imdb_batch or train.batch_size)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 10_000, (sz.imdb_train, sz.imdb_length), dtype=torch.int32, generator=g).to(device)
    y = torch.randint(0, 2, (sz.imdb_train,), generator=g).to(device)
    steps = math.ceil(sz.imdb_train / cfg.batch_size)
    out: dict[str, Any] = {"examples": sz.imdb_train, "length": sz.imdb_length, "batch": cfg.batch_size,
                           "optimizer": f"{cfg.optimizer} {cfg.lr:g}", **resolved(cfg, device, recurrent=True), "models": {},
                           "note": (f"one epoch is {steps} steps, the last partial; after {sz.imdb_warmup} warm-up "
                                    f"steps the fused kernel is timed over the rest of the epoch, the step loop over "
                                    f"{sz.imdb_loop_steps} steps; epoch s = seconds per timed step x {steps}")}
    for name in ("imdb_lstm", "imdb_gru"):
        fused = imdb_variant(name, 0.0, steps, device, sz, x, y, cfg)
        loop = imdb_variant(name, 0.2, sz.imdb_loop_steps, device, sz, x, y, cfg)
        out["models"][name] = {"fused": fused, "step_loop": loop, "loop_vs_fused": loop["step_s"] / fused["step_s"]}
        sync_empty(device)
    return out


# -- 6. real data: Fashion-MNIST, time to a test accuracy ---------------------------------------------
class TestCurve(Callback):
    """Each epoch's training seconds, then, off the clock, the test split's accuracy: a
    time-to-accuracy curve only; nothing here chooses a setting or stops the run."""

    def __init__(self, timer: Timer, test: Split):
        self.timer, self.test, self.rows = timer, test, []

    def on_epoch_begin(self, trainer, epoch):
        self.timer.start()

    def on_epoch_end(self, trainer, epoch, logs):
        seconds = self.timer.stop()
        from classicnets.data.core import BatchLoader
        from classicnets.train.evaluation import run_eval
        loader = BatchLoader(self.test, 1024, device=trainer.device, normalization=trainer.normalization)
        acc = run_eval(trainer.model, loader, trainer.autocast, task=trainer.task)["acc"]
        done = (self.rows[-1]["train_s_total"] if self.rows else 0.0) + seconds
        self.rows.append({"epoch": epoch + 1, "train_s": seconds, "train_s_total": done, "train_loss": logs["loss"],
                          "test_acc": acc})


def fashion_settings(name: str) -> dict[str, Any]:
    """The recipe's model, data, training and augmentation settings, or the fallback's, with where they came from."""
    from classicnets.data.augment_config import AugmentConfig
    from classicnets.recipes import get_recipe
    try:
        run = get_recipe(name).run_config()
    except UserError:
        f = FASHION_FALLBACK
        return {"source": f"fallback: recipe {name!r} is not in this checkout; bench/gpu.py's FASHION_FALLBACK "
                          f"(the draft recipe's training settings on resnet20)",
                "model": f["model"], "model_args": {}, "data": f["data"], "data_args": {},
                "train": TrainConfig(**f["train"]).validate(), "augment": AugmentConfig(**f["augment"]).validate()}
    return {"source": f"recipe {name}", "model": run.model, "model_args": run.model_args, "data": run.data,
            "data_args": run.data_args, "train": run.train, "augment": run.augment}


def fashion(device: torch.device, sz: Sizes, recipe: str, folder: str | None, target: float) -> dict[str, Any]:
    from classicnets.data import load_dataset
    from classicnets.runs.tasks.base import fill_model_args
    s = fashion_settings(recipe)
    os.environ.setdefault("CLASSICNETS_OFFLINE", "1")  # a GPU machine has no network: never try to download
    try:
        data = load_dataset(s["data"], data_dir=folder, **s["data_args"])
    except UserError as e:
        return {"skipped": f"the Fashion-MNIST files are not here ({e}); see bench/README-gpu.md", "source": s["source"]}
    if sz.fashion_train:
        data = replace(data, train=data.train.subset(torch.arange(sz.fashion_train)),
                       test=data.test.subset(torch.arange(sz.fashion_test)))
    cfg = replace(s["train"], device=str(device), epochs=sz.fashion_epochs or s["train"].epochs)
    args = fill_model_args(s["model"], dict(s["model_args"]), data.input_shape, data.num_outputs)
    model = create(s["model"], seed=cfg.seed, **args)
    curve = TestCurve(Timer(device), data.test)
    fit(model, data, cfg, augment=s["augment"], callbacks=[curve])
    hit = next((r for r in curve.rows if r["test_acc"] >= target), None)
    return {"source": s["source"], "model": s["model"], "model_args": args, "train_images": len(data.train),
            "test_images": len(data.test), "settings": {**vars(cfg), "resolved": resolved(cfg, device)},
            "augment": vars(s["augment"]),
            "epochs": curve.rows, "target_acc": target, "reached": hit is not None,
            "epoch_at_target": hit["epoch"] if hit else None, "seconds_to_target": hit["train_s_total"] if hit else None,
            "best_test_acc": max(r["test_acc"] for r in curve.rows),
            "protocol": ("Trained with the settings as given; the test split is evaluated after every epoch for this "
                         "time-to-accuracy curve only (off the clock), never to choose a setting or an epoch; "
                         "seconds are training time, the first epoch's including compilation")}


# -- the Markdown table -------------------------------------------------------------------------------
def _f(v: Any, fmt: str = ".3g") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return format(v, fmt) if isinstance(v, (int, float)) else str(v)


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(map(str, r)) + " |" for r in rows), ""]


def md_correctness(s: dict) -> list[str]:
    one = [[k, _f(c["max_loss_rel_diff"], ".1e"), _f(c["tolerance_loss_rel"], ".0e"), _f(c["min_update_cosine"], ".5f"),
            _f(c["tolerance_cosine"]), _f(c["max_update_rel_diff"], ".1e"), _f(c["ok"])] for k, c in s["one_step"].items()]
    free = [[k, _f(c["mean_loss_rel_diff"], ".1e"), _f(c["tolerance_mean_rel"], ".0e"), _f(c["max_abs_diff"], ".1e"),
             _f(c["max_rel_diff"], ".1e"), c["worst_step"], _f(c["ok"])] for k, c in s["free"].items()]
    return [f"{s['model']}, {s['steps']} steps of batch {s['batch']}, {s['optimizer']}; {s['data']}; {s['note']}.", "",
            "Each step from the CPU's state (weights and Adam's moments copied before every step):", "",
            *_table(["device precision", "max loss rel. diff", "tolerance", "min update cosine", "tolerance",
                     "max update rel. diff", "within"], one),
            "Training freely for all the steps (differences grow step by step; the mean loss is judged):", "",
            *_table(["curves", "mean loss rel. diff", "tolerance", "max abs. diff", "max rel. diff", "at step",
                     "within"], free)]


def md_throughput(s: dict) -> list[str]:
    head = ["model", "input", "batch"] + [VARIANT_NAMES[v] + " img/s" for v in VARIANTS] + [
        f"fit/(c) (goal >= {GOAL_FIT_VS_TRICKS})", f"fit/(b) (goal >= {GOAL_FIT_VS_PLAIN})", "(c)/(d)",
        "compile s: fit / (c) / (d)"]
    rows = []
    for name, m in s.get("models", {}).items():
        if "skipped" in m or "error" in m:
            rows.append([name, m.get("skipped") or m.get("error")] + [""] * (len(head) - 2))
            continue
        v = m["variants"]
        speed = [_f(v[k]["images_per_s"], ",.0f") if k in v else "-" for k in VARIANTS]
        comp = " / ".join(_f(v[k]["compile_s"], ".1f") if k in v else "-" for k in ("fit", "tricks", "torchvision"))
        rows.append([name, "x".join(map(str, m["input"][1:])), m["batch"], *speed, _f(m["fit_vs_tricks"], ".3f"),
                     _f(m["fit_vs_plain"], ".3f"), _f(m["ours_vs_torchvision"], ".3f"), comp])
    notes = [f"- {name}: {n}" for name, m in s.get("models", {}).items() for n in m.get("notes", [])]
    return [s.get("note", ""), "", *_table(head, rows), *notes, "" if notes else ""]


def md_memory(s: dict) -> list[str]:
    rows = [[name, m["batch"], *(_f(m["peak_mib"][k], ",.0f") if k in m["peak_mib"] else "-" for k in VARIANTS)]
            for name, m in s["models"].items()]
    return [s["note"][0].upper() + s["note"][1:] + ".", "", *_table(["model", "batch"] + [VARIANT_NAMES[v] for v in VARIANTS], rows)]


def md_epoch(s: dict) -> list[str]:
    rows = [[_f(s["epoch_s"], ".2f"), _f(s["first_epoch_s"], ".1f"), _f(s["epochs_50_projected_s"], ".0f"),
             _f(s["epochs_50_steady_s"], ".0f"), f"{s['course_50_epochs_s']:,.0f}", _f(s["speedup_vs_course"], ".1f"),
             f"<= {s['goal_s']:g}", _f(s["meets_goal"])]]
    return [f"Recipe {s['recipe']} on {s['train_images']:,} + {s['test_images']:,} random images; {s['note']}.", "",
            *_table(["epoch s", "first epoch s", "50 epochs s (projected)", "50 x epoch s", "course s",
                     "speed-up", "goal s", "meets goal"], rows)]


def md_imdb(s: dict) -> list[str]:
    rows = []
    for name, m in s["models"].items():
        for kind in ("fused", "step_loop"):
            v = m[kind]
            rows.append([name, f"{kind} (recurrent_dropout {v['recurrent_dropout']:g})", v["timed_steps"],
                         _f(v["step_s"] * 1000, ".2f"), _f(v["epoch_s"], ".1f"),
                         _f(m["loop_vs_fused"], ".1f") if kind == "step_loop" else ""])
    return [f"{s['examples']:,} x {s['length']} word ids, batch {s['batch']}, {s['optimizer']}, precision "
            f"{s['precision']}; {s['note']}.", "",
            *_table(["model", "recurrent layer", "timed steps", "ms/step", "epoch s", "loop / fused"], rows)]


def md_fashion(s: dict) -> list[str]:
    rows = [[r["epoch"], _f(r["train_s"], ".2f"), _f(r["train_s_total"], ".1f"), _f(r["train_loss"], ".4f"),
             _f(r["test_acc"], ".4f")] for r in s["epochs"]]
    hit = (f"test accuracy {s['target_acc']:g} first reached after epoch {s['epoch_at_target']}, "
           f"{s['seconds_to_target']:.1f} s of training" if s["reached"] else
           f"test accuracy {s['target_acc']:g} not reached (best {s['best_test_acc']:.4f})")
    return [f"{s['source']}: {s['model']} on {s['train_images']:,} training images; {hit}. {s['protocol']}.", "",
            *_table(["epoch", "train s", "total train s", "train loss", "test acc"], rows)]


RENDER = {"correctness": md_correctness, "throughput": md_throughput, "memory": md_memory, "epoch": md_epoch,
          "imdb": md_imdb, "fashion": md_fashion}
TITLES = {"correctness": "1. Correctness: losses on the device against the CPU", "throughput": "2. Training throughput",
          "epoch": "3. The MiniModel's epoch (recipe resnet_mini_cifar10)", "imdb": "4. IMDB: fused kernel against the step loop",
          "memory": "5. Peak GPU memory", "fashion": "6. Fashion-MNIST: time to a test accuracy"}


def markdown(doc: dict) -> str:
    m = doc["machine"]
    lines = [f"# bench/gpu.py on {m['name']}", "",
             f"`{doc['command']}`", "",
             f"- {m['line']}",
             f"- torch {m['torch']}, CUDA {m.get('cuda', 'n/a')}, cuDNN {m.get('cudnn', 'n/a')}, driver "
             f"{m.get('driver') or 'n/a'}, torchvision {m['torchvision'] or 'missing'}, triton {m['triton'] or 'n/a'}",
             f"- TF32: convolutions {m['tf32_cudnn']}, matmul {m['tf32_matmul']}; cudnn.benchmark "
             f"{m['cudnn_benchmark']}; inductor cache warm at start: {m['inductor_cache_warm']}",
             f"- git {m['git_commit'] or 'n/a'}{' (uncommitted changes)' if m['git_dirty'] else ''}"
             f"{'; SMOKE sizes: toy figures, not measurements of the suite' if doc['smoke'] else ''}", ""]
    for name in ("correctness", "throughput", "memory", "epoch", "imdb", "fashion"):
        s = doc["sections"].get(name)
        if s is None:
            continue
        lines += [f"## {TITLES[name]}", ""]
        if "skipped" in s or "error" in s:
            lines += [s.get("skipped") or f"failed: {s['error']}", ""]
            continue
        lines += RENDER[name](s)
        if name in doc["seconds"]:
            lines += [f"({doc['seconds'][name]:.0f} s)", ""]
    return "\n".join(lines)


# -- the suite ------------------------------------------------------------------------------------------
def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.environ.get("OUT") or "bench-results",
                    help="folder for NAME.json and NAME.md (default: $OUT, else bench-results)")
    ap.add_argument("--name", default="gpu-bench", help="the two files' name (default gpu-bench)")
    ap.add_argument("--rest-of", default=None, metavar="JSON",
                    help="an earlier run's NAME.json: do only what it skipped, failed or did not reach "
                         "(its sections, models and variants; --only, --models and --variants are then ignored)")
    ap.add_argument("--device", default="auto", help="auto (cuda when present), cuda, cuda:N or cpu")
    ap.add_argument("--smoke", action="store_true", help="toy sizes, to test the script on a CPU in about a minute")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"sections, comma-separated: {', '.join(SECTIONS)}")
    ap.add_argument("--models", default="", help="throughput's models, comma-separated (default: all eight)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"throughput's variants: {', '.join(VARIANTS)}")
    ap.add_argument("--trials", type=int, default=None, help="throughput trials per variant, alternating (default 2)")
    ap.add_argument("--budget-s", type=float, default=270.0,
                    help="seconds for the whole suite: what would start after (or likely not end within) them is skipped")
    ap.add_argument("--tricks", choices=("auto", "on"), default="auto",
                    help="on: compile and bf16 even on the CPU (fit's and loop (c)'s), to test those paths without a GPU")
    ap.add_argument("--recipe", default="fashion_mnist_fast", help="the Fashion-MNIST recipe (a fallback where missing)")
    ap.add_argument("--fashion-dir", default=None,
                    help="folder of the four Fashion-MNIST IDX .gz files (default: the data cache and system folders)")
    ap.add_argument("--target-acc", type=float, default=0.95, help="the test accuracy whose time is reported")
    a = ap.parse_args(argv)
    a.only = tuple(s.strip() for s in a.only.split(",") if s.strip())
    a.variants = tuple(v.strip() for v in a.variants.split(",") if v.strip())
    bad = [s for s in a.only if s not in SECTIONS] + [v for v in a.variants if v not in VARIANTS]
    if bad:
        ap.error(f"unknown section or variant {bad[0]!r}; sections: {', '.join(SECTIONS)}; variants: {', '.join(VARIANTS)}")
    return a


def sizes(a: argparse.Namespace) -> Sizes:
    sz = SMOKE if a.smoke else FULL
    models = sz.models
    if a.models:
        names = [n.strip() for n in a.models.split(",") if n.strip()]
        known = {m.name: m for m in (_smoke_models() if a.smoke else models)}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SystemExit(f"gpu.py: error: unknown model {unknown[0]!r}; throughput's are {', '.join(known)}")
        models = tuple(known[n] for n in names)
    return replace(sz, models=models, trials=a.trials or sz.trials)


def rest_of(a: argparse.Namespace, sz: Sizes) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """(sections, {model: variants}) still to do: all asked, or, with --rest-of, what that earlier
    report skipped, failed, or never reached (a model whose (d) alone was skipped gets (c) and (d))."""
    wanted = a.variants if "throughput" in a.only else ("fit", "plain")
    if not a.rest_of:
        return a.only, {m.name: wanted for m in sz.models}
    doc = json.loads(Path(a.rest_of).read_text())
    done = doc["sections"]
    todo = lambda s: s not in done or "skipped" in done[s] or "error" in done[s]  # noqa: E731
    sections = [s for s in doc["sections_asked"] if s not in ("throughput", "memory") and todo(s)]
    models: dict[str, tuple[str, ...]] = {}
    earlier = done.get("throughput", {}).get("models", {})
    for name in doc.get("models_asked", []):
        m = earlier.get(name)
        if m is None or "skipped" in m or "error" in m:
            models[name] = tuple(doc["variants_asked"])
        elif m.get("skipped_variants"):
            models[name] = ("tricks", *m["skipped_variants"])
    if models:
        sections += [s for s in ("throughput", "memory") if s in doc["sections_asked"]]
    return tuple(sections), models


def run_section(report: Report, budget: Budget, name: str, guess: float, work) -> None:
    """Run one section unless the budget refuses it; record its result, its failure or its skip, and save."""
    why = budget.refuse(guess, f"section {name}")
    if why:
        report.doc["sections"][name] = {"skipped": why}
    else:
        t0 = time.perf_counter()
        try:
            report.doc["sections"][name] = work()
        except Exception as e:  # noqa: BLE001 - one section failing must not lose the others' figures
            report.doc["sections"][name] = {"error": f"{type(e).__name__}: {str(e).strip()[:2000]}"}
            print(f"gpu.py: section {name} failed: {type(e).__name__}: {e}", file=sys.stderr)
        report.doc["seconds"][name] = time.perf_counter() - t0
    report.save()
    print(f"[{budget.spent():6.0f} s] {name}: " + ("skipped" if why else "done"), flush=True)


def memory_table(models: dict[str, Any]) -> dict[str, Any]:
    return {"note": "peak allocated MiB above what was allocated before the variant started (the data on the "
                    "device); n/a on the CPU",
            "models": {name: {"batch": m["batch"], "peak_mib": {k: v["peak_memory_mib"] for k, v in m["variants"].items()}}
                       for name, m in models.items() if "variants" in m}}


def one_model(spec: ModelSpec, variants: tuple[str, ...], budget: Budget, device: torch.device, tricks: Tricks,
              sz: Sizes) -> dict[str, Any]:
    """One model's figures, or why it was skipped or failed; (d) is dropped first when the budget is short."""
    why = budget.refuse(spec.guess_s if set(variants) - {"torchvision"} else 0.0, spec.name)
    if why:
        return {"skipped": why}
    dropped = []
    if "torchvision" in variants and spec.torchvision and budget.refuse(spec.guess_s + spec.guess_tv_s, spec.name):
        dropped, variants = ["torchvision"], tuple(v for v in variants if v != "torchvision")
    try:
        out = throughput_model(spec, variants, device, tricks, sz)
    except Exception as e:  # noqa: BLE001 - a model failing must not lose the others'
        print(f"gpu.py: {spec.name} failed: {type(e).__name__}: {e}", file=sys.stderr)
        sync_empty(device)
        return {"error": f"{type(e).__name__}: {str(e).strip()[:2000]}"}
    if dropped:
        out["skipped_variants"] = dropped
        out["notes"].append(f"(d) skipped: {budget.left():.0f} s of --budget-s {budget.seconds:g} were left when "
                            f"{spec.name} started, and (a)-(d) were guessed to need {spec.guess_s + spec.guess_tv_s:.0f} s")
    return out


def throughput(report: Report, budget: Budget, models: dict[str, tuple[str, ...]], device: torch.device,
               tricks: Tricks, sz: Sizes) -> None:
    """Every model in turn, each saved as it ends (memory is taken in the same runs)."""
    sec = report.section("throughput")
    sec.update(models={}, tricks=vars(tricks), note=(
        f"Training images/s, median of {sz.trials} alternating trials; fit's tricks here: {vars(tricks)}. "
        "(a) times its second epoch of the same steps, (b)-(d) their steps after "
        f"{sz.warmup} warm-up steps; compile s: the first warm-up's time beyond the same steps at steady speed."))
    t0 = time.perf_counter()
    for spec in sz.models:
        if spec.name not in models:
            continue
        sec["models"][spec.name] = m = one_model(spec, models[spec.name], budget, device, tricks, sz)
        report.doc["sections"]["memory"] = memory_table(sec["models"])
        report.doc["seconds"]["throughput"] = time.perf_counter() - t0
        report.save()
        print(f"[{budget.spent():6.0f} s] throughput {spec.name}: " + ("skipped" if "skipped" in m else "done"), flush=True)


def main(argv: list[str] | None = None) -> None:
    a = parse(argv)
    device = resolve_device(a.device)
    if device.type != "cuda" and not a.smoke and a.device == "auto":
        raise SystemExit("gpu.py: error: no CUDA GPU here, and the full sizes would take hours on the CPU; "
                         "add --smoke (or --device cpu to insist)")
    sz = sizes(a)
    sections, models = rest_of(a, sz)
    budget = Budget(a.budget_s)
    report = Report(Path(a.out), a.name, {
        "suite": "bench/gpu.py", "command": shlex.join(["python", "bench/gpu.py", *(argv or sys.argv[1:])]),
        "smoke": a.smoke, "machine": machine(device), "budget_s": a.budget_s, "sections_asked": list(sections),
        "models_asked": list(models), "variants_asked": sorted({v for vs in models.values() for v in vs},
                                                               key=VARIANTS.index)})
    print(report.doc["machine"]["line"], flush=True)
    work = {"correctness": (0.0, lambda: correctness(device, sz)),
            "epoch": (sz.guess_epoch_s, lambda: epoch(device, sz)),
            "imdb": (0.0, lambda: imdb(device, sz)),
            "fashion": (sz.guess_fashion_s, lambda: fashion(device, sz, a.recipe, a.fashion_dir, a.target_acc))}
    for name in ORDER:
        if name == "throughput" and ("throughput" in sections or "memory" in sections):
            throughput(report, budget, models, device, Tricks.of(device, a.tricks == "on"), sz)
        elif name in sections and name != "throughput":
            sync_empty(device)
            run_section(report, budget, name, *work[name])
    report.doc["total_s"] = budget.spent()
    report.save()
    print(markdown(report.doc))  # the end of the output is what a device call's reply carries
    print(f"wrote {report.path('json')} and {report.path('md')} ({budget.spent():.0f} s)")


if __name__ == "__main__":
    main()
