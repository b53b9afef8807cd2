"""Real data: `fit`, a hand-written PyTorch loop and Keras 3 on Fashion-MNIST, the same network and settings.

Three ways of training one network on the real Fashion-MNIST (Xiao, Rasul & Vollgraf 2017; 60,000
training and 10,000 test images) with the course's `mnist_cnn` settings (the zoo's `mnist_cnn`, Keras 2's example network, Keras's initial weights; Adadelta
with Keras's defaults lr 1.0, rho 0.95; batch 128; inputs /255; validation on the test split):

- fit: `classicnets train --recipe mnist_cnn --data fashion-mnist --epochs N`'s path:
  `recipes.apply_overrides` then `runs.run.train_run` into a temporary run directory, with the run's
  own callbacks (metrics.csv and a checkpoint every epoch) and the CLI's plain epoch log;
- plain: what a careful user writes by hand: the uint8 images held as one tensor, each batch
  gathered by index and divided by 255, the same model (same seed, so the same initial weights),
  optimizer, batch size and data order; evaluated at `--plain-eval-batch` (default: the training
  batch);
- keras: Keras 3 on its PyTorch backend (`KERAS_BACKEND=torch`), the same layers in Keras, `model.fit`
  on float32 arrays /255 with `validation_data` the test split (Keras validates at the training
  batch size); skipped with a note when `keras` is not installed (`pip install keras`).

Trials alternate fit, plain, keras in one process, so all see the same machine state; a warm-up on a
small subset pays first-call costs first. Printed: seconds per training epoch, per validation pass
over the test images and per whole epoch (median, min and max over every epoch of every trial), the
test accuracy of each trial, and the ratios the issue sets bars for.

    python bench/real_data.py                  # 3 epochs per trial, 3 trials each (~10 min, 2-core CPU)
    python bench/real_data.py --smoke          # 2,000 / 1,000 images, 1 epoch, 1 trial: seconds
    python bench/real_data.py --eval-sweep 128,256,512,1024   # also: one validation pass at each batch size

The data come from Debian's package `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist), or
`--data-dir`: through the project's loader where it accepts the files, else read directly (said so).
"""
from __future__ import annotations

import argparse
import gzip
import importlib.util
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import classicnets
from classicnets.data.core import Dataset, Split
from classicnets.data.idx import FASHION_CLASSES, NAMES, parse_idx
from classicnets.data.registry import DatasetInfo, load_dataset, register_dataset
from classicnets.errors import UserError
from classicnets.recipes import apply_overrides, get_recipe
from classicnets.runs.run import train_run
from classicnets.runs.tasks.base import fill_model_args
from classicnets.train import Callback
from classicnets.train.progress import EpochLogger
from classicnets.zoo import create

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
RECIPE = "mnist_cnn"                # the course's settings, as the issue races them
BENCH_DATA = "bench-fashion-mnist"  # the bench's name for the data it trains on (a subset in --smoke and the warm-up)
SOURCE: dict[str, str] = {}         # how the files were read, for the header
CURRENT: dict[str, Dataset] = {}    # what BENCH_DATA loads now


def read_fashion_mnist(data_dir: Path) -> Dataset:
    """The real data set: through the project's loader if it accepts the files in `data_dir`, else
    the four IDX files read directly (Debian re-gzipped them, so their MD5s differ from the published)."""
    try:
        data = load_dataset("fashion-mnist", data_dir=str(data_dir))
        SOURCE["how"] = f"classicnets' fashion-mnist loader, files in {data_dir}"
        return data
    except UserError as e:
        SOURCE["how"] = f"IDX files in {data_dir} read directly (the loader refused them: {str(e)[:90]}...)"
    arrays = []
    for name in NAMES:
        path = data_dir / name
        if not path.exists():
            raise SystemExit(f"real_data: {path} is missing; install Debian's dataset-fashion-mnist or give --data-dir")
        arrays.append(parse_idx(gzip.decompress(path.read_bytes()), str(path)))
    train = Split(torch.from_numpy(arrays[0].copy()).unsqueeze(1), torch.from_numpy(arrays[1].astype(np.int64)))
    test = Split(torch.from_numpy(arrays[2].copy()).unsqueeze(1), torch.from_numpy(arrays[3].astype(np.int64)))
    return Dataset("fashion-mnist", list(FASHION_CLASSES), train=train, test=test, max_value=255.0)


def use_data(data: Dataset) -> None:
    """Make `data` what BENCH_DATA loads, so `train_run` reads it by name as `classicnets train --data` would."""
    CURRENT["data"] = data
    try:
        register_dataset(DatasetInfo(BENCH_DATA, lambda: CURRENT["data"], "Fashion-MNIST for bench/real_data.py",
                                     10, (1, 28, 28), "train 60,000 / test 10,000", "MIT",
                                     "Xiao, Rasul & Vollgraf 2017"))
    except ValueError:  # registered by an earlier main() in this process (the tests)
        pass


def subset(data: Dataset, train: int, test: int) -> Dataset:
    return Dataset(data.name, data.classes, train=Split(data.train.x[:train], data.train.y[:train]),
                   test=Split(data.test.x[:test], data.test.y[:test]), max_value=data.max_value)


@dataclass
class Result:
    train_s: list[float] = field(default_factory=list)   # seconds per training epoch
    val_s: list[float] = field(default_factory=list)     # seconds per validation pass over the test split
    epoch_s: list[float] = field(default_factory=list)   # seconds per whole epoch (what comes after it included)
    test_acc: float = float("nan")


class EpochTimer(Callback):
    """Training ends at the last batch, validation at `on_epoch_end` (before the run writes its files:
    lowest order); a whole epoch runs from one epoch's start to the next's (or the end)."""

    order = -500

    def __init__(self, result: Result):
        self.result, self.begin, self.last = result, 0.0, 0.0

    def on_epoch_begin(self, trainer, epoch):
        now = time.perf_counter()
        if self.begin:
            self.result.epoch_s.append(now - self.begin)
        self.begin = now

    def on_batch_end(self, trainer, step, meter):
        self.last = time.perf_counter()

    def on_epoch_end(self, trainer, epoch, logs):
        self.result.train_s.append(self.last - self.begin)
        self.result.val_s.append(time.perf_counter() - self.last)

    def on_train_end(self, trainer):
        self.result.epoch_s.append(time.perf_counter() - self.begin)


def run_fit(a, out: Path) -> Result:
    cfg, provenance = apply_overrides(get_recipe(RECIPE), data=BENCH_DATA,
                                      train=dict(epochs=a.epochs, device="cpu", **a.fit_overrides))
    result = Result()
    run = train_run(cfg, out=out, callbacks=[EpochLogger(lambda s: None), EpochTimer(result)],
                    log=lambda s: None, warn=lambda s: None, recipe=provenance)
    result.test_acc = run.results["test_acc"]
    return result


def plain_model(a, data: Dataset):
    cfg = get_recipe(RECIPE).run_config()
    args = fill_model_args(cfg.model, cfg.model_args, data.input_shape, data.num_outputs)
    return create(cfg.model, seed=cfg.train.seed, **args)  # as train_run builds it: the same initial weights


@torch.no_grad()
def plain_eval(model, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.int64)
    for i in range(0, len(y), batch_size):
        xb, yb = x[i:i + batch_size].float() / 255, y[i:i + batch_size]
        logits = model(xb)
        loss_sum += F.cross_entropy(logits, yb, reduction="sum")
        correct += (logits.argmax(1) == yb).sum()
    model.train()
    loss_sum.item()
    return correct.item() / len(y)


def run_plain(a, data: Dataset) -> Result:
    """The hand-written loop: same initial weights, optimizer, batch, data order and dropout seed as fit."""
    cfg = get_recipe(RECIPE).run_config().train
    model = plain_model(a, data)
    opt = torch.optim.Adadelta(model.parameters(), lr=cfg.lr, rho=0.95, eps=1e-7)  # Keras 2's defaults
    x, y = data.train.x, data.train.y                         # uint8 (N, 1, 28, 28), int64 (N,)
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    bs, n, result = cfg.batch_size, len(y), Result()
    model.train()
    for _ in range(a.epochs):
        t0 = time.perf_counter()
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.int64)
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            xb, yb = x[idx].float() / 255, y[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
        loss_sum.item(), correct.item()
        t1 = time.perf_counter()
        result.test_acc = plain_eval(model, data.test.x, data.test.y, a.plain_eval_batch or bs)
        t2 = time.perf_counter()
        result.train_s.append(t1 - t0), result.val_s.append(t2 - t1), result.epoch_s.append(t2 - t0)
    return result


def keras_version() -> str | None:
    if importlib.util.find_spec("keras") is None:
        return None
    os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: its backend is chosen then
    import keras
    if keras.backend.backend() != "torch":
        raise SystemExit(f"real_data: keras was imported with the {keras.backend.backend()} backend; run it alone")
    return keras.__version__


def run_keras(a, data: Dataset) -> Result:
    """The recipe's network (Keras 2's examples/mnist_cnn.py, the zoo's mnist_cnn) in Keras 3, fit on arrays /255."""
    import keras
    from keras import layers

    cfg = get_recipe(RECIPE).run_config().train
    keras.utils.set_random_seed(cfg.seed)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(), layers.Dropout(0.25),
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dropout(0.5),
        layers.Dense(data.num_classes, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adadelta(learning_rate=cfg.lr, rho=0.95, epsilon=1e-7),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    nhwc = lambda s: (s.x.permute(0, 2, 3, 1).numpy().astype("float32") / 255, s.y.numpy())  # noqa: E731
    (x, y), (xt, yt) = nhwc(data.train), nhwc(data.test)
    result = Result()

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_test_begin(self, logs=None):
            self.t1 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            t2 = time.perf_counter()
            result.train_s.append(self.t1 - self.t0), result.val_s.append(t2 - self.t1)
            result.epoch_s.append(t2 - self.t0)
            result.test_acc = float(logs["val_accuracy"])

    model.fit(x, y, batch_size=cfg.batch_size, epochs=a.epochs, validation_data=(xt, yt), callbacks=[Timer()],
              verbose=0, shuffle=True)
    return result


def eval_sweep(a, data: Dataset, sizes: list[int]) -> list[tuple[int, float, float, int]]:
    """One validation pass over the test split at each batch size through fit's evaluation (`run_eval`
    over a `BatchLoader`) and the plain loop's: (batch, fit s, plain s, fit's minor page faults), best
    of 3. The page faults are the cause of large batches' slowness on a CPU: activations above
    glibc's mmap threshold (at most 32 MB) are mapped afresh for every batch and returned after it."""
    import resource

    from classicnets.data.core import BatchLoader
    from classicnets.train.engine import run_eval

    model = plain_model(a, data)
    norm = data.normalization("scale")
    out = []
    for bs in sizes:
        loader = BatchLoader(data.test, bs, device=torch.device("cpu"), normalization=norm)
        fit_s, plain_s, faults = [], [], []
        for _ in range(3):
            f0, t = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
            run_eval(model, loader)
            fit_s.append(time.perf_counter() - t)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
            t = time.perf_counter()
            plain_eval(model, data.test.x, data.test.y, bs)
            plain_s.append(time.perf_counter() - t)
        out.append((bs, min(fit_s), min(plain_s), min(faults)))
    return out


def spread(v: list[float]) -> str:
    return f"{statistics.median(v):6.2f} ({min(v):.2f}-{max(v):.2f})" if v else "     -"


def main(argv: list[str] | None = None) -> dict[str, Result]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3, help="epochs per trial")
    ap.add_argument("--trials", type=int, default=3, help="trials of each way, alternating")
    ap.add_argument("--data-dir", type=Path, default=DEBIAN_DIR, help="where the four IDX .gz files are")
    ap.add_argument("--eval-batch-size", type=int, default=0,
                    help="fit's evaluation batch (default: the recipe's, TrainConfig's 1024)")
    ap.add_argument("--plain-eval-batch", type=int, default=0, help="the plain loop's (default: the training batch)")
    ap.add_argument("--no-keras", action="store_true", help="leave Keras out even if installed")
    ap.add_argument("--eval-sweep", default="", help="batch sizes, e.g. 128,256,512,1024: time one validation pass at each")
    ap.add_argument("--smoke", action="store_true", help="2,000 training and 1,000 test images, 1 epoch, 1 trial, no warm-up")
    a = ap.parse_args(argv)
    a.fit_overrides = {"eval_batch_size": a.eval_batch_size} if a.eval_batch_size else {}
    if a.smoke:
        a.epochs, a.trials = 1, 1

    full = read_fashion_mnist(a.data_dir)
    data = subset(full, 2000, 1000) if a.smoke else full
    use_data(data)
    keras = None if a.no_keras else keras_version()
    ways = {"fit": None, "plain": lambda: run_plain(a, CURRENT["data"])}
    if keras:
        ways["keras"] = lambda: run_keras(a, CURRENT["data"])
    with tempfile.TemporaryDirectory(prefix="real_data-") as tmp:
        runs = (Path(tmp) / f"run{i}" for i in range(10**6))  # a new run directory for each of fit's runs
        ways["fit"] = lambda: run_fit(a, next(runs))
        results, accs, loads = race(a, ways, full, data)
    report(a, ways, results, accs, loads, keras, data)
    for k in accs:
        results[k].test_acc = statistics.median(accs[k])
    return results


def race(a, ways, full: Dataset, data: Dataset):
    """Warm-up, then the trials, alternating: (results, test accuracies per trial, load averages)."""
    load0 = os.getloadavg()
    if not a.smoke:  # first calls (oneDNN primitives, allocator, Keras's tracing) on a subset, untimed
        small, epochs = subset(full, 2000, 1000), a.epochs
        use_data(small)
        a.epochs = 1
        for run in ways.values():
            run()
        use_data(data)
        a.epochs = epochs
    results: dict[str, Result] = {k: Result() for k in ways}
    accs: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(a.trials):
        for name, run in ways.items():
            r = run()
            results[name].train_s += r.train_s
            results[name].val_s += r.val_s
            results[name].epoch_s += r.epoch_s
            accs[name].append(r.test_acc)
    return results, accs, (load0[0], os.getloadavg()[0])


def report(a, ways, results, accs, loads, keras, data) -> None:
    cfg = get_recipe(RECIPE).run_config()
    eval_bs = a.eval_batch_size or cfg.train.eval_batch_size
    print(f"# real_data: {cfg.model} on Fashion-MNIST ({len(data.train):,} training, {len(data.test):,} test "
          f"images), recipe {RECIPE}: {cfg.train.optimizer} lr {cfg.train.lr:g}, batch {cfg.train.batch_size}, "
          f"{a.epochs} epoch(s) per trial, {a.trials} trial(s) of each, alternating {', '.join(ways)}")
    print(f"# data: {SOURCE['how']}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch "
          f"threads; torch {torch.__version__}, keras {keras or 'not installed'}, classicnets "
          f"{classicnets.__version__}, python {platform.python_version()}")
    print(f"# load average (1 min) {loads[0]:.2f} at the start, {loads[1]:.2f} at the end; evaluation batch: "
          f"fit {eval_bs}, plain {a.plain_eval_batch or cfg.train.batch_size}, keras {cfg.train.batch_size}")
    if not keras:
        print("# keras: " + ("left out (--no-keras)" if a.no_keras else
                             "not installed, so skipped (pip install keras to race it; it runs on torch)"))
    print(f"{'way':6} {'train epoch s':>20} {'val pass s':>20} {'whole epoch s':>20}  test acc per trial")
    for name, r in results.items():
        print(f"{name:6} {spread(r.train_s):>20} {spread(r.val_s):>20} {spread(r.epoch_s):>20}  "
              + " ".join(f"{v:.4f}" for v in accs[name]))
    med = {k: {m: statistics.median(getattr(r, m)) for m in ("train_s", "val_s", "epoch_s")} for k, r in results.items()}
    f, p = med["fit"], med["plain"]
    print(f"training speed fit/plain (plain's epoch s / fit's): {p['train_s'] / f['train_s']:.3f}   (bar: >= 0.95)")
    print(f"validation pass fit/plain (s): {f['val_s'] / p['val_s']:.3f}")
    print(f"whole epoch fit / plain's training + evaluation (s): {f['epoch_s'] / p['epoch_s']:.3f}   (bar: <= 1.10)")
    if "keras" in med:
        print(f"whole epoch keras/fit (s): {med['keras']['epoch_s'] / f['epoch_s']:.3f}   (bar: > 1, fit faster)")
    if a.eval_sweep:
        print("one validation pass over the test split at each batch size (best of 3):")
        print(f"{'batch':>7} {'fit s':>7} {'plain s':>8} {'page faults':>12}")
        for bs, fs, ps, faults in eval_sweep(a, data, [int(v) for v in a.eval_sweep.split(",")]):
            print(f"{bs:7d} {fs:7.3f} {ps:8.3f} {faults:12,}")


if __name__ == "__main__":
    main()
