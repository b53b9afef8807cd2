"""Issue 23, the command line: names printed as written, damaged results named, long paths, read-only
runs, replaced data, piped tables, TERM=dumb, validation splits, glyphs and weights errors, summary's
sizes, extract's suggestions, and a legible --plot of many runs."""
import errno
import io
import json
import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

from classicnets import record
from classicnets.config import RunConfig
from classicnets.errors import UserError
from classicnets.runs import compare
from classicnets.train import TrainConfig

# class names rich would read as markup or emoji codes (a folder name cannot hold "/")
CLASSES = ["[unknown]", "[red]cat", ":smile:"]


def one_line(code, err, status=2):
    """A user error as the issue asks: one line on stderr, the status, no traceback."""
    assert code == status and "Traceback" not in err, err
    assert err.startswith("classicnets: error: ") and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path / "cache"))


def image_folder(root, classes=CLASSES, size=8, per_class=6, seed=0):
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for k, c in enumerate(classes):
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray((rng.random((size, size)) * 60 + 90 * k).astype(np.uint8)).save(d / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A one-epoch run on an image folder whose class names look like markup."""
    from classicnets.runs.run import train_run

    base = tmp_path_factory.mktemp("bracket")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLASSICNETS_DATA", str(base / "cache"))
        folder = image_folder(base / "imgs")
        train_run(RunConfig(data=str(folder), data_args={"size": 8}, train=TrainConfig(epochs=1)), out=base / "run",
                  log=lambda s: None, warn=lambda s: None)
    return base / "run"


def copy_run(run, dest, **changes):
    """A copy of `run`, with results.json entries changed."""
    shutil.copytree(run, dest)
    if changes:
        results = json.loads((dest / record.RESULTS).read_text())
        results.update(changes)
        (dest / record.RESULTS).write_text(json.dumps(results))
    return dest


# -- item 5: names print as written ------------------------------------------------------------------

def test_class_names_that_look_like_markup_print_as_written_in_evaluate(cli, run, tmp_path):
    code, out, err = cli("evaluate", copy_run(run, tmp_path / "r"))
    assert code == 0, err
    header = next(line for line in out.splitlines() if "true \\ pred" in line)
    assert all(c in header for c in CLASSES), out
    assert all(any(line.startswith(f"│ {c} ") for line in out.splitlines()) for c in CLASSES), out


def test_class_names_that_look_like_markup_print_as_written_in_predict(cli, run, tmp_path):
    r = copy_run(run, tmp_path / "r")
    card = json.loads((r / record.CARD).read_text())
    card["classes"] = ["[/]one", "[red]cat[/red]", "[unknown]"]  # "[/]one" made rich raise MarkupError
    (r / record.CARD).write_text(json.dumps(card))
    image = tmp_path / "[unknown]" / "0.png"
    image.parent.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    code, out, err = cli("predict", r, image, "--top-k", 3)
    assert code == 0, err
    row = next(line for line in out.splitlines() if "0.png" in line)
    assert str(image) in row and all(c in row for c in card["classes"]), out


def test_a_confusion_table_and_its_largest_confusions_print_names_as_written(capsys):
    from classicnets.runs.confusion import render_confusions
    from classicnets.runs.tasks.classify import _print_confusion

    names = ["[/]one", "[red]cat[/red]", "[unknown]"]
    _print_confusion(np.array([[2, 1, 0], [0, 3, 0], [1, 0, 2]]), names)
    out = capsys.readouterr().out
    assert all(n in out for n in names), out
    lines = []
    render_confusions(np.array([[2, 1, 0], [0, 3, 0], [1, 0, 2]]), names, lines.append)
    assert "[/]one -> [red]cat[/red]" in "\n".join(lines)


def test_a_run_named_like_markup_keeps_its_name_in_compare(cli, run, tmp_path):
    copy_run(run, tmp_path / "runs" / "[run] x")
    code, out, err = cli("compare", tmp_path / "runs")
    assert code == 0, err
    assert any(line.startswith("[run] x ") for line in out.splitlines()), out


# -- item 6: compare validates what it reads ---------------------------------------------------------

@pytest.mark.parametrize("value, shown", [(1.7, "1.7"), ("high", '"high"'), (-0.2, "-0.2")])
def test_a_damaged_test_accuracy_is_listed_as_damaged_not_shown(run, tmp_path, value, shown):
    row = compare.collect_run(copy_run(run, tmp_path / "r", test_acc=value))
    assert row.status == "damaged" and row.test_acc is None
    assert f"results.json has test_acc {shown}, not a number from 0 to 1" in row.problems


def test_damaged_counts_times_and_curves_are_named(run, tmp_path, cli):
    r = copy_run(run, tmp_path / "runs" / "r", epochs="3", wall_time_s=-5)
    metrics = (r / record.METRICS).read_text().splitlines()
    header = metrics[0].split(",")
    values = metrics[1].split(",")
    values[header.index("acc")] = "1.7"
    (r / record.METRICS).write_text("\n".join([metrics[0], ",".join(values)]) + "\n")
    row = compare.collect_run(r)
    assert row.status == "damaged" and row.wall_time_source != "results.json"
    assert 'results.json has epochs "3", not a whole number of at least 0' in row.problems
    assert "results.json has wall_time_s -5, not a number of seconds" in row.problems
    assert "metrics.csv has acc 1.7 at epoch 1, not a number from 0 to 1" in row.problems
    code, out, _ = cli("compare", tmp_path / "runs")
    assert code == 0 and "170" not in out and "r: results.json has epochs" in out and "damaged" in out


def test_an_undamaged_run_has_no_problems(run):
    row = compare.collect_run(run)
    assert row.status == "finished" and not row.problems and 0 <= row.test_acc <= 1


# -- item 7: an empty name -----------------------------------------------------------------------------

@pytest.mark.parametrize("option, what", [("--recipe", "recipe"), ("--model", "model"), ("--data", "data set")])
def test_an_empty_name_is_one_sentence(cli, tmp_path, monkeypatch, option, what):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("train", option, "", "--epochs", 1)
    assert f"the {what} name is empty" in one_line(code, err) and not out
    assert list(tmp_path.iterdir()) == [tmp_path / "cache"] or not list(tmp_path.iterdir())


def test_an_unknown_name_among_many_suggests_the_closest_not_all(cli):
    code, _, err = cli("extract", "nosuchmodel")
    assert "the closest are" in one_line(code, err) and "`classicnets models` lists all" in err
    assert err.count("'") == 2 + 2 * 3 and len(err) < 200


# -- item 8: paths too long for the file system --------------------------------------------------------

@pytest.mark.parametrize("option, value, message", [
    ("--out", "a" * 300, "holds a name of 300 bytes, and file systems allow 255"),
    ("--out", "abcdefgh/" * 500, "is 4500 bytes long, and the system takes paths of fewer than 4096"),
    ("--runs-dir", "é" * 200, "holds a name of 400 bytes"),
    ("--out", "", "--out is empty"),
])
def test_a_run_path_the_file_system_cannot_take_is_one_sentence_before_any_work(cli, tmp_path, monkeypatch,
                                                                                option, value, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("train", option, value, "--epochs", 1)
    assert message in one_line(code, err) and not out
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["cache"])


def test_a_long_data_file_name_makes_a_short_run_name(tmp_path):
    from classicnets.runs.run import claim_run_dir

    cfg = RunConfig(data=str(tmp_path / ("x" * 240 + ".npz")))
    path, created = claim_run_dir(None, tmp_path / "runs", cfg, {})
    assert created and len(path.name.encode()) <= 160 and path.name.endswith("-" + "x" * 64)


def test_any_path_too_long_is_one_sentence(cli):
    code, _, err = cli("evaluate", "r" * 300)
    assert "is too long for the file system" in one_line(code, err)


# -- item 10: read-only runs and --out -----------------------------------------------------------------

def test_evaluate_on_a_read_only_run_shows_the_scores_and_warns(cli, run, tmp_path, monkeypatch):
    import classicnets.fileio
    import classicnets.runs.plots

    r = copy_run(run, tmp_path / "r")
    before = (r / record.RESULTS).read_text()

    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(classicnets.runs.plots, "plot_confusion", refused)
    monkeypatch.setattr(classicnets.fileio, "write_json", refused)
    code, out, err = cli("evaluate", r)
    assert code == 0 and "test: loss" in out and "true \\ pred" in out and "Saved" not in out
    assert f"cannot save {r / 'confusion-test.png'} (Permission denied)" in err
    assert f"cannot write in {r} (Permission denied); the scores above were not added to its results.json" in err
    assert "Traceback" not in err and (r / record.RESULTS).read_text() == before


def test_study_out_where_nothing_can_be_written_is_refused_before_the_study(cli, tmp_path, monkeypatch):
    import os

    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: str(p) != str(tmp_path) and real(p, mode, **kw))
    code, out, err = cli("study", "exploding-gradients", "--out", tmp_path / "ro" / "studies")
    assert f"cannot write in --out {tmp_path / 'ro' / 'studies'}: {tmp_path} is read-only" in one_line(code, err)
    assert not out
    (tmp_path / "file").write_text("x")
    code, out, err = cli("study", "exploding-gradients", "--out", tmp_path / "file" / "studies")
    assert f"{tmp_path / 'file'} is a file, not a directory" in one_line(code, err) and not out


# -- item 15: the data changed since training ----------------------------------------------------------

def small_npz(path, size=8, classes=3, n=30, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = (rng.random((n, 1, size, size)) * 60 + 60 * y[:, None, None, None]).astype(np.uint8)
    np.savez(path, x_train=x, y_train=y, x_test=x[:9], y_test=y[:9])
    return path


@pytest.mark.parametrize("size, classes, message", [
    (16, 3, "now holds inputs of shape 1x16x16 where the model takes 1x8x8"),
    (8, 4, "now holds 4 classes where the model has 3"),
])
def test_evaluate_after_the_data_was_replaced_is_one_sentence(cli, tmp_path, size, classes, message):
    from classicnets.runs.run import train_run

    data = small_npz(tmp_path / "mine.npz")
    train_run(RunConfig(data=str(data), train=TrainConfig(epochs=1)), out=tmp_path / "r", log=lambda s: None,
              warn=lambda s: None)
    small_npz(data, size=size, classes=classes)
    code, out, err = cli("evaluate", tmp_path / "r")
    assert message in one_line(code, err) and "it has changed since" in err and not out


# -- item 19: piped tables keep whole rows --------------------------------------------------------------

def test_piped_recipe_and_model_listings_keep_every_row_on_one_line(cli):
    from classicnets.catalog import load
    from classicnets.recipes import list_recipes

    code, out, _ = cli("recipes")
    lines = out.splitlines()
    assert code == 0 and any("train --recipe NAME [options that override it]" in line for line in lines)
    for r in list_recipes():
        assert any(r.name in line and r.model in line and r.figure.describe() in line for line in lines), r.name
    code, out, _ = cli("models")
    lines = out.splitlines()
    for m in load()["models"]:
        assert any(f" {m['name']} " in line and m["description"] in line for line in lines), m["name"]


def test_piped_data_set_listing_keeps_descriptions_whole(cli):
    from classicnets.data.registry import list_datasets

    code, out, _ = cli("datasets")
    assert code == 0
    for d in list_datasets():
        assert any(d.description in line for line in out.splitlines()), d.name
    assert len(out.splitlines()) <= 4 + 3 * len(list_datasets()) + 1  # three lines a data set, no wrapping


def test_a_piped_compare_table_does_not_fold_long_names(run, tmp_path):
    name = "a-very-long-run-name-for-a-sweep-with-its-learning-rate-and-seed-0.003-s1"
    row = compare.collect_run(run, name)
    lines = []
    compare.render([row], lines.append, width=None)
    assert any(line.startswith(name + " ") for line in lines), lines
    narrow = []
    compare.render([row], narrow.append, width=80)
    assert all(len(line) <= 80 for line in narrow[:-1]) and not any(name in line for line in narrow)


def test_summary_sizes_and_input_forms(cli):
    code, out, _ = cli("summary", "lenet", "--batch", 99999999999999)
    assert code == 0 and "34.74E per batch of 99999999999999" in out and "00G" not in out
    code, _, err = cli("summary", "lenet", "--input", "3x32")
    assert "input size '3x32' has 2 sizes, but lenet takes CxHxW (an image), e.g. 1x8x8" in one_line(code, err)


# -- item 20: TERM=dumb --------------------------------------------------------------------------------

class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("term, bar", [("dumb", False), ("xterm-256color", True)])
def test_a_dumb_terminal_gets_plain_epoch_lines(monkeypatch, term, bar):
    import sys

    from classicnets.cli.options import progress_callbacks
    from classicnets.train.progress import ProgressBar

    monkeypatch.setattr(sys, "stdout", Terminal())
    monkeypatch.setenv("TERM", term)
    monkeypatch.delenv("CI", raising=False)
    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_INTERACTIVE", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    [callback] = progress_callbacks("auto")
    assert isinstance(callback, ProgressBar) == bar


def test_a_bar_on_a_console_that_cannot_redraw_prints_the_keras_line_and_no_blank_line():
    from types import SimpleNamespace

    from rich.console import Console

    from classicnets.train.progress import ProgressBar

    buf = io.StringIO()
    bar = ProgressBar(Console(file=buf, width=80, force_terminal=True, force_interactive=False, color_system=None))
    t = SimpleNamespace(num_train=1257, num_val=180, epochs=3, steps_per_epoch=10)
    bar.on_train_begin(t)
    bar.on_epoch_begin(t, 0)
    bar.on_epoch_end(t, 0, {"loss": 0.1234, "acc": 0.9876, "val_loss": 0.2345, "val_acc": 0.95})
    bar.close()
    lines = buf.getvalue().splitlines()
    assert lines[0] == "Train on 1,257 samples, validate on 180 samples"
    assert lines[1].startswith("Epoch 1/3 - ") and lines[1].endswith(" - val_acc: 0.9500") and len(lines) == 2


# -- item 21: a validation split that cannot be drawn ---------------------------------------------------

def test_an_impossible_validation_split_is_refused_before_the_run_directory(cli, tmp_path):
    code, out, err = cli("train", "--val-split", "0.999", "--out", tmp_path / "r")
    assert "cannot hold out 99.9% of 1,257 examples" in one_line(code, err)
    assert not out and not (tmp_path / "r").exists()


# -- item 22: missing glyphs, mathematics in names, PyTorch's words --------------------------------------

def test_figures_draw_emoji_and_dollars_without_warnings(tmp_path):
    from classicnets.runs.plots import plot_confusion, plot_curves

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_curves({"loss": [1.0, 0.5], "acc": [0.5, 0.8]}, tmp_path / "c.png", title="lenet on /data/📁 cats")
        fig = plot_confusion(np.eye(2, dtype=int), [r"$\frac$", "a$b$c"], tmp_path / "m.png", title="$5 📁")
    assert not [w for w in caught if "Glyph" in str(w.message)], [str(w.message) for w in caught]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [r"\$\frac\$", r"a\$b\$c"]


def test_damaged_pth_files_are_named_in_whole_sentences_of_ours(tmp_path, recwarn):
    import torch

    from classicnets.transfer.weights import _read_pytorch

    torch.save({"w": torch.arange(40.0)}, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    torch.save({"w": torch.arange(40.0)}, tmp_path / "zip.pth")
    for name in ("legacy.pth", "zip.pth"):
        data = (tmp_path / name).read_bytes()
        for cut in range(1, len(data), max(1, len(data) // 60)):
            (tmp_path / "cut.pth").write_bytes(data[:cut])
            with pytest.raises(UserError) as e:
                _read_pytorch(tmp_path / "cut.pth", {"w"}, "lenet")
            text = str(e.value)
            assert text.startswith(("weights file ", str(tmp_path))) and text.endswith((")", "model.state_dict())"))
            assert not any(w in text.lower() for w in ("internal", "if you are seeing", "please", "report")), text
    assert not [w for w in recwarn if "torch" in str(w.filename)]


# -- item 23: extract's suggestion ---------------------------------------------------------------------

def test_extract_on_a_detector_suggests_a_model_that_exists(cli):
    from classicnets.runs.run import EXTRACT_EXAMPLE
    from classicnets.zoo import list_models

    code, _, err = cli("extract", "faster_rcnn")
    assert f"(e.g. {EXTRACT_EXAMPLE}'s)" in one_line(code, err) and EXTRACT_EXAMPLE in list_models()


# -- item 24: --plot of many runs ----------------------------------------------------------------------

def test_plotting_500_runs_draws_the_best_20_in_a_figure_of_normal_size(tmp_path):
    rows = [compare.RunRow(run=f"run{i:03d}", path="", status="finished",
                           curves={"epoch": [1.0, 2.0], "val_acc": [0.1, (i % 97) / 100]}) for i in range(500)]
    said = []
    fig = compare.plot_runs(rows, tmp_path / "many.png", warn=said.append)
    drawn = [line.get_label() for line in fig.axes[0].lines]
    best = sorted(rows, key=lambda r: -r.curves["val_acc"][1])[:compare.MAX_CURVES]
    assert len(drawn) == compare.MAX_CURVES and set(drawn) == {r.run for r in best}
    assert fig.axes[0].get_title() == f"the {compare.MAX_CURVES} best of 500 runs"
    assert len(said) == 1 and "draws the 20 best of the 500 runs" in said[0]
    with Image.open(tmp_path / "many.png") as img:
        assert img.size[0] < 1500 and img.size[1] < 1000
