"""The command line, end to end, in-process (one subprocess test checks the real entry point)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from classicnets.runs import load_model
from classicnets.train import Checkpoint

RUN_FILES = {"config.json", "metrics.csv", "curves.png", "checkpoint.safetensors", "model.safetensors",
             "model.json", "results.json"}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """`classicnets train` with no options (the README's main job), run once for several tests."""
    from classicnets.cli import run_cli
    out = tmp_path_factory.mktemp("runs") / "default"
    assert run_cli(["train", "--out", str(out), "--progress", "plain"]) == 0
    return out


def test_default_run_reaches_98_percent_on_digits(default_run):
    results = json.loads((default_run / "results.json").read_text())
    assert results["test_acc"] >= 0.98 and results["epochs"] == 30


def test_run_directory_contents(default_run):
    assert RUN_FILES <= {p.name for p in default_run.iterdir()}
    assert not [p for p in default_run.iterdir() if p.name.startswith(".")]  # no temp files left
    cfg = json.loads((default_run / "config.json").read_text())
    assert cfg["model"] == "lenet" and cfg["data"] == "digits"
    assert cfg["train"]["seed"] == 0 and cfg["train"]["epochs"] == 30 and cfg["augment"]["translate"] == 1
    assert cfg["environment"]["torch"] == torch.__version__ and cfg["device"] == "cpu"
    rows = (default_run / "metrics.csv").read_text().splitlines()
    assert rows[0] == "epoch,loss,acc,val_loss,val_acc,lr" and len(rows) == 31
    assert (default_run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(default_run / "curves.png") as img:
        assert img.size[0] > 500
    card = json.loads((default_run / "model.json").read_text())
    assert card["name"] == "lenet" and card["input_shape"] == [1, 8, 8] and len(card["classes"]) == 10


def test_model_rebuilt_from_run_gives_the_recorded_accuracy(default_run, digits):
    from classicnets.train import evaluate
    model, card = load_model(default_run)
    acc = evaluate(model, digits, normalization=card.norm)["acc"]
    assert acc == json.loads((default_run / "results.json").read_text())["test_acc"]


def test_plain_progress_prints_keras_epoch_lines(cli, tmp_path):
    code, out, _ = cli("train", "--epochs", 2, "--out", tmp_path / "r", "--progress", "plain")
    assert code == 0
    assert "Train on 1,257 samples, validate on 180 samples" in out
    assert "Epoch 2/2 - " in out and " - loss: " in out and " - val_acc: " in out and "Test: loss" in out
    code, out, _ = cli("train", "--epochs", 1, "--out", tmp_path / "q", "--quiet")
    assert code == 0 and out.splitlines()[0].startswith("Test: loss")


def test_same_seed_same_metrics_through_the_cli(cli, tmp_path):
    for name in ("a", "b"):
        assert cli("train", "--epochs", 3, "--seed", 7, "--out", tmp_path / name, "-q")[0] == 0
    assert (tmp_path / "a/metrics.csv").read_text() == (tmp_path / "b/metrics.csv").read_text()


def test_resume_after_interruption_matches_the_uninterrupted_run(cli, tmp_path, monkeypatch):
    args = ("train", "--epochs", 4, "--seed", 5, "-q")
    assert cli(*args, "--out", tmp_path / "full")[0] == 0

    real = Checkpoint.on_epoch_end

    def interrupt_after_second_epoch(self, trainer, epoch, logs):
        real(self, trainer, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt
    monkeypatch.setattr(Checkpoint, "on_epoch_end", interrupt_after_second_epoch)
    code, _, err = cli(*args, "--out", tmp_path / "cut")
    assert code == 130 and f"--resume {tmp_path / 'cut'}" in err
    assert len((tmp_path / "cut/metrics.csv").read_text().splitlines()) == 3
    assert not (tmp_path / "cut/model.safetensors").exists()
    code, _, err = cli("evaluate", tmp_path / "cut")
    assert code == 2 and "has not finished" in err and "--resume" in err
    monkeypatch.setattr(Checkpoint, "on_epoch_end", real)

    assert cli("train", "--resume", tmp_path / "cut", "-q")[0] == 0
    assert (tmp_path / "cut/metrics.csv").read_text() == (tmp_path / "full/metrics.csv").read_text()
    timeless = [{k: v for k, v in json.loads((tmp_path / r / "results.json").read_text()).items()
                 if k != "wall_time_s"} for r in ("cut", "full")]
    assert timeless[0] == timeless[1]
    assert (tmp_path / "cut/model.safetensors").read_bytes() == (tmp_path / "full/model.safetensors").read_bytes()
    record = json.loads((tmp_path / "cut/config.json").read_text())
    assert record["train"]["epochs"] == 4 and len(record["resumed"]) == 1 and "command" in record


def test_evaluate_prints_accuracy_and_confusion_matrix(cli, default_run):
    code, out, _ = cli("evaluate", default_run)
    assert code == 0 and "test: loss" in out and "(360 samples)" in out and "true \\ pred" in out
    assert (default_run / "confusion-test.png").stat().st_size > 1000
    res = json.loads((default_run / "results.json").read_text())
    cm = np.array(res["test_confusion"])
    assert cm.sum() == 360 and np.trace(cm) / 360 == pytest.approx(res["test_acc"])


def test_predict_on_png_images_of_test_digits(cli, default_run, digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # short relative names keep one table row per line
    files, labels = [], []
    for i in range(10):
        a = (digits.test.x[i, 0].numpy().astype(np.int32) * 255 // 16).astype(np.uint8)
        path = f"digit{i}.png"
        Image.fromarray(a).resize((32, 32), Image.Resampling.NEAREST).save(path)  # as a user's file
        files.append(path)
        labels.append(str(int(digits.test.y[i])))
    code, out, _ = cli("predict", default_run, *files, "--top-k", 2)
    assert code == 0
    predicted = [line.split("│")[2].strip() for line in out.splitlines() if "digit" in line]
    assert len(predicted) == 10 and sum(p == t for p, t in zip(predicted, labels)) >= 9


def test_predict_on_npy_array_batch(cli, default_run, digits, tmp_path):
    np.save(tmp_path / "batch.npy", digits.test.x[:4].numpy())
    code, out, _ = cli("predict", default_run, tmp_path / "batch.npy", "-k", 1)
    assert code == 0 and "batch.npy[3]" in out


def test_summary_models_and_datasets_listings(cli):
    code, out, _ = cli("summary", "lenet", "--input", "1x8x8")
    assert code == 0 and "Total params: 53,002" in out and "Multiply-adds" in out
    code, out, _ = cli("summary", "lenet", "--input", "3x28x28", "--batch", 8)
    assert code == 0 and "(8, 32, 28, 28)" in out and "per batch of 8" in out
    code, out, _ = cli("models")
    assert code == 0 and "lenet5" in out and "61,706" in out
    code, out, _ = cli("datasets")
    assert code == 0 and "digits" in out and "1,257" in out


@pytest.mark.parametrize("args,message", [
    (("train", "--model", "lenett"), "unknown model 'lenett'; did you mean 'lenet'"),
    (("train", "--data", "digit"), "unknown data set 'digit'; did you mean 'digits'"),
    (("train", "--arg", "depth=3"), "model 'lenet' has no option 'depth'"),
    (("train", "--model", "lenet5", "--epochs", "1"), "lenet5 needs images of at least 16x16, and digits's are 8x8"),
    (("train", "--device", "cuda"), "no CUDA GPU is available"),
    (("train", "--device", "tpu"), "unknown device 'tpu'"),
    (("summary", "lenet", "--input", "3x8x8", "--arg", "in_channels=1"),
     "layer 'features.0' (Conv2d) received (1, 3, 8, 8)"),
    (("summary", "lenet", "--input", "1x4x4", "--arg", "input_size=8"),
     "layer 'classifier.1' (Linear) received (1, 64)"),
    (("summary", "lenet", "--input", "8by8"), "cannot read input size '8by8'"),
    (("evaluate", "no/such/run"), "run directory no/such/run does not exist"),
    (("train", "--resume", "no/such/run"), "run directory no/such/run does not exist"),
])
def test_user_errors_are_one_sentence_with_status_2(cli, args, message):
    code, out, err = cli(*args)
    assert code == 2 and message in err and "Traceback" not in err
    assert err.startswith("classicnets: error: ") and len(err.strip().splitlines()) == 1


def test_damaged_files_in_a_run_are_named(cli, default_run, tmp_path):
    import shutil
    run = tmp_path / "copy"
    shutil.copytree(default_run, run)
    (run / "results.json").unlink()  # as if stopped before the end
    (run / "checkpoint.safetensors").write_bytes(b"garbage")
    code, _, err = cli("train", "--resume", run)
    assert code == 2 and f"checkpoint {run / 'checkpoint.safetensors'} is damaged" in err
    (run / "model.safetensors").write_bytes(b"garbage")
    code, _, err = cli("predict", run, tmp_path / "x.png")
    assert code == 2 and "model.safetensors is damaged" in err
    (tmp_path / "x.png").write_bytes(b"not a png")
    shutil.copy(default_run / "model.safetensors", run / "model.safetensors")
    code, _, err = cli("predict", run, tmp_path / "x.png")
    assert code == 2 and f"cannot read image {tmp_path / 'x.png'}" in err


def test_existing_run_directory_is_not_overwritten(cli, default_run):
    before = (default_run / "metrics.csv").read_text()
    code, _, err = cli("train", "--out", default_run)
    assert code == 2 and "already holds a finished run" in err and "evaluate" in err
    assert (default_run / "metrics.csv").read_text() == before


def test_resume_refuses_changed_settings(cli, default_run):
    for option in (("--lr", "0.1"), ("--cutout", "4"), ("--rotation-range", "10"), ("--translate", "2")):
        code, _, err = cli("train", "--resume", default_run, *option)
        assert code == 2 and "only --epochs may change" in err, option
    code, _, err = cli("train", "--resume", default_run, "--epochs", "40")
    assert code == 2 and "onecycle schedule is fixed to 30 epochs" in err


def test_console_entry_point_exits_2_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "classicnets.cli", "summary", "nosuchnet"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown model 'nosuchnet'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_summary_answers_the_vgg16_exercise_and_converts_to_fully_convolutional(cli):
    code, out, _ = cli("summary", "vgg16", "--input", "3x224x224")
    assert code == 0 and "Total params: 138,357,544" in out
    assert "Forward activations: 58.13 MB per example" in out and "RF / stride" in out
    code, out, _ = cli("summary", "vgg16", "--fcn", "3x224x224", "--input", "3x384x384")
    assert code == 0 and "(1, 1000, 6, 6)" in out and "head.0 (Conv2d)" in out


def test_summary_folds_blocks_and_depth(cli):
    code, out, _ = cli("summary", "googlenet", "--fold-blocks")
    assert code == 0 and "inception4a (InceptionModule)" in out and "branch1" not in out
    code, out, _ = cli("summary", "resnet50", "--depth", "1")
    assert code == 0 and "conv3 (Sequential)" in out and "conv3.0" not in out


def test_summary_strict_fails_on_invalid_geometry(cli):
    code, out, err = cli("summary", "lenet5", "--input", "1x33x33", "--strict")
    assert code == 2 and "invalid architecture" in err and "is not an integer" in err
    code, out, _ = cli("summary", "lenet5", "--input", "1x33x33", "--arg", "input_size=33")
    assert code == 0 and "Warning: layer 'features.2' (MaxPool2d)" in out


def test_summary_of_text_models_takes_word_ids(cli):
    code, out, err = cli("summary", "imdb_simple_rnn")  # the model's own input: 500 word ids
    assert code == 0, err
    assert "(1, 500, 32)" in out and "Total params: 322,145" in out and "Keras would print 322,113" in out
    code, out, err = cli("summary", "imdb_conv1d", "--input", "500", "--dtype", "long")
    assert code == 0 and "(1, 32, 494)" in out and "Total params: 1,315,937" in out and "Keras would" not in out
    code, out, err = cli("summary", "imdb_stacked_rnn", "--arg", "include_top=false")
    assert code == 0 and "(1, 500, 32)" in out and "Keras would print 328,320" in out
    code, out, err = cli("summary", "imdb_conv1d", "--input", "500", "--dtype", "float")
    assert code == 2 and "integer word ids" in err
    code, out, err = cli("summary", "imdb_cnn", "--input", "6")
    assert code == 2 and "too short" in err


def test_study_vanishing_gradients_writes_a_plot_and_a_table(cli, tmp_path):
    code, out, err = cli("study", "vanishing-gradients", "--epochs", "0", "--out", tmp_path)
    assert code == 0, err
    assert "SimpleRNN" in out and "LSTM" in out and "GRU" in out and "first / last" in out
    assert (tmp_path / "vanishing-gradients.png").stat().st_size > 10_000
    record = json.loads((tmp_path / "vanishing-gradients.json").read_text())
    rnn = record["curves"]["initialisation"]["simple_rnn"]
    assert len(rnn) == 100 and rnn[0] < rnn[-1] / 100  # the SimpleRNN's gradient decays by orders of magnitude


def test_study_after_training_shows_lstm_and_gru_keeping_their_gradient():
    from classicnets.studies import VanishingGradients
    study = VanishingGradients(length=100, units=32, epochs=8, train_length=50).run(log=lambda s: None)
    trained = study.curves["trained"]
    assert trained["simple_rnn"][0] < trained["simple_rnn"][-1] / 1e4      # still vanishing
    for name in ("lstm", "gru"):
        assert trained[name][0] > trained[name][-1] / 100, name            # flat within two decades
        assert study.test_mse[name] < 0.02 < 0.12 < study.test_mse["simple_rnn"]


def test_sequence_training_on_the_generated_adding_task_from_the_command_line(cli, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("train", "--model", "gru", "--data", "adding", "--data-arg", "length=10",
                         "--arg", "units=8", "--epochs", "2", "--out", run, "--progress", "plain")
    assert code == 0, err
    assert "Test: loss" in out and "acc" not in out.split("Test:")[1]  # regression: MSE only
    card = json.loads((run / "model.json").read_text())
    assert card["task"] == "regression" and card["input_shape"] == [10, 2] and card["args"]["in_features"] == 2
    code, out, err = cli("evaluate", run)
    assert code == 0 and out.startswith("test: loss")


def test_scale_normalisation_and_image_folder_size_options(cli, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("train", "--epochs", "1", "--normalize", "scale", "--out", run, "--progress", "none")
    assert code == 0, err
    norm = json.loads((run / "model.json").read_text())["normalization"]
    assert norm == {"max_value": 16.0, "mean": [0.0], "std": [1.0]}


def test_predict_on_sequence_models(cli, tmp_path):
    from classicnets.data import load_dataset
    run = tmp_path / "adding"
    assert cli("train", "--model", "gru", "--data", "adding", "--data-arg", "length=10", "--arg", "units=8",
               "--epochs", 1, "--out", run, "-q")[0] == 0
    data = load_dataset("adding", length=10)
    np.save(tmp_path / "one.npy", data.test.x[0].numpy())
    np.save(tmp_path / "batch.npy", data.test.x[:3].numpy())
    code, out, err = cli("predict", run, tmp_path / "one.npy", tmp_path / "batch.npy")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith(f"{tmp_path / 'one.npy'}: ") and "batch.npy[2]: " in lines[3]
    float(lines[0].split(": ")[1])
    np.save(tmp_path / "wrong.npy", np.zeros((3, 10, 5), np.float32))
    code, _, err = cli("predict", run, tmp_path / "wrong.npy")
    assert code == 2 and "the model takes sequences of shape (10, 2)" in err

    run = tmp_path / "copy"
    assert cli("train", "--model", "gru", "--data", "copy", "--data-arg", "delay=3", "--arg", "units=8",
               "--arg", "embed_dim=4", "--epochs", 1, "--out", run, "-q")[0] == 0
    seq = load_dataset("copy", delay=3).test.x[:2].numpy()
    np.save(tmp_path / "copy.npy", seq)
    code, out, err = cli("predict", run, tmp_path / "copy.npy")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and len(lines[1].split(": ")[1].split()) == seq.shape[1]  # a class per step


def test_study_shows_progress_while_training(cli, tmp_path):
    code, out, err = cli("study", "vanishing-gradients", "--epochs", 1, "--length", 10, "--train-length", 6,
                         "--units", 4, "--out", tmp_path)
    assert code == 0, err
    assert out.count("Epoch 1/1 - ") == 3  # one line per network's epoch, as training goes
