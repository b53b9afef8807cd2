"""VOC and COCO mAP: hand-computed cases, and COCO against pycocotools' COCOeval on the same detections."""
import contextlib
import io
import math

import numpy as np
import pytest
import torch

from classicnets.detection.metrics import coco_map, voc_map
from classicnets.errors import UserError

T = torch.tensor


def dets(boxes, scores, labels):
    return {"boxes": T(boxes, dtype=torch.float32).reshape(-1, 4), "scores": T(scores, dtype=torch.float32),
            "labels": T(labels, dtype=torch.int64)}


def gts(boxes, labels, **flags):
    return {"boxes": T(boxes, dtype=torch.float32).reshape(-1, 4), "labels": T(labels, dtype=torch.int64),
            **{k: T(v, dtype=torch.bool) for k, v in flags.items()}}


def test_voc_map_hand_computed():
    targets = [gts([[0, 0, 10, 10], [0, 0, 10, 10], [40, 40, 50, 50]], [0, 1, 2], difficult=[0, 0, 1]),
               gts([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0], difficult=[0, 1])]
    detections = [dets([[0, 0, 10, 10], [1, 1, 10, 10], [40, 40, 50, 50]], [0.9, 0.8, 0.3], [0, 0, 2]),
                  dets([[20, 20, 30, 30], [50, 50, 60, 60], [0, 0, 10, 9], [0, 0, 5, 5]], [0.7, 0.6, 0.5, 0.4],
                       [0, 0, 0, 3])]
    # class 0 in score order: TP; FP (IoU 0.81 with a box already found); neither (the difficult box);
    # FP (no overlap); TP (IoU 0.9). Recall 0.5 at precision 1, then recall 1 at precision 2/4:
    # AP = 0.5 * 1 + 0.5 * 0.5 = 0.75. Class 1 has a box and no detection: AP 0. Class 2 has only a
    # difficult box and class 3 no box: neither counts.
    r = voc_map(detections, targets)
    assert r.per_class == pytest.approx({0: 0.75, 1: 0.0})
    assert r.map == pytest.approx(0.375)
    # the match must be above the threshold: IoU exactly 0.5 (50 / 100) is a false positive
    half = voc_map([dets([[0, 0, 10, 5]], [1.0], [0])], [gts([[0, 0, 10, 10]], [0])])
    assert half.map == 0.0 and voc_map([dets([[0, 0, 10, 5]], [1.0], [0])], [gts([[0, 0, 10, 10]], [0])],
                                       iou_threshold=0.49).map == 1.0
    assert math.isnan(voc_map([dets([], [], [])], [gts([], [])]).map)


def test_voc_map_agrees_with_the_devkits_pixel_counting():
    # py-faster-rcnn's voc_eval on 1-based inclusive boxes (x1, y1, x2, y2) = (1, 1, 10, 10) and
    # (3, 1, 12, 10): widths 10 with +1, overlap 8 x 10 = 80, IoU 80 / 120 = 0.667. The same boxes as
    # continuous coordinates (x - 1 for the starts) give the same IoU, so the same AP; at a threshold of
    # 0.66 the detection is a hit, at 0.67 a miss.
    gt = gts([[0, 0, 10, 10]], [0])
    det = dets([[2, 0, 12, 10]], [1.0], [0])
    assert voc_map([det], [gt], 0.66).map == 1.0 and voc_map([det], [gt], 0.67).map == 0.0


def test_coco_map_hand_computed():
    # one box; a detection of IoU 0.78 (scored 0.9) and an exact one (0.5). At IoU thresholds
    # 0.50-0.75 the first is a hit and the second a duplicate: AP 1. At 0.80-0.95 the first misses and
    # the second hits: precision 1/2 at recall 1, AP 0.5. Mean (6 * 1 + 4 * 0.5) / 10 = 0.8.
    target = gts([[0, 0, 10, 10]], [0])
    detection = dets([[0, 0, 10, 7.8], [0, 0, 10, 10]], [0.9, 0.5], [0, 0])
    r = coco_map([detection], [target])
    assert (r.map, r.map50, r.map75) == pytest.approx((0.8, 1.0, 1.0))
    # a detection inside a crowd region counts as neither, whatever its score (its overlap is
    # measured against its own area); without the crowd flag it is a false positive ranked first
    crowded = gts([[0, 0, 10, 10], [50, 50, 100, 100]], [0, 0], iscrowd=[0, 1])
    with_crowd = dets([[60, 60, 70, 70], [0, 0, 10, 7.8], [0, 0, 10, 10]], [0.95, 0.9, 0.5], [0, 0, 0])
    assert coco_map([with_crowd], [crowded]).map == pytest.approx(0.8)
    plain = gts([[0, 0, 10, 10]], [0])
    # rank 1 is a miss at every threshold: precision 1/2 at the first hit, AP 0.5 at 0.50-0.75;
    # 0.80-0.95: hits at rank 3 only, precision 1/3
    assert coco_map([with_crowd], [plain]).map == pytest.approx((6 * 0.5 + 4 / 3) / 10)
    # at most max_dets detections per image and class, the best scored
    assert coco_map([with_crowd], [plain], max_dets=1).map == 0.0


def test_coco_matching_rules():
    # IoU equal to the threshold matches (COCOeval's >=; VOC's is >): 0.5 exactly at 0.50 only
    r = coco_map([dets([[0, 0, 10, 5]], [1.0], [0])], [gts([[0, 0, 10, 10]], [0])])
    assert (r.map, r.map50, r.map75) == pytest.approx((0.1, 1.0, 0.0))
    # an ordinary box wins over a crowd region the detection overlaps as much (both IoU 1 here)
    both = gts([[0, 0, 10, 10], [0, 0, 100, 100]], [0, 0], iscrowd=[0, 1])
    assert coco_map([dets([[0, 0, 10, 10]], [1.0], [0])], [both]).map == pytest.approx(1.0)
    # equal IoU with two boxes (80 / 130 each): COCOeval takes the later one, which leaves the earlier
    # for the next detection. At 0.50-0.60 both hit: AP 1. At 0.65-0.95 only the second (IoU 1) hits,
    # at rank 2: precision 1/2 up to recall 1/2, i.e. at 51 of the 101 recall points.
    pair = gts([[0, 0, 10, 10], [5, 0, 15, 10]], [0, 0])
    tie = dets([[2, 0, 13, 10], [0, 0, 10, 10]], [0.9, 0.8], [0, 0])
    assert coco_map([tie], [pair]).map == pytest.approx((3 * 1 + 7 * 0.5 * 51 / 101) / 10)


def test_bad_inputs_are_one_sentence():
    with pytest.raises(UserError, match="one entry per image; got 1 and 2"):
        voc_map([dets([], [], [])], [gts([], []), gts([], [])])
    with pytest.raises(UserError, match="detections of image 0 has no 'scores'"):
        coco_map([{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0)}], [gts([], [])])
    with pytest.raises(UserError, match="NaN or infinite coordinate"):
        coco_map([dets([[0, 0, math.nan, 1]], [1.0], [0])], [gts([], [])])


# -- pycocotools ----------------------------------------------------------------------------------
def pycocotools_stats(detections, targets, n_classes):
    """COCOeval's stats for the same detections, with image ids 1.. in list order and category ids label + 1."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    anns = []
    for i, t in enumerate(targets):
        for b, lab, crowd in zip(t["boxes"].tolist(), t["labels"].tolist(), t["iscrowd"].tolist()):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": lab + 1, "bbox": [b[0], b[1], w, h],
                         "area": w * h, "iscrowd": int(crowd)})
    gt = COCO()
    gt.dataset = {"images": [{"id": i + 1, "width": 400, "height": 400} for i in range(len(targets))],
                  "annotations": anns, "categories": [{"id": c + 1, "name": str(c)} for c in range(n_classes)]}
    results = [{"image_id": i + 1, "category_id": lab + 1, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": s}
               for i, d in enumerate(detections)
               for b, s, lab in zip(d["boxes"].tolist(), d["scores"].tolist(), d["labels"].tolist())]
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def random_detections(rng, n_images, n_classes):
    """Ground truth with crowd boxes and empty images; detections: jittered copies (some badly,
    some relabelled, some duplicated), random boxes, and scores with ties."""
    detections, targets = [], []
    for _ in range(n_images):
        g = int(rng.integers(0, 5))
        xy = rng.uniform(0, 250, (g, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(4, 90, (g, 2))], 1)
        labels = rng.integers(0, n_classes, g)
        targets.append({"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels),
                        "iscrowd": torch.from_numpy(rng.random(g) < 0.15)})
        copies = rng.integers(0, 4, g)
        d_boxes = [boxes[j] + rng.normal(0, rng.choice([1.0, 6.0]), 4) for j in range(g) for _ in range(copies[j])]
        d_labels = [labels[j] if rng.random() < 0.9 else rng.integers(n_classes) for j in range(g) for _ in range(copies[j])]
        for _ in range(int(rng.integers(0, 4))):
            x, y = rng.uniform(0, 250, 2)
            d_boxes.append(np.array([x, y, x + rng.uniform(4, 90), y + rng.uniform(4, 90)]))
            d_labels.append(rng.integers(n_classes))
        d = np.array(d_boxes).reshape(-1, 4)
        d[:, 2:] = np.maximum(d[:, 2:], d[:, :2] + 1)
        detections.append({"boxes": torch.from_numpy(d), "scores": torch.from_numpy(rng.random(len(d)).round(2)),
                           "labels": torch.tensor(np.array(d_labels, dtype=np.int64))})
    return detections, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coco_map_matches_pycocotools(seed):
    pytest.importorskip("pycocotools")
    detections, targets = random_detections(np.random.default_rng(seed), 25, 4)
    stats = pycocotools_stats(detections, targets, 4)
    r = coco_map(detections, targets)
    assert (r.map, r.map50, r.map75) == pytest.approx(tuple(stats[:3]), abs=1e-4)
    assert r.map > 0.1  # the jittered copies make a real test, not a comparison of zeros


def test_coco_map_matches_pycocotools_past_max_dets():
    pytest.importorskip("pycocotools")
    rng = np.random.default_rng(5)
    detections, targets = random_detections(rng, 3, 1)
    for d in detections:  # 110 more detections per image, scored above half the others: past the best 100
        xy = torch.from_numpy(rng.uniform(0, 250, (110, 2)))
        d["boxes"] = torch.cat([d["boxes"], torch.cat([xy, xy + 40], 1)])
        d["scores"][1::2] = 0.01
        d["scores"] = torch.cat([d["scores"], torch.from_numpy(rng.uniform(0.05, 1, 110))])
        d["labels"] = torch.cat([d["labels"], torch.zeros(110, dtype=torch.int64)])
    stats = pycocotools_stats(detections, targets, 1)
    r = coco_map(detections, targets)
    assert r.map != coco_map(detections, targets, max_dets=200).map  # the cap changes the result
    assert (r.map, r.map50, r.map75) == pytest.approx(tuple(stats[:3]), abs=1e-4)
