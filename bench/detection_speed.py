"""The course's point about the R-CNN line, timed: R-CNN : Fast R-CNN : Faster R-CNN inference per image.

"R-CNN ... requires a forward pass of the CNN for every single region proposal for every single
image"; Fast R-CNN shares one pass of the network over the image and pools each region from its
feature map; Faster R-CNN replaces selective search, "the bottleneck of the overall process", by a
region proposal network on the same features (the course, Large ConvNets, lines 271-302).

Each model at its registered defaults (sized for `digit_boxes`), on the same test images, one image
at a time as a detector serves requests, after a warm-up image; what is timed is everything from the
normalised image to the final detections:
- `rcnn`: selective search, then every proposal warped and passed through the CNN on its own (in
  chunks), per-class scores, box regression, NMS;
- `fast_rcnn`: selective search, one backbone pass, RoI pooling, the heads, NMS;
- `faster_rcnn` / `mask_rcnn`: one backbone pass, the RPN's proposals, RoI Align, the heads (masks).
Selective search's share is reported apart (R-CNN's and Fast R-CNN's proposals are the same ones),
and so is one training step (batch of 4, proposals precomputed as the training engine caches them,
forward + backward + AdamW). The ratio is printed against Faster R-CNN.

The models are untrained: speed depends on the proposals (the same selective search for R-CNN and
Fast R-CNN) and on the layers, not on the weights, except that an untrained detector keeps up to its
limit of detections per image through NMS (trained ones keep fewer), which weighs on every model alike.

    python bench/detection_speed.py                  # 50 test images, one thread
    python bench/detection_speed.py --images 100 --threads 2 --out speed.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from classicnets.detection.data import load_digit_boxes
from classicnets.detection.ops import box_iou
from classicnets.detection.proposals import ProposalCache, proposals_for
from classicnets.train.engine import describe_machine
from classicnets.zoo import create, parameter_count

MODELS = ("rcnn", "fast_rcnn", "faster_rcnn", "mask_rcnn")


@torch.no_grad()
def per_image(model, images: torch.Tensor, targets: list[dict] | None) -> list[float]:
    """Seconds for each image, alone (targets carry precomputed proposals, or None: the model finds them)."""
    model.eval()
    model(images[:1], targets[:1] if targets else None)  # warm-up
    if hasattr(model, "proposal_cache"):  # R-CNN keeps what it searched: start empty so the search is timed
        model.proposal_cache = ProposalCache()
    times = []
    for i in range(len(images)):
        t0 = time.perf_counter()
        model(images[i:i + 1], targets[i:i + 1] if targets else None)
        times.append(time.perf_counter() - t0)
    return times


def train_step(model, images: torch.Tensor, targets: list[dict], steps: int) -> float:
    """Median seconds of one optimizer step on a batch of 4 (after two warm-up steps)."""
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    times = []
    for s in range(steps + 2):
        i = (4 * s) % (len(images) - 3)
        t0 = time.perf_counter()
        loss = sum(model(images[i:i + 4], targets[i:i + 4]).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if s >= 2:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=50, help="test images timed, one at a time")
    ap.add_argument("--steps", type=int, default=10, help="training steps timed per model")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's choice)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    data = load_digit_boxes(train=64, val=0, test=a.images)
    norm = data.normalization()
    x = norm(data.test.images)
    xt = norm(data.train.images)
    train_targets = data.train.targets
    print(describe_machine(torch.device("cpu")) + f", {torch.get_num_threads()} thread(s); load average "
          "%.1f %.1f %.1f" % os.getloadavg())
    t0 = time.perf_counter()
    search = proposals_for(data.test, cache=ProposalCache())  # the selective search R-CNN and Fast R-CNN run
    search_s = (time.perf_counter() - t0) / a.images
    regions = statistics.mean(len(p) for p in search)
    best = torch.cat([box_iou(t["boxes"], p).amax(1) for t, p in zip(data.test.targets, search)])  # per object
    recall = float((best >= 0.5).float().mean())
    train_props = proposals_for(data.train, cache=ProposalCache())
    print(f"digit_boxes, {a.images} test images (64x64), one at a time; selective search {1000 * search_s:.1f} ms "
          f"per image, {regions:.0f} proposals per image, recall of the {len(best)} objects at IoU 0.5: {recall:.3f}")
    rows = {}
    for name in a.models.split(","):
        model = create(name, seed=0)
        times = per_image(model, x, None)
        targets = [{**t, "proposals": p} for t, p in zip(train_targets, train_props)] if model.needs_proposals \
            else train_targets
        if not model.has_masks:
            targets = [{k: v for k, v in t.items() if k != "masks"} for t in targets]
        step = train_step(model, xt, targets, a.steps)
        rows[name] = {"parameters": parameter_count(name), "ms_per_image": 1000 * statistics.median(times),
                      "ms_per_image_mean": 1000 * statistics.mean(times), "train_step_ms": 1000 * step}
        if model.needs_proposals:
            rows[name]["selective_search_ms"] = 1000 * search_s
        print(f"{name:<12} {rows[name]['ms_per_image']:8.1f} ms/image (median; mean "
              f"{rows[name]['ms_per_image_mean']:.1f})   training step (4 images) {1000 * step:7.1f} ms   "
              f"{rows[name]['parameters']:,} parameters", flush=True)
    if {"rcnn", "fast_rcnn", "faster_rcnn"} <= rows.keys():
        base = rows["faster_rcnn"]["ms_per_image"]
        ratio = [rows[m]["ms_per_image"] / base for m in ("rcnn", "fast_rcnn", "faster_rcnn")]
        print(f"inference time R-CNN : Fast R-CNN : Faster R-CNN = {ratio[0]:.1f} : {ratio[1]:.1f} : 1 "
              f"(selective search alone: {1000 * search_s / base:.1f})")
        rows["ratio_rcnn_fast_faster"] = ratio
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"machine": describe_machine(torch.device("cpu")), "threads": torch.get_num_threads(),
                       "load_average": os.getloadavg(), "images": a.images, "selective_search_ms": 1000 * search_s,
                       "proposals_per_image": regions, "recall50": recall, "models": rows}, f, indent=1)


if __name__ == "__main__":
    main()
