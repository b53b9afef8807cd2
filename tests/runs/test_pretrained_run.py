"""Published weights used as they are, through the command line: `predict --model --weights` (top ImageNet
classes by name, the weights' own preprocessing and resizing, no run directory), `pretrained` (a run
directory from published weights) and what works on that run: predict, evaluate (with --data), report,
compare, export and `train --weights RUN`. The weights are written here in the true formats from formula
values (tests/transfer/keras_writers.py): nothing is downloaded."""
from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from classicnets.data.files import read_image
from classicnets.train.checkpoint import save_weights
from classicnets.transfer.imagenet import imagenet_classes
from classicnets.transfer.keras import HALF_NORMALIZATION, IMAGENET_NORMALIZATION
from classicnets.transfer.published import pretrained
from classicnets.zoo import create

sys.path.insert(0, str(Path(__file__).parents[1] / "transfer"))
from keras_writers import FIXTURES, formula, write_keras2  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A torchvision-format resnet18 state dict, and a 400x300 photo-like JPEG."""
    d = tmp_path_factory.mktemp("published")
    keys = json.loads(gzip.decompress((FIXTURES / "torchvision_keys.json.gz").read_bytes()))
    torch.save(formula.torchvision_state(dict(keys["resnet18"])), d / "resnet18.pth")
    g = np.random.default_rng(0)
    smooth = np.kron(g.random((30, 40, 3)), np.ones((10, 10, 1)))  # blocks: the crop and resize both matter
    Image.fromarray((smooth * 255).astype(np.uint8)).save(d / "photo.jpg", quality=95)
    return d / "resnet18.pth", d / "photo.jpg"


def top_rows(out: str) -> list[tuple[str, float]]:
    """(class, probability) of the first row's top-k column of predict's table."""
    cells = " ".join(line.split("│")[3].strip() for line in out.splitlines() if line.count("│") == 4)
    return [(name.strip(), float(p)) for name, p in re.findall(r"([^,%]+?) (\d+\.\d)%", cells)]


def test_predict_with_published_weights_and_no_run(cli, files, tmp_path, monkeypatch):
    """torchvision's evaluation transform (shorter side 256, centre crop 224) and ImageNet's mean and std,
    done here by hand, give the probabilities printed, by ImageNet class name."""
    pth, photo = files
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("predict", "--model", "resnet18", "--weights", pth, photo, "-k", "3")
    assert code == 0, err
    assert "resnet18 with resnet18.pth (torchvision): 1,000 classes, inputs 3x224x224" in err
    img = Image.open(photo).convert("RGB").resize((341, 256), Image.Resampling.BILINEAR)  # 400x300: 256 * 4 / 3
    crop = np.asarray(img.crop((58, 16, 58 + 224, 16 + 224)), dtype=np.float32)     # round(58.5), round(16)
    x = IMAGENET_NORMALIZATION(torch.from_numpy(crop).permute(2, 0, 1)[None])
    model = create("resnet18")
    from classicnets.transfer import load_weights
    load_weights(model, pth, model_name="resnet18")
    with torch.no_grad():
        p = torch.softmax(model.eval()(x), 1)[0]
    values, indices = p.topk(3)
    expected = [(imagenet_classes()[i], round(v * 100, 1)) for v, i in zip(values.tolist(), indices.tolist())]
    assert top_rows(out) == expected
    assert list(tmp_path.iterdir()) == []  # no run directory, nothing written


def test_predict_with_a_keras_file_resizes_straight(cli, tmp_path):
    h5 = write_keras2(tmp_path / "mobilenet.h5", "mobilenet")  # alpha 0.25, a top of 10 classes
    (tmp_path / "classes.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n")
    photo = tmp_path / "p.png"
    Image.fromarray((np.random.default_rng(1).random((90, 120, 3)) * 255).astype(np.uint8)).save(photo)
    code, out, err = cli("predict", "--model", "mobilenet", "--weights", h5, "--arg", "alpha=0.25", "--arg",
                         "num_classes=10", "--classes", tmp_path / "classes.txt", photo, "-k", "2")
    assert code == 0, err
    p = pretrained("mobilenet", h5, model_args={"alpha": 0.25, "num_classes": 10}, classes=[f"c{i}" for i in range(10)])
    assert p.preprocessing == HALF_NORMALIZATION and p.resize is None
    [expected] = p.predict(read_image(photo, (3, 224, 224), 255.0, False), top=2)
    assert top_rows(out) == [(n, round(v * 100, 1)) for n, v in expected]


def test_predict_refuses_what_does_not_fit(cli, files, tmp_path):
    pth, photo = files
    code, _, err = cli("predict", "--weights", pth, photo)
    assert code == 2 and err.startswith("classicnets: error: --weights, --arg and --classes go with --model")
    code, _, err = cli("predict", "--model", "resnet18", "--weights", pth, "--arg", "num_classes=10", photo)
    assert code == 2 and "does not hold resnet18's whole classifier" in err and err.count("\n") == 1
    code, _, err = cli("predict", "--model", "resnet18", "--weights", pth, photo, "--out", tmp_path / "x.png")
    assert code == 2 and "--out and --score-threshold are for detection runs" in err
    code, _, err = cli("predict")
    assert code == 2 and "give a run directory (predict RUN FILE...), or published weights with --model" in err


@pytest.fixture(scope="module")
def resnet_run(files, tmp_path_factory):
    from classicnets.cli import run_cli
    pth, _ = files
    run = tmp_path_factory.mktemp("pre") / "run"
    assert run_cli(["pretrained", "resnet18", "--weights", str(pth), "--out", str(run)]) == 0
    return run


def test_pretrained_writes_a_finished_run(resnet_run, files, cli):
    from classicnets.record import read_card, read_config, read_results, run_state
    from classicnets.runs.compare import collect_run

    assert run_state(resnet_run) == "finished" and not (resnet_run / "checkpoint.safetensors").exists()
    card = read_card(resnet_run)
    assert card.classes == list(imagenet_classes()) and card.norm == IMAGENET_NORMALIZATION
    assert (card.name, card.input_shape, card.resize, card.data) == ("resnet18", [3, 224, 224], 256, "imagenet")
    assert read_config(resnet_run).transfer.weights == str(files[0])
    config = json.loads((resnet_run / "config.json").read_text())
    assert config["pretrained"]["format"] == "torchvision" and config["pretrained"]["trained_epochs"] == 0
    assert read_results(resnet_run) == {"epochs": 0, "wall_time_s": 0.0}
    row = collect_run(resnet_run)
    assert (row.status, row.epochs, row.epochs_planned, row.problems) == ("finished", 0, 0, [])
    assert row.params == 11_699_112  # torchvision's 11,689,512 and the BatchNorm statistics, as compare counts
    code, _, err = cli("pretrained", "resnet18", "--weights", files[0], "--out", resnet_run)
    assert code == 2 and "already holds a finished run" in err


def test_the_run_predicts_as_the_weights_do(resnet_run, files, cli):
    pth, photo = files
    _, direct, _ = cli("predict", "--model", "resnet18", "--weights", pth, photo)
    code, from_run, err = cli("predict", resnet_run, photo)
    assert code == 0, err
    assert from_run == direct and top_rows(from_run)


def test_evaluate_needs_data_and_report_draws_no_curves(resnet_run, cli):
    code, _, err = cli("evaluate", resnet_run)
    assert code == 2 and err.count("\n") == 1
    assert "holds published weights trained on ImageNet, which classicnets does not download; evaluate them on " \
           "labelled images of your own with --data" in err
    code, out, err = cli("report", resnet_run)
    assert code == 0, err
    html = (resnet_run / "report.html").read_text()
    assert "No curves: the run trained no epochs." in html and "<th>epochs</th><td>0 of 0</td>" in html


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory):
    """A run from a plain safetensors file of an RGB lenet for 32x32 images and 4 named classes."""
    from classicnets.cli import run_cli
    d = tmp_path_factory.mktemp("lenet")
    save_weights(d / "lenet.safetensors", create("lenet", seed=5, num_classes=4, in_channels=3, input_size=32))
    (d / "classes.txt").write_text("ant\nbee\ncat\ndog\n")
    args = ["--arg", "num_classes=4", "--arg", "in_channels=3", "--arg", "input_size=32"]
    assert run_cli(["pretrained", "lenet", "--weights", str(d / "lenet.safetensors"), *args,
                    "--classes", str(d / "classes.txt"), "--out", str(d / "run")]) == 0
    return d / "run"


def image_folder(root: Path, classes: list[str], n: int = 4) -> Path:
    g = np.random.default_rng(2)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray((g.random((32, 32, 3)) * 255).astype(np.uint8)).save(root / c / f"{i}.png")
    return root


def test_evaluate_on_a_folder_of_some_of_its_classes(lenet_run, cli, tmp_path, monkeypatch):
    """A folder of 'dog' and 'bee' (sorted: bee 0, dog 1) is scored against the model's outputs 1 and 3."""
    from classicnets.data import load_dataset
    from classicnets.runs.rundir import load_model

    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path / "cache"))
    folder = image_folder(tmp_path / "imgs", ["dog", "bee"])
    code, _, err = cli("evaluate", lenet_run)
    assert code == 2 and "which do not say what they were trained on; evaluate them" in err
    code, out, err = cli("evaluate", lenet_run, "--data", folder, "--data-arg", "size=32", "--split", "train")
    assert code == 0, err
    data = load_dataset(str(folder), size=32)
    model, card = load_model(lenet_run)
    with torch.no_grad():
        pred = model(data.train.x.float() / 255).argmax(1)  # the file says nothing: x / 255, as the card says
    truth = torch.tensor([1, 3])[data.train.y]
    acc = (pred == truth).float().mean().item()
    assert re.search(rf"^train: loss [\d.]+ - acc {acc:.4f} \(8 samples\)", out, re.M), out
    results = json.loads((lenet_run / "results.json").read_text())
    assert results["train_acc"] == pytest.approx(acc) and results["train_data"] == str(folder)
    odd = image_folder(tmp_path / "odd", ["bee", "eel"])
    code, _, err = cli("evaluate", lenet_run, "--data", odd, "--data-arg", "size=32")
    assert code == 2 and "has a class 'eel' that the model does not know" in err
    code, _, err = cli("evaluate", lenet_run, "--data", odd)
    assert code == 2 and "inputs are 3x64x64 and the model takes 3x32x32 (an image folder takes --data-arg size=32)" in err


def test_a_pretrained_run_exports_and_starts_training(lenet_run, cli, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    code, out, err = cli("export", lenet_run, "--format", "torchscript", "--out", tmp_path / "lenet.pt")
    assert code == 0, err
    info = json.loads((tmp_path / "lenet.pt.json").read_text())
    assert info["classes"] == ["ant", "bee", "cat", "dog"] and info["input"]["shape"] == ["batch", 3, 32, 32]
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path / "cache"))
    folder = image_folder(tmp_path / "imgs", ["ant", "bee", "cat", "dog"], n=3)
    code, out, err = cli("train", "--model", "lenet", "--data", folder, "--data-arg", "size=32", "--weights",
                         lenet_run, "--epochs", "1", "--out", tmp_path / "tuned", "--progress", "none")
    assert code == 0, err
    loaded = json.loads((tmp_path / "tuned" / "config.json").read_text())["transfer_loaded"]
    assert loaded["weights_file"] == str(lenet_run / "model.safetensors") and loaded["missing"] == []
