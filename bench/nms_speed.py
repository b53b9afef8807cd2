"""How much does vectorising non-maximum suppression buy? `classicnets.detection.ops.nms` on 10,000
boxes against two Python loops doing the same greedy algorithm:
- "Python loop, tensor rows": Fast R-CNN's py_cpu_nms in torch: one Python step per kept box, its
  IoU with the remaining boxes computed as a tensor operation;
- "Python loop, scalars": one Python step per pair of boxes, plain floats (run on --python-boxes
  boxes and reported per 10,000 boxes as measured, not extrapolated: it is run once).
All three must keep exactly the same boxes; the script checks that before timing.

Boxes: uniform positions in a 1000 x 1000 image, sides 10-110 pixels, uniform scores; IoU
threshold 0.5 (most boxes survive: the case where greedy NMS does the most work). Prints the
machine, then the median and spread of --runs runs of each method and the ratio to `nms`.

    python bench/nms_speed.py                   # CPU
    python bench/nms_speed.py --device cuda
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from classicnets.detection.ops import nms
from classicnets.train.engine import describe_machine, resolve_device


def boxes_and_scores(n: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 1000
    boxes = torch.cat([xy, xy + 10 + torch.rand(n, 2, generator=g) * 100], 1)
    return boxes.to(device), torch.rand(n, generator=g).to(device)


def loop_rows(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """py_cpu_nms (Fast R-CNN, lib/nms/py_cpu_nms.py) in torch: the kept box against the rest."""
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    order = torch.sort(scores, descending=True, stable=True).indices
    keep = []
    while order.numel():
        i, rest = order[0], order[1:]
        keep.append(i)
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter) <= threshold]
    return torch.stack(keep) if keep else order


def loop_scalars(boxes: list[list[float]], scores: list[float], threshold: float) -> list[int]:
    """The textbook double loop over Python floats."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    area = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    dropped = [False] * len(boxes)
    keep = []
    for n, i in enumerate(order):
        if dropped[i]:
            continue
        keep.append(i)
        bi = boxes[i]
        for j in order[n + 1:]:
            if dropped[j]:
                continue
            bj = boxes[j]
            w = min(bi[2], bj[2]) - max(bi[0], bj[0])
            h = min(bi[3], bj[3]) - max(bi[1], bj[1])
            if w > 0 and h > 0 and w * h / (area[i] + area[j] - w * h) > threshold:
                dropped[j] = True
    return keep


def timed(fn, runs: int, device: torch.device) -> list[float]:
    out = []
    for _ in range(runs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--boxes", type=int, default=10_000)
    ap.add_argument("--python-boxes", type=int, default=10_000, help="boxes for the scalar Python loop")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--device", default="auto")
    a = ap.parse_args()
    device = resolve_device(a.device)
    print(describe_machine(device))
    boxes, scores = boxes_and_scores(a.boxes, device)
    kept = nms(boxes, scores, a.threshold)
    assert torch.equal(kept, loop_rows(boxes, scores, a.threshold)), "the tensor-row loop keeps other boxes"
    small_b, small_s = boxes[:a.python_boxes].cpu(), scores[:a.python_boxes].cpu()
    t = time.perf_counter()
    scalar_keep = loop_scalars(small_b.tolist(), small_s.tolist(), a.threshold)
    scalar_time = time.perf_counter() - t
    assert scalar_keep == nms(small_b, small_s, a.threshold).tolist(), "the scalar loop keeps other boxes"
    print(f"{a.boxes:,} boxes, IoU threshold {a.threshold}: {len(kept):,} kept; median (min-max) of {a.runs} runs")
    rows = {"classicnets nms (vectorised)": timed(lambda: nms(boxes, scores, a.threshold), a.runs, device),
            "Python loop, tensor rows": timed(lambda: loop_rows(boxes, scores, a.threshold), a.runs, device)}
    base = statistics.median(rows["classicnets nms (vectorised)"])
    print(f"{'':<34} {'seconds':>22} {'x nms':>8}")
    for name, ts in rows.items():
        m = statistics.median(ts)
        print(f"{name:<34} {m:>9.3f} ({min(ts):.3f}-{max(ts):.3f}) {m / base:>8.1f}")
    label = f"Python loop, scalars ({a.python_boxes:,} boxes, 1 run)"
    cpu_base = statistics.median(timed(lambda: nms(small_b, small_s, a.threshold), a.runs, torch.device("cpu")))
    print(f"{label:<34} {scalar_time:>22.3f} {scalar_time / cpu_base:>8.1f}  (against nms on the same boxes, CPU)")


if __name__ == "__main__":
    main()
