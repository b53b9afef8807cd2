"""Detection through the command line: train, evaluate (the AP table), predict (a picture with the boxes
drawn), and every mistake as one line with status 2."""
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from classicnets.cli import run_cli
from classicnets.data import load_dataset

SMALL = ["--data", "digit_boxes", "--data-arg", "train=24", "--data-arg", "val=8", "--data-arg", "test=8",
         "--data-arg", "seed=1", "--batch-size", "8", "--lr", "0.01", "--schedule", "constant"]


@pytest.fixture(scope="module")
def det_run(stub, tmp_path_factory):
    run = tmp_path_factory.mktemp("det") / "run"
    assert run_cli(["train", "--model", stub, *SMALL, "--epochs", "2", "--out", str(run), "-q"]) == 0
    return run


@pytest.fixture(scope="module")
def test_image(tmp_path_factory):
    """A digit_boxes test canvas, enlarged to 128x128: predict draws in the image's own pixels."""
    data = load_dataset("digit_boxes", train=1, val=0, test=1, seed=1)
    path = tmp_path_factory.mktemp("img") / "canvas.png"
    Image.fromarray(data.test.images[0, 0].numpy()).resize((128, 128), Image.Resampling.NEAREST).save(path)
    return path


def test_training_shows_the_map_and_records_each_loss(cli, stub, tmp_path):
    code, out, err = cli("train", "--model", stub, *SMALL, "--epochs", "1", "--progress", "plain", "--out", tmp_path / "r")
    assert code == 0, err
    assert re.search(r"Epoch 1/1 - [\d.]+s - loss: [\d.]+ - val_map50: [\d.]+", out), out
    assert re.search(r"Test: mAP@0.5 [\d.]+ - COCO mAP@\[\.5:\.95\] [\d.]+ \(8 images\)", out), out
    header = (tmp_path / "r" / "metrics.csv").read_text().splitlines()[0]
    assert header == "epoch,loss,loss_cls,loss_box,val_map50,lr"
    code, out, err = cli("train", "--resume", tmp_path / "r", "--epochs", "2", "--progress", "plain")
    assert code == 0, err
    assert "Epoch 2/2" in out and "Epoch 1/2" not in out
    assert len((tmp_path / "r" / "metrics.csv").read_text().splitlines()) == 3
    assert json.loads((tmp_path / "r" / "results.json").read_text())["epochs"] == 2


def test_evaluate_prints_the_ap_table(cli, det_run):
    code, out, err = cli("evaluate", det_run)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["class", "objects", "AP@0.5"]
    table = {line.split()[0]: line.split()[1:] for line in lines[1:11]}
    assert sorted(table) == [str(d) for d in range(10)]
    results = json.loads((det_run / "results.json").read_text())
    counted = {c: int(n) for c, (n, _) in table.items()}
    assert sum(counted.values()) > 8 and set(results["test_ap50"]) == {c for c, n in counted.items() if n}
    for c, (_, ap) in table.items():
        assert ap == ("none" if not counted[c] else f"{results['test_ap50'][c]:.4f}")
    assert re.search(r"^test: mAP@0.5 [\d.]+ \(VOC, all-point\) - COCO mAP@\[\.5:\.95\] [\d.]+ .*\(8 images, 8 detections\)$",
                     out, re.M), out
    code, out, _ = cli("evaluate", det_run, "--split", "val")
    assert code == 0 and "val: mAP@0.5" in out
    results = json.loads((det_run / "results.json").read_text())
    assert "val_map50" in results and "test_map50" in results and "val_coco_map" in results


def test_predict_draws_the_boxes_onto_the_image(cli, det_run, test_image, tmp_path):
    out_png = tmp_path / "drawn.png"
    code, out, err = cli("predict", det_run, test_image, "--score-threshold", "0", "--out", out_png)
    assert code == 0, err
    first, detection = out.splitlines()[:2]
    assert first == f"{test_image}: 1 detection with score >= 0 -> {out_png}"
    x1, y1, x2, y2 = map(float, re.search(r"box ([\d.]+), ([\d.]+), ([\d.]+), ([\d.]+)$", detection).groups())
    before = np.asarray(Image.open(test_image).convert("RGB")).astype(int).repeat(2, 0).repeat(2, 1)
    after = np.asarray(Image.open(out_png))
    assert after.shape == (256, 256, 3)  # the image's own 128 pixels, not the model's 64, each drawn as 2x2
    changed = (after != before).any(2)
    assert x2 > x1 and y2 > y1  # printed in the image's own pixels
    left, mid = min(round(2 * x1), 255), min(int(y1 + y2), 255)
    assert changed[mid, left], "the box's left edge is drawn"
    assert changed.mean() < 0.5
    code, out, _ = cli("predict", det_run, test_image, "--score-threshold", "1")
    assert code == 0 and "0 detections with score >= 1" in out
    assert (test_image.parent / "canvas-detections.png").is_file()  # the default: beside the image


def test_draw_tints_masks_and_outlines_boxes():
    from classicnets.detection.draw import MASK_OPACITY, colour, draw_detections

    image = np.full((40, 60), 100, np.uint8)
    mask = np.zeros((1, 40, 60), np.float32)
    mask[0, 20:30, 30:50] = 0.9
    img = np.asarray(draw_detections(image, [[10, 15, 55, 38]], [2], [0.75], ["a", "b", "c"], masks=mask, min_side=40))
    assert img.shape == (40, 60, 3)
    expect = np.round(100 * (1 - MASK_OPACITY) + np.array(colour(2)) * MASK_OPACITY)
    assert (img[25, 40] == expect).all()                           # inside the mask
    assert (img[25, 10] == colour(2)).all() and (img[37, 30] == colour(2)).all()  # the box's left and bottom edges
    assert (img[2, 2] == 100).all() and (img[20, 20] == 100).all()  # outside box, label and mask
    big = np.asarray(draw_detections(image, [[10, 15, 55, 38]], [2], [0.75], ["a", "b", "c"], masks=mask))
    assert big.shape == (280, 420, 3) and (big[175, 280] == expect).all()  # x7: the shorter side reaches 256


def test_a_mask_model_through_the_command_line(cli, stub, test_image, tmp_path):
    run = tmp_path / "masks"
    code, _, err = cli("train", "--model", stub, "--arg", "masks=true", *SMALL, "--epochs", "1", "--out", run, "-q")
    assert code == 0, err
    assert "loss_mask" in (run / "metrics.csv").read_text().splitlines()[0]
    assert "test_mask_map50" in json.loads((run / "results.json").read_text())
    code, out, err = cli("evaluate", run)
    assert code == 0 and re.search(r"mask mAP@0.5 [\d.]+ \(8 images", out), out
    code, out, err = cli("predict", run, test_image, "--score-threshold", "0", "--out", tmp_path / "m.png")
    assert code == 0 and (tmp_path / "m.png").is_file(), err


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cls") / "run"
    assert run_cli(["train", "--epochs", "1", "--out", str(run), "-q"]) == 0
    return run


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "lenet", "--data", "digit_boxes"],
     "digit_boxes is a detection data set (boxes, not one class per image) and lenet is a classifier; train a "
     "detection model on it"),
    (["train", "--model", "{stub}", "--data", "digits"],
     "stub_detector is a detection model and digits has one class per image, not boxes"),
    (["train", "--model", "{stub}", *SMALL, "--rotation-range", "10"],
     "--rotation-range is not available for detection data"),
    (["train", "--model", "{stub}", *SMALL, "--arg", "num_classes=3"],
     "--arg num_classes=3 does not fit the data: digit_boxes has 10 object classes"),
    (["train", "--model", "{stub}", *SMALL, "--keep-best", "--monitor", "val_acc"],
     "a detection run has no val_acc: it is validated by its mAP"),
    (["train", "--model", "{stub}", *SMALL, "--freeze", "base"], "--head, --freeze, --unfreeze-top and --features apply to classifiers"),
    (["train", "--model", "{stub}", *SMALL, "--translate", "64"], "--translate 64 shifts 64x64 images"),
    (["train", "--model", "{stub}", *SMALL, "--tta", "flip"], "--tta flip mirrors images; digit_boxes"),
    (["train", "--model", "{stub}", "--data", "digit_boxes", "--data-arg", "size=8"], "option size of data set 'digit_boxes'"),
    (["predict", "{det_run}", "{npy}"], "cannot detect objects in"),
    (["predict", "{det_run}"], "nothing to predict: give image files"),
    (["predict", "{det_run}", "--text", "seven"], "detects objects in images; give image files, not --text"),
    (["predict", "{det_run}", "{png}", "{png}", "--out", "{png}"], "with several images --out names a directory"),
    (["predict", "{det_run}", "{png}", "--score-threshold", "2"], "--score-threshold: must be between 0 and 1"),
    (["predict", "{classifier_run}", "{npy}", "--out", "{tmp}/x.png"], "--out and --score-threshold are for detection runs"),
])
def test_mistakes_are_one_line(cli, stub, det_run, classifier_run, test_image, tmp_path, args, message):
    np.save(tmp_path / "x.npy", np.zeros((8, 8), np.float32))
    values = {"stub": stub, "det_run": det_run, "classifier_run": classifier_run, "npy": tmp_path / "x.npy",
              "png": test_image, "tmp": tmp_path}
    args = [a.format(**values) for a in args]
    if args[0] == "train":
        args += ["--epochs", "1", "--out", str(tmp_path / "r")]
    code, _, err = cli(*args)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "r").exists() and not (tmp_path / "x.png").exists()


def test_faster_rcnn_trains_evaluates_and_predicts(cli, test_image, tmp_path):
    """The real model through every command (that its losses fall is the stub's test, and the model's own)."""
    run = tmp_path / "frcnn"
    code, _, err = cli("train", "--model", "faster_rcnn", "--arg", "width=0.5", "--data", "digit_boxes",
                       "--data-arg", "train=4", "--data-arg", "val=2", "--data-arg", "test=2", "--batch-size", "2",
                       "--epochs", "1", "--out", run, "-q")
    assert code == 0, err
    header, row = (run / "metrics.csv").read_text().splitlines()
    assert header == "epoch,loss,loss_rpn_objectness,loss_rpn_box,loss_cls,loss_box,val_map50,lr"
    values = dict(zip(header.split(","), map(float, row.split(","))))
    parts = ("loss_rpn_objectness", "loss_rpn_box", "loss_cls", "loss_box")
    assert values["loss"] == pytest.approx(sum(values[k] for k in parts), rel=1e-5)
    code, out, _ = cli("evaluate", run)
    assert code == 0 and "test: mAP@0.5" in out
    code, out, _ = cli("predict", run, test_image, "--score-threshold", "0", "--out", tmp_path / "f.png")
    assert code == 0 and (tmp_path / "f.png").is_file() and re.search(r"detections? with score >= 0 -> ", out)
    from classicnets.runs import compare
    row = compare.collect_run(run)  # compare shows the run's mAPs where a classifier's accuracies go
    results = json.loads((run / "results.json").read_text())
    assert row.test_map50 == results["test_map50"] and row.best_val_map50 == values["val_map50"]
    code, out, _ = cli("compare", run)
    assert code == 0 and "mAP@.5" in out and "accuracies and mAPs in %" in out


def test_a_detector_backbone_starts_from_a_classifier_run_weights(cli, tmp_path):
    """--weights for a detector loads its backbone's zoo model (here a one-channel CIFAR ResNet-20's
    weights file) and cuts it as the backbone is cut; --head and the like are refused; a file for
    another architecture (ResNet-20's for ResNet-8) is one sentence, and no run is left."""
    from safetensors.torch import load_file, save_file

    from classicnets import record
    from classicnets.detection.backbones import BACKBONES
    from classicnets.zoo import create

    source = create("resnet20", seed=3, num_classes=10, in_channels=1)
    weights = tmp_path / "resnet20.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, weights)
    run = tmp_path / "det"
    code, _, err = cli("train", "--model", "faster_rcnn", "--arg", "backbone=cifar_resnet20", "--data", "digit_boxes",
                       "--data-arg", "train=4", "--data-arg", "val=2", "--data-arg", "test=2", "--batch-size", "2",
                       "--epochs", "1", "--lr", "1e-9", "--weights", weights, "--out", run, "-q")
    assert code == 0, err
    assert "backbone cifar_resnet20: loaded" in err
    expected = BACKBONES["cifar_resnet20"].cut(source).state_dict()
    trained = load_file(run / "model.safetensors")
    for key, value in expected.items():  # lr 1e-9: the weights are still the file's (BatchNorm statistics move)
        if "running" not in key and "num_batches" not in key:
            assert torch.allclose(trained[f"backbone.{key}"], value, atol=1e-6), key
    assert json.loads((run / record.CONFIG).read_text())["transfer_loaded"]["backbone"] == "cifar_resnet20"

    code, _, err = cli("train", "--model", "faster_rcnn", "--data", "digit_boxes", "--weights", weights,
                       "--head", "dense", "--out", tmp_path / "no")
    assert code == 2 and "--head, --freeze" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("train", "--model", "faster_rcnn", "--arg", "backbone=cifar_resnet8", "--data", "digit_boxes",
                       "--weights", weights, "--out", tmp_path / "no2")
    assert code == 2 and len(err.strip().splitlines()) == 1 and not (tmp_path / "no2").exists()


# -- where the drawings go (issue 23: a lost image, one name for two drawings, a format by name) --------
def test_predict_never_writes_over_an_input(cli, det_run, test_image, tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(test_image.read_bytes())
    code, _, err = cli("predict", det_run, photo, "--out", photo)
    assert code == 2 and err.count("\n") == 1
    assert f"the drawing would be written to {photo}, which is one of the images given; nothing was written" in err
    assert photo.read_bytes() == test_image.read_bytes()
    # the default name beside an image may be another input's name too
    other = tmp_path / "photo-detections.png"
    other.write_bytes(test_image.read_bytes())
    code, _, err = cli("predict", det_run, photo, other)
    assert code == 2 and "which is one of the images given" in err
    assert other.read_bytes() == test_image.read_bytes()


def test_drawings_of_images_with_one_name_do_not_replace_each_other(cli, det_run, test_image, tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "0.png").write_bytes(test_image.read_bytes())
    out_dir = tmp_path / "drawn"
    code, out, err = cli("predict", det_run, tmp_path / "a" / "0.png", tmp_path / "b" / "0.png", "--out", out_dir,
                         "--score-threshold", "0")
    assert code == 0, err
    targets = [line.rsplit(" -> ", 1)[1] for line in out.splitlines() if " -> " in line]
    assert targets == [str(out_dir / "0-detections.png"), str(out_dir / "0-detections-2.png")]
    assert sorted(p.name for p in out_dir.iterdir()) == ["0-detections-2.png", "0-detections.png"]
    jpg = tmp_path / "a" / "0.jpg"
    Image.open(test_image).convert("RGB").save(jpg)
    code, out, err = cli("predict", det_run, tmp_path / "a" / "0.png", jpg)  # beside them: one stem, two drawings
    assert code == 0, err
    assert {p.name for p in (tmp_path / "a").iterdir()} == {"0.png", "0.jpg", "0-detections.png", "0-detections-2.png"}


def test_the_drawing_is_written_in_the_format_its_name_says(cli, det_run, test_image, tmp_path):
    code, _, err = cli("predict", det_run, test_image, "--out", tmp_path / "x.jpg")
    assert code == 0, err
    assert Image.open(tmp_path / "x.jpg").format == "JPEG"
    code, _, err = cli("predict", det_run, test_image, "--out", tmp_path / "x.txt")
    assert code == 2 and "a drawing is written as an image; end its name with .bmp, .jpeg, .jpg, .png" in err
    assert not (tmp_path / "x.txt").exists()
    code, _, err = cli("predict", det_run, test_image, test_image, "--out", tmp_path / "new.png")
    assert code == 2 and "--out " + str(tmp_path / "new.png") + " names one picture, and 2 images make 2" in err
    assert not (tmp_path / "new.png").exists()


def test_a_long_thin_image_is_drawn_without_blowing_up(cli, det_run, tmp_path):
    """A 2000x1 strip used to become a 512000x256 drawing (1.16 GB): the enlargement stops at 4096 pixels."""
    from classicnets.detection.draw import MAX_SIDE, upscale_factor

    assert upscale_factor(1, 2000) == 2 and upscale_factor(1, 50_000) == 1 and upscale_factor(64, 64) == 4
    strip = tmp_path / "strip.png"
    Image.fromarray(np.full((1, 50_000), 200, np.uint8)).save(strip)
    code, out, err = cli("predict", det_run, strip, "--out", tmp_path / "s.png", "--score-threshold", "0")
    assert code == 0, err
    assert Image.open(tmp_path / "s.png").size == (50_000, 1)
    Image.fromarray(np.full((1, 2000), 200, np.uint8)).save(strip)
    code, _, err = cli("predict", det_run, strip, "--out", tmp_path / "s.png", "--score-threshold", "0")
    assert code == 0, err
    assert Image.open(tmp_path / "s.png").size == (4000, 2) and 4000 <= MAX_SIDE
