"""How much does `fit` cost over a hand-written PyTorch loop doing the same work?

Both train the same model (fresh, same seed) on the same data with the same batch size, optimizer,
learning rate and shuffling, and both sum the epoch's loss and accuracy, as any loop that reports
them does. The plain loop gets its inputs pre-normalised as float32 (the fastest thing a user can
write); `fit` gathers uint8 batches and normalises them on the fly. Trials alternate between the two
in one process, so both see the same machine state. Printed: examples/second of each (median and
spread over trials) and the ratio fit / plain.

    python bench/train_overhead.py                    # lenet on digits, CPU
    python bench/train_overhead.py --callbacks        # fit with the CLI's callbacks (progress, CSV, checkpoint)
"""
from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import classicnets
from classicnets.data import load_dataset
from classicnets.train import Checkpoint, CSVLogger, TrainConfig, fit
from classicnets.train.engine import resolve_device
from classicnets.train.progress import EpochLogger
from classicnets.zoo import create


def plain_loop(model, x, y, epochs, batch_size, lr, seed, device):
    """What a careful user writes by hand: tensors on the device, index batches, no DataLoader."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator(device=device).manual_seed(seed)
    n = len(y)
    model.train()
    for _ in range(epochs):
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        perm = torch.randperm(n, generator=g, device=device)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = x[idx], y[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
        loss_sum.item(), correct.item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lenet")
    ap.add_argument("--data", default="digits")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=5, help="epochs per trial")
    ap.add_argument("--trials", type=int, default=7, help="trials of each, alternating")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--callbacks", action="store_true",
                    help="give fit the CLI's callbacks: epoch log, metrics.csv and a checkpoint per epoch")
    a = ap.parse_args()

    device = resolve_device(a.device)
    data = load_dataset(a.data)
    norm = data.normalization()
    x = norm(data.train.x).to(device)  # (N, C, H, W) float32, for the plain loop
    y = data.train.y.to(device)
    c, h, w = data.input_shape
    cfg = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, optimizer="adam", lr=1e-3,
                      schedule="constant", device=str(device), compile="off", precision="fp32")
    build = lambda: create(a.model, num_classes=data.num_classes, in_channels=c, input_size=h)  # noqa: E731
    tmp = Path(tempfile.mkdtemp())
    n = len(y) * a.epochs

    def run_plain() -> float:
        torch.manual_seed(0)
        model = build().to(device)
        t = time.perf_counter()
        plain_loop(model, x, y, a.epochs, a.batch_size, cfg.lr, cfg.seed, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return n / (time.perf_counter() - t)

    def run_fit() -> float:
        torch.manual_seed(0)
        model = build()
        cbs = ([EpochLogger(lambda s: None), CSVLogger(tmp / "metrics.csv"),
                Checkpoint(tmp / "checkpoint.safetensors")] if a.callbacks else [])
        t = time.perf_counter()
        fit(model, data.train, cfg, normalization=norm, callbacks=cbs)
        return n / (time.perf_counter() - t)

    run_plain(), run_fit()  # warm-up: allocator, kernels, first-call costs
    plain, fitted = [], []
    for _ in range(a.trials):
        plain.append(run_plain())
        fitted.append(run_fit())
    ratios = [f / p for f, p in zip(fitted, plain)]

    dev = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# train_overhead: {a.model} on {a.data} ({len(y):,} training examples), batch {a.batch_size}, "
          f"Adam, {a.epochs} epochs per trial, {a.trials} trials each, alternating")
    print(f"# device {device} ({dev}), {torch.get_num_threads()} threads; torch {torch.__version__}, "
          f"classicnets {classicnets.__version__}, python {platform.python_version()}")
    print(f"# fit callbacks: {'epoch log + metrics.csv + checkpoint per epoch' if a.callbacks else 'none'}")
    spread = lambda v: f"{statistics.median(v):,.0f} ex/s (min {min(v):,.0f}, max {max(v):,.0f})"  # noqa: E731
    print(f"plain loop : {spread(plain)}")
    print(f"fit        : {spread(fitted)}")
    print(f"ratio fit/plain: median {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f})")


if __name__ == "__main__":
    main()
