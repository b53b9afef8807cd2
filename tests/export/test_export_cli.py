"""`classicnets export RUN`: a run's model as ONNX or TorchScript, with the run card's classes, input shape
and normalisation beside it; a detection run checked on images of its own data set; every mistake one
sentence, nothing replaced. (The parity of every family: tests/export/test_export_sweep.py.)"""
import json

import pytest
import torch
from sweep import spread_heads

from classicnets.cli import run_cli
from classicnets.config import RunConfig
from classicnets.data import load_dataset
from classicnets.export import TOLERANCE, relative_difference
from classicnets.fileio import write_json
from classicnets.record import ModelCard, write_card
from classicnets.runs.rundir import load_model, save_model
from classicnets.zoo import create

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.* is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("exp") / "run"
    assert run_cli(["train", "--epochs", "1", "--out", str(run), "-q"]) == 0  # lenet on digits
    return run


def test_onnx_export_of_a_run_computes_its_logits(cli, lenet_run, digits):
    ort = pytest.importorskip("onnxruntime")
    code, out, err = cli("export", lenet_run, "--format", "onnx", "--dynamic-batch")
    assert code == 0, err
    path = lenet_run / "model.onnx"
    assert out.startswith(f"wrote {path} (onnx, ") and "max relative difference" in out
    model, card = load_model(lenet_run)
    info = json.loads((lenet_run / "model.onnx.json").read_text())
    assert info["classes"] == card.classes and info["normalization"] == card.normalization
    assert info["model"]["name"] == "lenet" and info["model"]["run"] == str(lenet_run)
    x = card.norm(digits.test.x[:9].float())
    [logits] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})
    with torch.no_grad():
        assert relative_difference(torch.from_numpy(logits), model(x)) <= TOLERANCE


def test_torchscript_export_and_the_refusals(cli, lenet_run, tmp_path, digits):
    out_file = tmp_path / "lenet.pt"
    code, out, err = cli("export", lenet_run, "--format", "torchscript", "--out", out_file)
    assert code == 0, err
    model, card = load_model(lenet_run)
    x = card.norm(digits.test.x[:5].float())
    with torch.no_grad():
        assert relative_difference(torch.jit.load(str(out_file))(x), model(x)) <= TOLERANCE
    before = out_file.read_bytes()
    code, _, err = cli("export", lenet_run, "--format", "torchscript", "--out", out_file)
    assert code == 2 and "already exists; export to another file, or replace it with --overwrite" in err
    assert out_file.read_bytes() == before
    code, _, err = cli("export", lenet_run, "--format", "torchscript", "--out", out_file, "--overwrite",
                       "--tolerance", "1e-4")
    assert code == 0, err
    assert json.loads((tmp_path / "lenet.pt.json").read_text())["check"]["tolerance"] == 1e-4
    code, _, err = cli("export", tmp_path / "nothing", "--format", "onnx")
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err
    code, _, err = cli("export", lenet_run)
    assert code == 2 and "--format" in err


@pytest.fixture(scope="module")
def detection_run(tmp_path_factory):
    """A Faster R-CNN run on 3 generated digit_boxes test images, its heads spread (sweep.spread_heads)
    as a little training leaves them, so that it detects something to compare."""
    run = tmp_path_factory.mktemp("det") / "run"
    run.mkdir()
    data_args = {"train": 4, "val": 0, "test": 3, "seed": 0}
    data = load_dataset("digit_boxes", **data_args)
    save_model(run, spread_heads(create("faster_rcnn", seed=0)))
    write_card(run, ModelCard("faster_rcnn", {}, [1, 64, 64], data.classes, data.normalization().to_dict(),
                              "digit_boxes", data_args, "detection"))
    write_json(run / "config.json", RunConfig(model="faster_rcnn", data="digit_boxes", data_args=data_args).to_dict())
    write_json(run / "results.json", {"epochs": 1})
    return run


def test_a_detection_run_is_checked_on_its_own_images(cli, detection_run, tmp_path):
    code, out, err = cli("export", detection_run, "--format", "torchscript", "--out", tmp_path / "faster.pt")
    assert code == 0, err
    assert err.strip() == "checking on 3 images of digit_boxes"
    info = json.loads((tmp_path / "faster.pt.json").read_text())
    assert info["check"]["inputs"] == "3 given inputs" and info["check"]["detections_compared"] > 10
    assert info["task"] == "detection" and [o["name"] for o in info["outputs"]] == ["boxes", "labels", "scores"]
    code, _, err = cli("export", detection_run, "--format", "torchscript", "--out", tmp_path / "f2.pt",
                       "--dynamic-batch")
    assert code == 2 and "takes one image per call" in err and not (tmp_path / "f2.pt").exists()


def test_a_detection_data_set_that_would_download_is_not_fetched_for_the_check(tmp_path, monkeypatch):
    import os

    from classicnets.runs.export import detection_check_images
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path))
    monkeypatch.delenv("CLASSICNETS_OFFLINE", raising=False)
    card = ModelCard("faster_rcnn", {}, [3, 64, 64], ["a"], None, "voc2007", {}, "detection")
    x, said = detection_check_images(tmp_path, card, RunConfig(model="faster_rcnn", data="voc2007"))
    assert x is None and said.startswith("checking on random images: voc2007 does not load without a download (")
    assert "CLASSICNETS_OFFLINE" not in os.environ  # put back as it was
