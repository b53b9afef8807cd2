"""Speed-up of one fully convolutional pass over evaluating the original network on every crop.

The course: forwarding the converted VGG16 once on a 384x384 image gives the 6x6 map of scores
that the original network gives on the 36 224x224 crops at stride 32, "much more efficiently ...
since the 36 evaluations share computation". This measures it: the 36 crops as one batch through
the original model, against one pass of the converted model; median of `--trials` alternating runs.

    python bench/fcn_speedup.py                  # VGG16, 224 -> 384 (about a minute on 2 CPU cores)
    python bench/fcn_speedup.py --width 0.25     # a narrower VGG16 for a quick look
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

import classicnets
from classicnets.inspect import to_fully_convolutional
from classicnets.train.engine import resolve_device
from classicnets.zoo import create


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vgg16")
    ap.add_argument("--native", type=int, default=224, help="input size the model was built for")
    ap.add_argument("--size", type=int, default=384, help="large input size")
    ap.add_argument("--stride", type=int, default=32, help="the model's total stride")
    ap.add_argument("--width", type=float, default=1.0, help="VGG width multiplier")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--device", default="auto")
    a = ap.parse_args()

    device = resolve_device(a.device)
    torch.manual_seed(0)
    kwargs = {"width": a.width} if a.width != 1.0 else {}
    model = create(a.model, input_size=a.native, **kwargs).to(device).eval()
    fcn = to_fully_convolutional(model, (3, a.native, a.native)).eval()
    x = torch.randn(1, 3, a.size, a.size, device=device)
    n = (a.size - a.native) // a.stride + 1
    crops = torch.cat([x[:, :, i * a.stride:i * a.stride + a.native, j * a.stride:j * a.stride + a.native]
                       for i in range(n) for j in range(n)])

    def timed(fn) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.inference_mode():
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    timed(lambda: fcn(x)), timed(lambda: model(crops[:2]))  # warm-up
    t_crops, t_fcn = [], []
    for _ in range(a.trials):
        t_crops.append(timed(lambda: model(crops)))
        t_fcn.append(timed(lambda: fcn(x)))
    dev = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# fcn_speedup: {a.model} (width {a.width}) built for {a.native}x{a.native}, applied to "
          f"{a.size}x{a.size}: {n}x{n} = {n * n} crops at stride {a.stride}; {a.trials} trials, alternating")
    print(f"# device {device} ({dev}), {torch.get_num_threads()} threads; torch {torch.__version__}, "
          f"classicnets {classicnets.__version__}")
    print(f"original on {n * n} crops (one batch): median {statistics.median(t_crops):.3f} s")
    print(f"converted, one pass                : median {statistics.median(t_fcn):.3f} s")
    print(f"speed-up: {statistics.median(t_crops) / statistics.median(t_fcn):.1f}x")


if __name__ == "__main__":
    main()
