"""Is the loader ever the bottleneck? Images per second of the on-device loader with augmentation
against the training step of the default CIFAR-10 ConvNet (`cifar_convnet`), plus the resident
memory CIFAR-10 takes once loaded.

The data set is the real CIFAR-10 when it is in the cache or in --data-dir; otherwise (offline) a
synthetic archive in the true binary format, of the true size, is written to a temporary
directory and loaded through the same code (`load_cifar10`), so the memory figure is the real
loader's. Rows:
- loader, no augmentation: gather uint8 batches by a shuffled index, convert, normalise;
- loader, course augmentation: + width/height shift 0.1, horizontal flip (Keras's
  ImageDataGenerator settings of the course's CIFAR-10 examples), rotation 15 degrees, cutout 8;
- training step: forward + backward + Adam step of cifar_convnet on ready batches.
The ratio train-step / loader says how much of a step the loader would cost (below 1: never the
bottleneck).

    python bench/data_throughput.py                  # CPU
    python bench/data_throughput.py --device cuda
"""
from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import classicnets
from classicnets.data import AugmentConfig, Augmenter, BatchLoader, cifar
from classicnets.data.download import RemoteFile
from classicnets.train.engine import describe_machine, resolve_device
from classicnets.zoo import create


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def synthetic_archive(folder: Path) -> RemoteFile:
    import io
    import tarfile
    rng = np.random.default_rng(0)
    path = folder / "cifar-10-binary.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, n in [*((f"data_batch_{i}.bin", 10000) for i in range(1, 6)), ("test_batch.bin", 10000)]:
            rec = rng.integers(0, 256, (n, 3073), dtype=np.uint8)
            rec[:, 0] = rng.integers(0, 10, n)
            data = rec.tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return RemoteFile(path.name, "https://example.org/" + path.name, hashlib.md5(path.read_bytes()).hexdigest())


def load(data_dir):
    before = rss_mb()
    os.environ["CLASSICNETS_OFFLINE"] = "1"  # the cache or --data-dir only; never a download here
    try:
        d = cifar.load_cifar10(data_dir=data_dir)
        source = "real CIFAR-10"
    except classicnets.errors.UserError:
        tmp = Path(tempfile.mkdtemp())
        os.environ["CLASSICNETS_DATA"] = str(tmp / "cache")
        cifar.CIFAR10 = synthetic_archive(tmp)
        before = rss_mb()
        d = cifar.load_cifar10(data_dir=tmp)
        source = "synthetic archive in the CIFAR-10 binary format (offline)"
    import gc
    gc.collect()
    return d, source, rss_mb() - before


def rate(fn, n_images: int, trials: int, device) -> float:
    out = []
    for _ in range(trials):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(n_images / (time.perf_counter() - t))
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--batches", type=int, default=40, help="batches per trial")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--device", default="auto")
    a = ap.parse_args()
    device = resolve_device(a.device)
    print(describe_machine(device))
    d, source, resident = load(a.data_dir)
    tr = d.train
    print(f"{source}: train {tuple(tr.x.shape)} {tr.x.dtype} = {tr.x.numel() / 2**20:.1f} MiB of pixels; "
          f"resident memory added by loading train + test: {resident:.0f} MiB "
          f"(peak process RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, "
          f"which includes writing the synthetic archive when there is one)")
    norm = d.normalization()
    n = a.batch_size * a.batches
    part = tr.subset(torch.arange(n))
    g = torch.Generator(device=device).manual_seed(0)
    course = AugmentConfig(width_shift_range=0.1, height_shift_range=0.1, horizontal_flip=True,
                           rotation_range=15, cutout=8)

    def loader(aug):
        bl = BatchLoader(part, a.batch_size, device=device, normalization=norm, shuffle=True, generator=g,
                         augment=Augmenter(aug) if aug else None)
        return lambda: [xb.sum() for xb, _ in bl]  # touch every batch

    torch.manual_seed(0)
    model = create("cifar_convnet").to(device)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    batches = list(BatchLoader(part, a.batch_size, device=device, normalization=norm))

    def train():
        for xb, yb in batches:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    rows = {"loader, no augmentation": rate(loader(None), n, a.trials, device),
            "loader, course augmentation": rate(loader(course), n, a.trials, device),
            "training step (cifar_convnet)": rate(train, n, a.trials, device)}
    step = rows["training step (cifar_convnet)"]
    print(f"batch {a.batch_size}, {n:,} images per trial, median of {a.trials}")
    print(f"{'':<32} {'images/s':>10} {'step / loader':>14}")
    for k, v in rows.items():
        print(f"{k:<32} {v:10.0f} {step / v:14.3f}")


if __name__ == "__main__":
    main()
