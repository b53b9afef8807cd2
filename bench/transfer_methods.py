"""Transfer learning, method 1 against method 2 on the course's cats-vs-dogs shapes (ConvNets part 1):
MobileNet-1.0 at 160x160, the course's head (Flatten, Dense 256, Dropout 0.5, Dense 1), frozen base.

- method 1: the base runs once over the images (extraction, timed), then each epoch trains the head
  on the cached (1024, 5, 5) features;
- method 2: each epoch runs the frozen base inside the model, on augmented images (shifts, flips).

Prints seconds per epoch for each, their ratio, and the course's 100 epochs for each (method 1
including its one extraction). Images are random uint8 of the real shape (the real archive needs the
network); the cost does not depend on their content.

    python bench/transfer_methods.py [--images 256] [--epochs 2]
"""
from __future__ import annotations

import argparse
import time

import torch

import classicnets as cn
from classicnets.data import AugmentConfig
from classicnets.data.core import Normalization
from classicnets.train import TrainConfig
from classicnets.train.engine import describe_machine, fit, resolve_device
from classicnets.transfer.features import base_features
from classicnets.transfer.heads import freeze, with_head

HEAD = "flatten,dense:256,dropout:0.5,dense"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args()
    device = resolve_device("auto")
    print(describe_machine(device))
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (a.images, 3, 160, 160), generator=g, dtype=torch.uint8)
    y = torch.arange(a.images) % 2
    norm = Normalization(255.0, [0.5] * 3, [0.5] * 3)  # MobileNet's x/127.5 - 1
    cfg = TrainConfig(epochs=a.epochs, batch_size=32, optimizer="rmsprop", lr=1e-3, schedule="constant")

    model = freeze(with_head(cn.create("mobilenet", seed=0), HEAD, 1, (3, 160, 160)), "base").to(device)
    t0 = time.perf_counter()
    feats = base_features(model.base, cn.data.Split(x, y), norm, device)
    extract_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit(model.head, (feats, y.float()), cfg, normalization=Normalization.identity(feats.shape[1]), task="binary")
    m1 = (time.perf_counter() - t0) / a.epochs

    model2 = freeze(with_head(cn.create("mobilenet", seed=0), HEAD, 1, (3, 160, 160)), "base")
    t0 = time.perf_counter()
    fit(model2, (x, y.float()), cfg, normalization=norm, task="binary",
        augment=AugmentConfig(horizontal_flip=True, width_shift_range=0.2, height_shift_range=0.2))
    m2 = (time.perf_counter() - t0) / a.epochs
    print(f"{a.images} images of 3x160x160, batch 32, {a.epochs} timed epochs each")
    print(f"method 1: extraction {extract_s:.2f} s once, then {m1:.3f} s per epoch (head on (1024, 5, 5) features)")
    print(f"method 2: {m2:.2f} s per epoch (frozen base inside the model, augmented images)")
    print(f"per epoch, method 2 / method 1 = {m2 / m1:.0f}x")
    print(f"the course's 100 epochs: method 1 {extract_s + 100 * m1:.1f} s, method 2 {100 * m2:.1f} s "
          f"({100 * m2 / (extract_s + 100 * m1):.0f}x)")


if __name__ == "__main__":
    main()
