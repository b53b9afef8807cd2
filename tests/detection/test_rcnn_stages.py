"""R-CNN trained in the paper's three stages (`rcnn(training="stages")`, `detection.rcnn_stages`): the
fine-tuning leaves the SVMs and regressors alone, the SVMs' hard-negative mining, the frozen CNN, the
ridge regressors, and the option through the command line."""
import dataclasses
import json
import re

import pytest
import torch

from classicnets.detection.data import load_digit_boxes
from classicnets.detection.ops import box_iou, decode_boxes
from classicnets.detection.rcnn_stages import (
    EASY_SCORE,
    HARD_SCORE,
    feature_scale,
    fit_box_regressors,
    fit_stages,
    mine_negatives,
    region_features,
    regression_set,
)
from classicnets.errors import UserError
from classicnets.zoo import create


@pytest.fixture(scope="module")
def batches(with_proposals):
    """Eight digit_boxes training images in two batches, normalised, with precomputed proposals (a grid
    of boxes plus jittered ground truth: no scikit-image needed), and two more as validation."""
    x, targets = with_proposals(10, jitter=2.5)
    return [(x[:4], targets[:4]), (x[4:8], targets[4:8])], [(x[8:], targets[8:])]


def staged(**config):
    model = create("rcnn", seed=0, training="stages", backbone="lenet5", roi_batch=32)
    model.config = dataclasses.replace(model.config, **config)
    return model


def fine_tune(model, batches, steps: int = 2):
    """Stage 1: a few steps of the softmax alone."""
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    torch.manual_seed(0)
    for _ in range(steps):
        for x, targets in batches:
            losses = model(x, targets)
            assert set(losses) == {"cls"}  # the SVMs and the box regressors are not part of fine-tuning
            opt.zero_grad()
            losses["cls"].backward()
            assert model.svm.weight.grad is None and model.bbox_pred.weight.grad is None
            opt.step()
    return model


def test_the_option_and_its_defaults():
    model = create("rcnn", training="stages")
    assert (model.config.classifier, model.config.box_regression) == ("svm", "ridge")
    assert int(model.stage) == 1 and not model.bbox_pred.weight.any()  # unregressed boxes until stage 3
    joint = create("rcnn")
    assert (joint.config.classifier, joint.config.box_regression, joint.config.training) == ("softmax", "linear", "joint")
    assert "stage" not in joint.state_dict() and joint.finish_training([]) is False
    assert create("rcnn", training="stages", classifier="softmax").svm is None  # the fine-tuned softmax scores
    with pytest.raises(UserError, match="training must be 'joint' or 'stages'"):
        create("rcnn", training="separate")
    with pytest.raises(UserError, match="box_regression='linear' is trained jointly"):
        create("rcnn", training="stages", box_regression="linear")


def test_hard_negative_mining_adds_the_negatives_scored_above_minus_one_until_none_is_left(batches):
    model = staged()
    regions = region_features(model, batches[0])
    x = regions.features * feature_scale(regions.features)
    c = int(regions.gt_label[regions.gt_label >= 0][0])
    pos = torch.nonzero(regions.gt_label == c).flatten()
    neg = torch.nonzero(regions.class_iou[:, c] < 0.3).flatten()
    cfg = dataclasses.replace(model.config, svm_initial_negatives=10, svm_rounds=100)
    mining = mine_negatives(x, pos, neg, cfg, seed=0)
    assert len(mining.rounds) >= 2 and mining.converged  # at least one round of mining, then none left
    cached = torch.zeros(len(x), dtype=torch.bool)
    first = mining.rounds[0]
    assert len(first.added) == 10 and set(first.added.tolist()) <= set(neg.tolist())
    cached[first.added] = True
    for before, now in zip(mining.rounds, mining.rounds[1:]):
        assert len(now.added) > 0 and not cached[now.added].any()  # new negatives only
        assert bool(((x[now.added] @ before.weight + before.bias) > HARD_SCORE).all())  # scored above -1
        # and every negative the SVM scored above -1 outside the cache was added
        outside = neg[~cached[neg]]
        assert set(now.added.tolist()) == set(outside[(x[outside] @ before.weight + before.bias) > HARD_SCORE].tolist())
        assert cached[now.evicted].all() and bool(((x[now.evicted] @ before.weight + before.bias) < EASY_SCORE).all())
        cached[now.evicted] = False
        cached[now.added] = True
    last = mining.rounds[-1]
    outside = neg[~cached[neg]]
    assert not bool(((x[outside] @ last.weight + last.bias) > HARD_SCORE).any())  # none left: it stopped
    assert mining.cached == int(cached.sum())
    capped = mine_negatives(x, pos, neg, dataclasses.replace(cfg, svm_rounds=0), seed=0)
    assert len(capped.rounds) == 1 and not capped.converged  # stopped by the round limit instead


def test_stages_two_and_three_leave_the_fine_tuned_cnn_as_it_is(batches):
    train, val = batches
    model = fine_tune(staged(), train)
    model.eval()
    with torch.no_grad():
        softmax_only = model(*train[0])
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(("svm.", "bbox_pred.", "stage"))}
    assert model.finish_training(train, val, seed=0) is True
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in frozen.items())  # backbone and softmax untouched
    assert int(model.stage) == 3 and model.svm.weight.any() and model.bbox_pred.weight.any()
    with torch.no_grad():
        staged_out = model(*train[0])
    # detection now scores with the SVMs (sigmoid of their margins) and moves the boxes
    assert any(not torch.equal(a["scores"], b["scores"]) for a, b in zip(softmax_only, staged_out))
    feats = model.features(train[0][0], train[0][1][0]["boxes"], torch.zeros(len(train[0][1][0]["boxes"]), dtype=torch.long))
    assert torch.allclose(model.scores(feats), torch.sigmoid(model.svm(feats)))


def test_ridge_regressors_tighten_the_boxes_they_were_fitted_on(batches):
    train, _ = batches
    model = staged()
    regions = region_features(model, train)
    x = regions.features * feature_scale(regions.features)
    weights, biases = fit_box_regressors(x, regions, model.config, lam=model.config.ridge_lambda)
    sel, _ = regression_set(regions, 0.6)
    assert len(sel) > 20
    labels = regions.matched_label[sel]
    deltas = torch.einsum("rf,rfd->rd", x[sel], weights[labels]) + biases[labels]
    moved = decode_boxes(deltas, regions.boxes[sel])
    gt = regions.matched[sel]
    iou_before = box_iou(regions.boxes[sel], gt).diagonal()
    iou_after = box_iou(moved, gt).diagonal()
    assert iou_after.mean() > iou_before.mean() + 0.02, (iou_before.mean(), iou_after.mean())
    error = lambda b: (b - gt).abs().sum(1).mean()  # noqa: E731 - L1 distance of the corners, pixels
    assert error(moved) < 0.9 * error(regions.boxes[sel])


def test_fit_stages_reports_what_it_did(batches):
    train, val = batches
    lines = []
    summary = fit_stages(staged(svm_initial_negatives=20), train, val, seed=0, log=lines.append)
    assert summary["ridge_lambda"] in staged().config.ridge_lambdas and set(summary["ridge_val_errors"]) == set(
        staged().config.ridge_lambdas)
    assert summary["ridge_val_errors"][summary["ridge_lambda"]] == min(summary["ridge_val_errors"].values())
    assert summary["box_error_after"] < summary["box_error_before"]
    assert any("stage 2: 10 linear SVMs" in s for s in lines) and any("chosen on the validation" in s for s in lines)
    no_val = fit_stages(staged(), train, None, seed=0)
    assert no_val["ridge_lambda"] == 1000.0  # the paper's


SMALL = ["--data", "digit_boxes", "--data-arg", "train=8", "--data-arg", "val=4", "--data-arg", "test=4",
         "--batch-size", "4", "--schedule", "constant", "--arg", "backbone=lenet5", "--arg", "training=stages",
         "--progress", "plain"]


def test_stages_through_the_command_line(cli, tmp_path, monkeypatch):
    """train (stage 1 as the engine's epochs, then stages 2-3), evaluate and predict rebuild the same
    model; a run stopped during stages 2-3 resumes with no epoch and fits them again."""
    pytest.importorskip("skimage")
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path / "data"))
    run = tmp_path / "run"
    code, out, err = cli("train", "--model", "rcnn", *SMALL, "--epochs", "1", "--out", run)
    assert code == 0, err
    assert re.search(r"Epoch 1/1 .* - loss: [\d.]+ - val_map50: [\d.]+", out), out
    assert "stage 2: 10 linear SVMs" in out and "stage 3: ridge box regressors" in out and "val_map50 after them" in out
    assert (run / "metrics.csv").read_text().splitlines()[0] == "epoch,loss,loss_cls,val_map50,lr"
    assert json.loads((run / "config.json").read_text())["model_args"]["training"] == "stages"
    results = json.loads((run / "results.json").read_text())
    code, out, err = cli("evaluate", run)
    assert code == 0, err
    assert f"test: mAP@0.5 {results['test_map50']:.4f}" in out  # the saved SVMs and regressors, rebuilt
    image = tmp_path / "canvas.png"
    from PIL import Image
    Image.fromarray(load_digit_boxes(train=1, val=0, test=1, seed=1).test.images[0, 0].numpy()).save(image)
    code, out, err = cli("predict", run, image, "--score-threshold", "0", "--out", tmp_path / "drawn.png")
    assert code == 0 and (tmp_path / "drawn.png").is_file(), err

    (run / "results.json").unlink()  # as if stopped during stages 2-3: the last epoch's checkpoint is there
    (run / "model.safetensors").unlink()
    code, out, err = cli("train", "--resume", run)
    assert code == 0, err
    assert "Epoch" not in out and "stage 2:" in out  # no epoch again; the stages fitted again, the same way
    assert json.loads((run / "results.json").read_text())["test_map50"] == results["test_map50"]
    code, out, err = cli("train", "--resume", run, "--epochs", "2")  # trained further: stages refitted after it
    assert code == 0, err
    assert "Epoch 2/2" in out and "stage 3:" in out
