"""Every user mistake is one line on stderr, status 2, and leaves no run directory behind."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from classicnets.cli import build_parser

# A value out of range (or of the wrong kind) for every option of every command. A new option
# must be added here: test_every_option_is_walked fails until it is.
BAD = {
    "train": {
        "--model": "nosuchnet", "--data": "nosuchdata", "--arg": "width", "--data-arg": "=3",
        "--data-dir": "{tmp}/nowhere", "--out": "{file}", "--runs-dir": "{file}", "--resume": "{tmp}/nowhere",
        "--progress": "loud", "--epochs": "0", "--batch-size": "0", "--optimizer": "adagrad", "--lr": "nan",
        "--momentum": "-1", "--nesterov": "--nesterov=maybe", "--weight-decay": "-1", "--schedule": "linear",
        "--step-epochs": "0", "--gamma": "0", "--label-smoothing": "2", "--val-split": "1.5",
        "--early-stopping": "-1", "--monitor": "val_f1", "--keep-best": "--keep-best=yes", "--seed": "-1",
        "--device": "tpu", "--compile": "maybe", "--precision": "fp8", "--eval-batch-size": "0",
        "--normalize": "whiten", "--translate": "-2", "--horizontal-flip": "--horizontal-flip=1",
        "--width-shift-range": "2", "--height-shift-range": "-0.5", "--rotation-range": "400",
        "--cutout": "-1", "--quiet": "--quiet=1", "--recipe": "resnet", "--decay": "-1", "--lr-at": "5:0.1",
        "--val-split-mode": "first", "--validate-on": "train", "--fill-mode": "reflect",
        "--tensorboard": "--tensorboard=1", "--weights": "{tmp}/nowhere.pth", "--head": "conv:3",
        "--freeze": "nosuch*", "--unfreeze-top": "-1", "--features": "--features=1", "--base-lr": "-1",
        "--checkpoint-every": "-1", "--on-nonfinite": "ignore", "--sync-bn": "--sync-bn=1", "--nproc": "0",
        "--clip-norm": "-1", "--clip-value": "nan", "--test-normalize": "mine", "--tta": "rotate",
        "--random-erasing": "1.5",
    },
    "compare": {"runs": "{tmp}/nowhere", "--sort": "bogus", "--reverse": "--reverse=1", "--csv": "--csv=1",
                "--json": "--json=1", "--plot": "{tmp}"},
    "report": {"run": "{tmp}/nowhere"},
    "extract": {"target": "nosuchnet", "--data": "nosuchdata", "--data-arg": "=1", "--data-dir": "{tmp}/nowhere",
                "--weights": "{tmp}/nowhere.pth", "--arg": "width=-3", "--device": "tpu"},
    "recipes": {"pattern": "zzz*"},
    "study": {"name": "exploding", "--length": "1", "--units": "0", "--epochs": "-1", "--train-length": "1",
              "--seed": "-1", "--out": "{file}", "--list": "--list=1", "--data": "imdb", "--depths": "56,20",
              "--width": "0", "--lr": "0", "--kernel": "0", "--radius": "0", "--clip-norm": "-1",
              "--clip-value": "-1", "--train-size": "-1", "--noise": "-1", "--dense-width": "0",
              "--weight-decay": "-1", "--repeats": "0", "--carry-bias": "nan", "--batch-size": "0"},
    "summary": {"model": "nosuchnet", "--input": "3x0x8", "--dtype": "double", "--batch": "0", "--arg": "x",
                "--depth": "0", "--fold-blocks": "--fold-blocks=1", "--strict": "--strict=1", "--fcn": "big",
                "--head": "dense:abc", "--outputs": "0", "--freeze": "nosuch*"},
    "predict": {"run": "{tmp}/nowhere", "--top-k": "0", "--text": None, "--invert": "--invert=1", "files": None,
                "--out": "{tmp}/drawn.png", "--score-threshold": "1.5", "--model": "nosuchnet",
                "--weights": "{tmp}/nowhere.pth", "--arg": "width", "--classes": "{tmp}/nowhere.txt"},
    "evaluate": {"run": "{tmp}/nowhere", "--split": "holdout", "--data": "nosuchdata", "--data-arg": "=1",
                 "--data-dir": "{tmp}/nowhere", "--tta": "rotate"},
    "pretrained": {"model": "nosuchnet", "--weights": "{tmp}/nowhere.pth", "--out": "{file}", "--runs-dir": "{file}",
                   "--arg": "width", "--classes": "{tmp}/nowhere.txt"},
    "export": {"run": "{tmp}/nowhere", "--format": "pdf", "--out": "{tmp}/x.onnx", "--dynamic-batch": "--dynamic-batch=1",
               "--overwrite": "--overwrite=1", "--tolerance": "nan"},
    "models": {"pattern": "zzz*"},
    "datasets": {"--data-dir": "{tmp}/nowhere"},
}


# a study each study option applies to, so that its bad value (not the study) is what is refused
STUDY_TAKING = {"--data": "dropout", "--depths": "degradation", "--width": "degradation", "--lr": "dropout",
                "--kernel": "shared-weights", "--radius": "exploding-gradients", "--clip-norm": "exploding-gradients",
                "--clip-value": "exploding-gradients", "--train-size": "dropout", "--noise": "polynomial-degree",
                "--dense-width": "dense-vs-conv", "--weight-decay": "residual-identity", "--repeats": "conv-cost",
                "--carry-bias": "highway", "--batch-size": "conv-cost"}


def _options(parser):
    out = {}
    for action in parser._actions:
        if action.dest == "help":
            continue
        longs = [o for o in action.option_strings if o.startswith("--")]
        out[longs[0] if longs else action.dest] = action
    return out


def _subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    return sub.choices


def test_every_option_is_walked():
    for command, sub in _subparsers().items():
        assert set(_options(sub)) == set(BAD[command]), command


def _cases():
    for command, options in BAD.items():
        for option, value in options.items():
            if value is not None:
                yield command, option, value


@pytest.mark.parametrize("command,option,value", list(_cases()), ids=lambda v: str(v))
def test_an_out_of_range_value_is_one_line_and_leaves_nothing(command, option, value, tmp_path, monkeypatch,
                                                               capsys):
    from classicnets.cli import run_cli

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "afile").write_text("not a directory")
    value = value.format(tmp=tmp_path, file=work / "afile")
    positional = {"study": [STUDY_TAKING.get(option, "vanishing-gradients")], "summary": ["lenet"], "evaluate": [str(tmp_path / "nowhere")],
                  "predict": [str(tmp_path / "nowhere")], "report": [str(tmp_path / "nowhere")],
                  "compare": [str(tmp_path / "nowhere")], "extract": ["lenet"], "pretrained": ["resnet18"],
                  "export": [str(tmp_path / "nowhere")]}.get(command, [])
    if not option.startswith("--"):
        args = [command, value] + positional[1:]
    elif value.startswith("--"):
        args = [command, *positional, value]
    else:
        args = [command, *positional, option, value]
    if command == "train" and option not in ("--epochs", "--resume"):
        args += ["--epochs", "1"]
    if option in ("--fold-blocks", "--strict") or command == "models":
        pass
    try:
        code = run_cli(args)
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2, (args, out, err)
    assert err.startswith("classicnets") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert sorted(p.name for p in work.iterdir()) == ["afile"]  # no run directory, no runs/


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from classicnets.cli import run_cli
    run = tmp_path_factory.mktemp("r") / "run"
    assert run_cli(["train", "--epochs", "1", "--out", str(run), "-q"]) == 0
    return run


def _copy(run, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(run, dst)
    return dst


def test_damaged_run_files_are_one_sentence(cli, tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8), np.float32))
    (run / "model.safetensors").unlink()
    (run / "model.safetensors").mkdir()
    code, _, err = cli("predict", run, tmp_path / "x.npy")
    assert code == 2 and "is a directory" in err and len(err.splitlines()) == 1

    run = _copy(tiny_run, tmp_path / "b")
    card = json.loads((run / "model.json").read_text())
    for field, value in (("input_shape", "8x8"), ("classes", 3), ("args", [1]), ("task", "clustering"),
                         ("normalization", {"mean": "x"})):
        (run / "model.json").write_text(json.dumps({**card, field: value}))
        code, _, err = cli("predict", run, tmp_path / "x.npy")
        assert code == 2 and "model description" in err and "damaged" in err, (field, err)
    (run / "model.json").write_text(json.dumps({**card, "classes": ["a", "b"]}))
    code, _, err = cli("predict", run, tmp_path / "x.npy")
    assert code == 2 and "names 2 classes for a model with 10 outputs" in err

    run = _copy(tiny_run, tmp_path / "c")
    (run / "results.json").write_text("{not json")
    code, _, err = cli("evaluate", run)
    assert code == 2 and "results" in err and "damaged" in err
    (run / "config.json").write_text(json.dumps({**json.loads((tiny_run / "config.json").read_text()),
                                                 "train": {"lr": "fast"}}))
    code, _, err = cli("train", "--resume", run)
    assert code == 2 and "run configuration" in err


@pytest.mark.parametrize("args,message", [
    (("--data", "adding", "--data-arg", "lenght=100"), "did you mean 'length'"),
    (("--data", "adding", "--data-arg", "length=abc"), "length"),
    (("--data", "adding", "--data-arg", "length=1"), "length"),
    (("--arg", "width=-4"), "width"),
    (("--lr", "nan"), "--lr"),
    (("--weight-decay", "-1"), "--weight-decay must be at least 0"),
    (("--momentum", "-1"), "--momentum must be at least 0"),
    (("--label-smoothing", "2"), "--label-smoothing must be at least 0 and less than 1"),
    (("--translate", "-2"), "--translate must be at least 0"),
    (("--translate", "8"), "--translate 8 shifts 8x8 images by their whole size"),
])
def test_the_walkthrough_mistakes_are_one_sentence(cli, tmp_path, args, message):
    code, _, err = cli("train", *args, "--epochs", 1, "--out", tmp_path / "r")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_image_folder_size_must_be_positive(cli, tmp_path):
    from PIL import Image
    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        Image.new("RGB", (10, 10)).save(tmp_path / "imgs" / c / "1.png")
    code, _, err = cli("train", "--data", tmp_path / "imgs", "--data-arg", "size=-5", "--out", tmp_path / "r")
    assert code == 2 and "size" in err and len(err.strip().splitlines()) == 1, err


def test_model_outputs_must_fit_the_labels(cli, tmp_path):
    code, _, err = cli("train", "--arg", "num_classes=3", "--out", tmp_path / "r")
    assert code == 2 and "num_classes=3 does not fit the data: digits has 10 classes" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("model", ["cifar_convnet", "small_vgg"])
def test_a_model_for_larger_images_says_how_large(cli, model, tmp_path):
    code, _, err = cli("train", "--model", model, "--out", tmp_path / "r")
    assert code == 2 and f"{model} needs images of at least" in err and "digits's are 8x8" in err
    assert not (tmp_path / "r").exists()


def test_predict_refuses_an_empty_array(cli, tiny_run, tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 8, 8), np.float32))
    code, _, err = cli("predict", tiny_run, tmp_path / "empty.npy")
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err


def test_nan_inputs_are_named_not_blamed_on_the_learning_rate(cli, tmp_path):
    x = np.random.default_rng(0).random((40, 1, 8, 8)).astype(np.float32)
    x[3, 0, 2, 2] = np.nan
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.arange(40) % 2)
    code, _, err = cli("train", "--data", tmp_path / "d.npz", "--out", tmp_path / "r", "--epochs", 1)
    assert code == 2 and "non-finite" in err and "learning rate" not in err
    assert not (tmp_path / "r").exists()


def test_fit_refuses_nan_inputs_from_the_api():
    import torch

    from classicnets import UserError, create, fit
    from classicnets.train import TrainConfig
    x = torch.rand(20, 1, 8, 8)
    x[0, 0, 0, 0] = float("inf")
    with pytest.raises(UserError, match="x of the training split has 1 non-finite value"):
        fit(create("lenet"), (x, torch.arange(20) % 10), TrainConfig(epochs=1))


def test_help_and_parsing_do_not_import_torch():
    code = ("import sys; from classicnets.cli import build_parser; build_parser().parse_args(['train']);\n"
            "import classicnets; classicnets.TrainConfig().validate()\n"
            "from classicnets.cli import run_cli; assert run_cli(['models']) == 0 and run_cli(['datasets']) == 0\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "classicnets.cli", "train", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "silent until training ends" in " ".join(proc.stdout.split())


def test_interrupt_during_start_up_is_one_line(cli, monkeypatch):
    import classicnets.runs.run as run_module

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(run_module, "prepare", interrupted)
    code, _, err = cli("train")
    assert code == 130 and "nothing was kept" in err and "Traceback" not in err
