"""Training detectors through the one training loop: the batch loader, fit_detection, the run directory,
resumption, and the detection data's input checks."""
import csv
import json

import pytest
import torch

from classicnets.config import RunConfig, TrainConfig
from classicnets.data import load_dataset
from classicnets.data.augment_config import AugmentConfig
from classicnets.detection.data import DetectionDataset, DetectionSplit
from classicnets.detection.evaluate import score
from classicnets.detection.loader import DetectionLoader
from classicnets.detection.train import fit_detection
from classicnets.errors import UserError
from classicnets.runs.run import resume_run, train_run
from classicnets.zoo import create

T = torch.tensor
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def boxes():
    return load_dataset("digit_boxes", train=24, val=8, test=8, seed=1)


def quiet(_):
    pass


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


# -- the loader -------------------------------------------------------------------------------------
def test_loader_gathers_normalises_and_gives_views(boxes):
    norm = boxes.normalization()
    loader = DetectionLoader(boxes.train, 5, device=CPU, normalization=norm, masks=True)
    order = torch.randperm(24, generator=torch.Generator().manual_seed(0))
    batches = list(loader.batches(order))
    assert len(batches) == len(loader) == 5 and [len(t) for _, t in batches] == [5, 5, 5, 5, 4]
    xb, targets = batches[1]
    assert xb.dtype == torch.float32 and torch.allclose(xb, norm(boxes.train.images[order[5:10]]))
    for t, i in zip(targets, order[5:10].tolist()):
        ref = boxes.train.target(i)
        assert set(t) == {"boxes", "labels", "masks"}
        assert all(torch.equal(t[k], ref[k]) for k in t)
        assert t["boxes"].untyped_storage().data_ptr() == loader.boxes.untyped_storage().data_ptr()  # a view
    later = next(loader.batches(order, start=3))  # a resumed epoch starts at its batch
    assert torch.equal(later[0], batches[3][0]) and torch.equal(later[1][0]["labels"], batches[3][1][0]["labels"])
    no_masks = DetectionLoader(boxes.train, 5, device=CPU, normalization=norm)
    assert set(next(iter(no_masks))[1][0]) == {"boxes", "labels"}


def test_augmented_boxes_and_masks_follow_the_pixels(boxes):
    gen = torch.Generator().manual_seed(3)
    loader = DetectionLoader(boxes.train, 8, device=CPU, normalization=None, shuffle=True, generator=gen,
                             augment=AugmentConfig(translate=6, horizontal_flip=True), masks=True)
    order = loader.draw_order()
    moved = 0
    for b, (xb, targets) in enumerate(loader.batches(order)):
        for j, t in enumerate(targets):
            i = int(order[b * 8 + j])
            moved += not torch.equal(t["boxes"], boxes.train.target(i)["boxes"][:len(t["boxes"])])
            assert len(t["boxes"]) == len(t["labels"]) == len(t["masks"]) <= int(boxes.train.counts[i])
            for box, mask in zip(t["boxes"].tolist(), t["masks"]):
                x1, y1, x2, y2 = box
                assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 64
                rows_, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
                tight = [int(cols[0]), int(rows_[0]), int(cols[-1]) + 1, int(rows_[-1]) + 1]
                assert x1 <= tight[0] and y1 <= tight[1] and tight[2] <= x2 and tight[3] <= y2
                if 0 < x1 and 0 < y1 and x2 < 64 and y2 < 64:  # not cut by the image's edge: the tight box
                    assert tight == [x1, y1, x2, y2]
                assert bool((xb[j, 0][mask] >= 64).all())  # the ink moved with its mask
    assert moved > 10


def test_augmentations_the_boxes_cannot_follow_are_refused(boxes, stub):
    for option in ("rotation_range", "cutout", "width_shift_range"):
        with pytest.raises(UserError, match=f"--{option.replace('_', '-')} is not available for detection data"):
            augment = AugmentConfig(**{option: 1 if option == "cutout" else 0.1})
            fit_detection(create(stub), boxes, TrainConfig(epochs=1), augment=augment)


# -- fit_detection -----------------------------------------------------------------------------------
def test_fit_detection_lowers_each_loss_and_logs_it(boxes, stub):
    torch.manual_seed(0)
    model = create(stub, seed=0)
    h = fit_detection(model, boxes, TrainConfig(epochs=5, batch_size=8, lr=1e-2, schedule="constant"),
                      augment=AugmentConfig(translate=1)).history
    assert list(h) == ["loss", "loss_cls", "loss_box", "val_map50", "lr"]
    assert h["loss"][-1] < h["loss"][0]
    assert h["loss_cls"][-1] < h["loss_cls"][0] and h["loss_box"][-1] < 0.8 * h["loss_box"][0]
    for e in range(5):  # the loss is the sum of its parts, epoch by epoch
        assert h["loss"][e] == pytest.approx(h["loss_cls"][e] + h["loss_box"][e], rel=1e-5)
    assert all(0.0 <= v <= 1.0 for v in h["val_map50"])


def test_curves_show_each_loss_and_the_map(tmp_path):
    from classicnets.runs.plots import plot_curves

    history = {"loss": [3.0, 2.0], "loss_cls": [2.0, 1.5], "loss_box": [1.0, 0.5], "val_map50": [0.1, 0.3], "lr": [1, 1]}
    fig = plot_curves(history, tmp_path / "curves.png")
    loss, map50 = fig.axes
    assert [line.get_label() for line in loss.get_lines()] == ["training loss", "cls", "box"]
    assert [line.get_label() for line in map50.get_lines()] == ["validation mAP@0.5"]
    assert list(map50.get_lines()[0].get_ydata()) == [0.1, 0.3]


def test_monitoring_a_detector(boxes, stub):
    with pytest.raises(UserError, match="a detection run has no val_acc: it is validated by its mAP; use --monitor val_map50"):
        fit_detection(create(stub), boxes, TrainConfig(epochs=1, keep_best=True, monitor="val_acc"))
    h = fit_detection(create(stub, seed=0), boxes, TrainConfig(epochs=2, batch_size=8, keep_best=True,
                                                               monitor="val_map50")).history
    assert len(h["val_map50"]) == 2
    with pytest.raises(UserError, match="--monitor val_map50 is the mAP of a detection run"):
        from classicnets import fit
        fit(create("lenet"), load_dataset("digits"), TrainConfig(epochs=1, early_stopping=2, monitor="val_map50"))


def test_a_mask_model_needs_masks(boxes, stub):
    model = create(stub, masks=True)
    h = fit_detection(model, boxes, TrainConfig(epochs=1, batch_size=8)).history
    assert "loss_mask" in h
    no_masks = DetectionDataset("plain", boxes.classes, DetectionSplit(boxes.train.images, boxes.train.boxes,
                                                                       boxes.train.labels, boxes.train.offsets))
    with pytest.raises(UserError, match="this model learns masks, and the data set has none"):
        fit_detection(model, no_masks, TrainConfig(epochs=1))


# -- the run directory and resumption ------------------------------------------------------------------
def detection_config(model, epochs, **train):
    return RunConfig(model=model, data="digit_boxes", data_args={"train": 24, "val": 8, "test": 8, "seed": 1},
                     train=TrainConfig(epochs=epochs, batch_size=8, lr=1e-2, schedule="constant", **train))


def test_a_detection_run_directory_and_its_resumption(tmp_path, stub):
    run = tmp_path / "run"
    result = train_run(detection_config(stub, 2), out=run, log=quiet, warn=quiet)
    metrics = rows(run / "metrics.csv")
    assert len(metrics) == 2 and list(metrics[0]) == ["epoch", "loss", "loss_cls", "loss_box", "val_map50", "lr"]
    results = json.loads((run / "results.json").read_text())
    assert results["epochs"] == 2 and 0 <= results["test_map50"] <= 1 and "test_coco_map" in results
    assert set(results["test_ap50"]) <= set(map(str, range(10))) and results == result.results
    card = json.loads((run / "model.json").read_text())
    assert card["task"] == "detection" and card["classes"] == list(map(str, range(10))) and card["args"]["num_classes"] == 10
    assert json.loads((run / "config.json").read_text())["model"] == stub

    resumed = resume_run(run, epochs=3, log=quiet, warn=quiet)
    assert resumed.resumed_from == 2 and len(rows(run / "metrics.csv")) == 3
    assert json.loads((run / "config.json").read_text())["resumed"][0]["from_epoch"] == 2
    # resuming is exact: the same three epochs as one run of three
    straight = tmp_path / "straight"
    train_run(detection_config(stub, 3), out=straight, log=quiet, warn=quiet)
    assert rows(run / "metrics.csv") == rows(straight / "metrics.csv")


def test_a_stop_inside_an_epoch_resumes_the_part_losses(tmp_path, stub):
    from classicnets.train import Callback
    from classicnets.train.preemption import Preempted

    class StopAt(Callback):
        def on_batch_end(self, trainer, step, meter):
            if trainer.epoch == 1 and step == 1:
                trainer.stop_signal = 15
    run = tmp_path / "run"
    with pytest.raises(Preempted):
        train_run(detection_config(stub, 2), out=run, log=quiet, warn=quiet, callbacks=[StopAt()])
    resume_run(run, log=quiet, warn=quiet)
    straight = tmp_path / "straight"
    train_run(detection_config(stub, 2), out=straight, log=quiet, warn=quiet)
    a, b = rows(run / "metrics.csv"), rows(straight / "metrics.csv")
    assert len(a) == len(b) == 2 and list(a[1]) == list(b[1])
    for ra, rb in zip(a, b):  # the epoch cut in two sums its losses, each part too, as the whole epoch did
        assert {k: float(v) for k, v in ra.items()} == pytest.approx({k: float(v) for k, v in rb.items()}, rel=1e-6)


# -- the data's checks ----------------------------------------------------------------------------------
def split_with(boxes_, labels, offsets=None):
    images = torch.zeros(2, 1, 10, 20, dtype=torch.uint8)
    return DetectionSplit(images, T(boxes_, dtype=torch.float32).reshape(-1, 4), T(labels, dtype=torch.int64),
                          T(offsets or [0, 1, len(labels)]))


@pytest.mark.parametrize("box, message", [
    ([1., 1., 5., 5.], None),
    ([5., 1., 5., 5.], r"image 1, object 1 \(box 5, 1, 5, 5, label 0\) has an empty box: x2 must exceed x1"),
    ([1., 6., 5., 2.], r"has an empty box"),
    ([1., 1., 21., 5.], r"image 1, object 1 \(box 1, 1, 21, 5, label 0\) has a box outside its 20x10 image"),
    ([-1., 1., 5., 5.], r"outside its 20x10 image"),
    ([1., float("nan"), 5., 5.], r"image 1, object 1 \(box 1, nan, 5, 5, label 0\) has a box with a NaN or infinite"),
])
def test_bad_boxes_are_one_sentence_naming_image_and_object(box, message):
    if message is None:
        split_with([[0., 0., 20., 10.], box], [3, 0])
        return
    with pytest.raises(UserError, match=message):
        split_with([[0., 0., 20., 10.], box], [3, 0])


def test_labels_must_be_classes_and_training_needs_objects():
    good = split_with([[0., 0., 2., 2.], [1., 1., 3., 3.]], [3, 1])
    with pytest.raises(UserError, match=r"image 0 of the train split, object 1 \(box 0, 0, 2, 2, label 3\) has a "
                                        r"label outside the 3 classes \(labels are 0..2\)"):
        DetectionDataset("d", ["a", "b", "c"], good)
    with pytest.raises(UserError, match="has a negative label"):
        split_with([[0., 0., 2., 2.], [1., 1., 3., 3.]], [-1, 1])
    empty = split_with([], [], [0, 0, 0])
    with pytest.raises(UserError, match="the train split of 'd' has no objects at all"):
        DetectionDataset("d", ["a"], empty)
    DetectionDataset("d", ["a", "b"], good.subset([1]), test=empty)  # a test split may have none


def test_images_without_objects_train_the_background(tmp_path, stub, monkeypatch):
    from classicnets.data import registry

    base = load_dataset("digit_boxes", train=12, val=4, test=4, seed=2)
    keep = torch.ones(len(base.train.boxes), dtype=torch.bool)
    keep[int(base.train.offsets[0]):int(base.train.offsets[2])] = False  # images 0 and 1 lose their objects
    counts = base.train.counts.clone()
    counts[:2] = 0
    t = base.train
    train = DetectionSplit(t.images, t.boxes[keep], t.labels[keep], torch.cat([T([0]), counts.cumsum(0)]), t.masks[keep])
    data = DetectionDataset("holes", base.classes, train, base.val, base.test)
    info = registry.DatasetInfo("holes", lambda: data, "test", 10, (1, 64, 64), "", "", "")
    monkeypatch.setitem(registry._DATASETS, "holes", info)
    notes = []
    cfg = RunConfig(model=stub, data="holes", train=TrainConfig(epochs=1, batch_size=4))
    train_run(cfg, out=tmp_path / "run", log=quiet, warn=notes.append)
    assert notes == ["2 of the 12 training images have no objects; they teach the background only"]
    # in evaluation, a detection on an image without objects is a false positive
    gt = DetectionSplit(torch.zeros(2, 1, 16, 16, dtype=torch.uint8), T([[0., 0., 10., 10.]]), T([0]), T([0, 1, 1]))
    hit = {"boxes": T([[0., 0., 10., 10.]]), "labels": T([0]), "scores": T([0.5])}
    none = {"boxes": torch.zeros(0, 4), "labels": T([], dtype=torch.int64), "scores": torch.zeros(0)}
    stray = {"boxes": T([[2., 2., 8., 8.]]), "labels": T([0]), "scores": T([0.9])}
    assert score([hit, none], gt, ["0"]).map50 == 1.0 and score([hit, stray], gt, ["0"]).map50 == 0.5


def test_difficult_objects_are_neither_found_nor_missed():
    images = torch.zeros(1, 1, 32, 32, dtype=torch.uint8)
    split = DetectionSplit(images, T([[0., 0., 10., 10.], [20., 20., 30., 30.]]), T([0, 0]), T([0, 2]),
                           difficult=T([False, True]))
    found_easy = [{"boxes": T([[0., 0., 10., 10.]]), "labels": T([0]), "scores": T([0.9])}]
    found_both = [{"boxes": T([[20., 20., 30., 30.], [0., 0., 10., 10.]]), "labels": T([0, 0]), "scores": T([0.95, 0.9])}]
    assert score(found_easy, split, ["a"]).map50 == 1.0
    assert score(found_both, split, ["a"]).map50 == 1.0  # the difficult find is no false positive
    plain = DetectionSplit(images, split.boxes, split.labels, split.offsets)
    assert score(found_easy, plain, ["a"]).map50 == 0.5
    assert score(found_easy, split, ["a"]).objects == {"a": 1}


def test_mask_ap_is_scored_where_the_detections_have_masks():
    masks = torch.zeros(1, 16, 16, dtype=torch.bool)
    masks[0, 2:10, 2:6] = True
    split = DetectionSplit(torch.zeros(1, 1, 16, 16, dtype=torch.uint8), T([[2., 2., 6., 10.]]), T([0]), T([0, 1]), masks)
    right = [{"boxes": T([[2., 2., 6., 10.]]), "labels": T([0]), "scores": T([0.9]), "masks": masks}]
    wrong = [{**right[0], "masks": ~masks}]  # the box is right, the mask is not
    assert score(right, split, ["a"]).extra == {"mask_map50": 1.0}
    assert score(wrong, split, ["a"]).extra == {"mask_map50": 0.0} and score(wrong, split, ["a"]).map50 == 1.0
    assert score(right, split, ["a"], boxes_only=True).extra == {}
