"""`compare`: a row per run with numbers read back from its files, runs found one or two levels down,
unfinished and damaged runs listed with their status instead of failing, and every output form."""
import csv
import io
import json
import math
import shutil

import pytest

from classicnets import record
from classicnets.config import RunConfig
from classicnets.errors import UserError
from classicnets.runs import compare
from classicnets.runs.run import train_run
from classicnets.train import TrainConfig


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run = tmp_path_factory.mktemp("trained") / "20260101-120000-lenet-digits"
    train_run(RunConfig(train=TrainConfig(epochs=2)), out=run, log=lambda s: None)
    return run


def copy(run, dest, *, config=None, results=None, remove=()):
    """A copy of `run` at `dest`, with config.json / results.json entries changed and files removed."""
    shutil.copytree(run, dest)
    for name, changes in ((record.CONFIG, config), (record.RESULTS, results)):
        if changes:
            d = json.loads((dest / name).read_text())
            d.update(changes)
            (dest / name).write_text(json.dumps(d))
    for name in remove:
        (dest / name).unlink()
    return dest


def metrics(run):
    return list(csv.DictReader(io.StringIO((run / record.METRICS).read_text())))


def test_a_finished_run_reads_back_its_own_numbers(finished):
    import torch

    from classicnets.inspect import summarize
    from classicnets.transfer.heads import model_from_card

    row = compare.collect_run(finished)
    card = record.read_card(finished)
    with torch.device("meta"):
        expected_params = summarize(model_from_card(card), card.input_shape).total_params
    val = [float(r["val_acc"]) for r in metrics(finished)]
    results = json.loads((finished / record.RESULTS).read_text())
    assert row.status == "finished" and not row.problems
    assert (row.model, row.data, row.recipe) == ("lenet", "digits", None)
    assert row.params == expected_params  # from the safetensors header alone, as summary counts them
    assert (row.epochs, row.epochs_planned) == (2, 2)
    assert row.best_val_acc == max(val) and row.best_epoch == val.index(max(val)) + 1
    assert row.test_acc == results["test_acc"]
    assert row.wall_time_source == "results.json" and row.wall_time_s == results["wall_time_s"] > 0


def test_runs_are_found_one_and_two_levels_down(finished, tmp_path):
    copy(finished, tmp_path / "a")
    copy(finished, tmp_path / "sweep" / "lr-1e-3")
    copy(finished, tmp_path / "sweep" / "lr-3e-3")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("not a run")
    names = [name for name, _ in compare.find_runs([tmp_path])]
    assert names == ["a", "sweep/lr-1e-3", "sweep/lr-3e-3"]
    # a run named directly is itself, and naming it twice lists it once
    assert [n for n, _ in compare.find_runs([tmp_path / "a", tmp_path / "a"])] == ["a"]


def test_unfinished_resumed_not_started_and_damaged_runs_are_listed_with_their_status(finished, tmp_path, cli):
    copy(finished, tmp_path / "done")
    copy(finished, tmp_path / "resumed", config={"resumed": [{"from_epoch": 1, "command": "classicnets train"}]})
    copy(finished, tmp_path / "interrupted", remove=(record.RESULTS, record.WEIGHTS))
    (tmp_path / "fresh").mkdir()
    shutil.copy(finished / record.CONFIG, tmp_path / "fresh" / record.CONFIG)
    bad_json = copy(finished, tmp_path / "bad-json")
    (bad_json / record.CONFIG).write_text('{"model": "lenet", ')
    garbage = copy(finished, tmp_path / "garbage-metrics")
    (garbage / record.METRICS).write_text("epoch,loss\n1,0.5\n2,lots\n")
    truncated = copy(finished, tmp_path / "truncated-weights")
    (truncated / record.WEIGHTS).write_bytes((finished / record.WEIGHTS).read_bytes()[:100])
    copy(finished, tmp_path / "no-metrics", remove=(record.METRICS,))

    rows = {r.run: r for r in compare.collect([tmp_path])}
    assert {k: r.status for k, r in rows.items()} == {
        "done": "finished", "resumed": "resumed", "interrupted": "interrupted", "fresh": "not started",
        "bad-json": "damaged", "garbage-metrics": "damaged", "truncated-weights": "damaged", "no-metrics": "damaged"}
    # what could be read still is: the interrupted run's parameters come from its checkpoint
    assert rows["interrupted"].params == rows["done"].params and rows["interrupted"].epochs == 2
    assert rows["interrupted"].test_acc is None
    assert rows["fresh"].epochs is None and rows["fresh"].epochs_planned == 2
    assert rows["resumed"].wall_time_s == rows["done"].wall_time_s  # results.json keeps the sum over sessions
    assert any("config.json" in p for p in rows["bad-json"].problems)
    assert any("line 3" in p and "lots" in p for p in rows["garbage-metrics"].problems)
    assert any("model.safetensors" in p for p in rows["truncated-weights"].problems)
    assert rows["no-metrics"].problems == ["metrics.csv is missing"]
    assert rows["garbage-metrics"].test_acc == rows["done"].test_acc

    code, out, err = cli("compare", tmp_path)
    assert code == 0, err
    for name in rows:  # every run is a row (names may fold onto two lines) and each problem is a note
        assert name[:8] in out
    assert "truncated-weights: model.safetensors is damaged" in out


def test_the_course_figure_and_the_difference_use_the_same_metric(finished, tmp_path):
    final_val = float(metrics(finished)[-1]["val_acc"])
    test = json.loads((finished / record.RESULTS).read_text())["test_acc"]
    course = {"epochs": 12, "quote": "reaches 99% after 12 epochs", "source": "course, chapter 3"}
    a = copy(finished, tmp_path / "val", results={"course": {**course, "metric": "val_acc", "value": 0.99}})
    b = copy(finished, tmp_path / "test", results={"course": {**course, "metric": "test_acc", "value": 0.5}})
    c = copy(finished, tmp_path / "loss", results={"course": {**course, "metric": "loss", "value": 0.1}})
    d = copy(finished, tmp_path / "bad", results={"course": {"metric": "val_acc", "value": "99%"}})
    ra, rb, rc, rd = (compare.collect_run(p) for p in (a, b, c, d))
    assert (ra.course_metric, ra.course_value, ra.course_epochs) == ("val_acc", 0.99, 12)
    assert ra.run_value == final_val and ra.diff == pytest.approx(final_val - 0.99)
    assert rb.diff == pytest.approx(test - 0.5)
    assert rc.diff == pytest.approx(float(metrics(finished)[-1]["loss"]) - 0.1)
    assert rd.course_value is None and rd.status == "damaged" and "course" in rd.problems[0]
    lines = []
    compare.render([ra, rb, rc], lines.append, width=80)
    text = "\n".join(lines)
    assert "99.0" in text and f"{100 * (final_val - 0.99):+.1f}" in text and "diff in points" in text


def test_recorded_wall_time_is_preferred_to_file_times(finished, tmp_path):
    row = compare.collect_run(copy(finished, tmp_path / "r", results={"wall_time_s": 125.5}))
    assert (row.wall_time_s, row.wall_time_source) == (125.5, "results.json")
    assert compare.format_duration(125.5) == "2:06" and compare.format_duration(7300) == "2h01"


def test_sorting_by_any_column_puts_runs_without_a_value_last(finished, tmp_path):
    rows = [compare.RunRow(run=n, path=n, status="finished", test_acc=t, model=m)
            for n, t, m in (("a", 0.5, "vgg16"), ("b", None, "Lenet"), ("c", 0.9, "alexnet"))]
    assert [r.run for r in compare.sort_rows(rows, "test")] == ["a", "c", "b"]
    assert [r.run for r in compare.sort_rows(rows, "test", reverse=True)] == ["c", "a", "b"]
    assert [r.run for r in compare.sort_rows(rows, "model")] == ["c", "b", "a"]  # case-insensitive
    rows[0].test_acc = math.nan  # a NaN is no value either
    assert [r.run for r in compare.sort_rows(rows, "test_acc")] == ["c", "a", "b"]
    with pytest.raises(UserError, match="unknown column 'tset'; did you mean 'test'"):
        compare.sort_rows(rows, "tset")


def test_csv_and_json_hold_every_field_at_full_precision(finished, tmp_path, cli):
    copy(finished, tmp_path / "one")
    copy(finished, tmp_path / "two", results={"test_acc": 0.125})
    code, out, _ = cli("compare", tmp_path, "--csv", "--sort", "test")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["run"] for r in rows] == ["two", "one"] and list(rows[0]) == compare.OUTPUT_FIELDS
    assert float(rows[0]["test_acc"]) == 0.125 and int(rows[1]["params"]) > 0
    code, out, _ = cli("compare", tmp_path, "--json", "--sort", "test", "--reverse")
    data = json.loads(out)
    assert code == 0 and [r["run"] for r in data] == ["one", "two"] and data[1]["test_acc"] == 0.125
    assert data[0]["problems"] == [] and data[0]["best_val_acc"] == compare.collect_run(finished).best_val_acc
    code, _, err = cli("compare", tmp_path, "--csv", "--json")
    assert code == 2 and "not allowed with" in err


def test_the_table_fits_80_columns(finished, tmp_path):
    copy(finished, tmp_path / "20260101-120000-lenet-digits-with-a-long-name",
         config={"recipe": {"name": "lenet-course", "from_recipe": ["lr"], "overridden": []}},
         results={"course": {"metric": "val_acc", "value": 0.99, "epochs": 12}})
    copy(finished, tmp_path / "stopped", remove=(record.RESULTS, record.WEIGHTS))
    lines = []
    compare.render(compare.collect([tmp_path]), lines.append, width=80)
    table = lines[:lines.index(next(line for line in lines if line.startswith("accuracies in %")))]
    assert max(map(len, table)) <= 80
    text = "\n".join(table)
    for word in ("interrupted", "finished", "lenet-course", "99.0", "53.0K", "2/2"):
        assert word in text


def test_plot_overlays_validation_accuracy_and_falls_back_for_runs_without(finished, tmp_path, cli):
    copy(finished, tmp_path / "val")
    no_val = copy(finished, tmp_path / "no-val")
    rows = metrics(finished)
    (no_val / record.METRICS).write_text("epoch,loss,acc,lr\n" + "".join(
        f"{r['epoch']},{r['loss']},{r['acc']},{r['lr']}\n" for r in rows))
    regression = copy(finished, tmp_path / "regression")
    (regression / record.METRICS).write_text("epoch,loss,val_loss,lr\n1,2.0,1.5,0.1\n2,1.0,0.9,0.1\n")
    (tmp_path / "fresh").mkdir()
    shutil.copy(finished / record.CONFIG, tmp_path / "fresh" / record.CONFIG)  # no curve to draw

    fig = compare.plot_runs(compare.collect([tmp_path]), tmp_path / "curves.png")
    acc_ax, loss_ax = fig.axes
    assert [line.get_label() for line in acc_ax.lines] == ["no-val (acc)", "val"]
    assert [line.get_label() for line in loss_ax.lines] == ["regression (val_loss)"]
    assert list(acc_ax.lines[1].get_ydata()) == [float(r["val_acc"]) for r in rows]
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    code, out, err = cli("compare", tmp_path / "val", "--plot", tmp_path / "one.png", "--json")
    assert code == 0 and json.loads(out) and "Saved" in err and (tmp_path / "one.png").exists()
    with pytest.raises(UserError, match="no curves to plot"):
        compare.plot_runs([compare.collect_run(tmp_path / "fresh")], tmp_path / "none.png")


def test_mistakes_on_the_command_line_are_one_sentence(finished, tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args, words in [(("compare",), "no runs directory here"),
                        (("compare", tmp_path / "missing"), "does not exist"),
                        (("compare", tmp_path), "holds no run directories"),
                        (("compare", finished, "--sort", "bogus"), "unknown column")]:
        code, out, err = cli(*args)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, (args, err)


def _set_val_acc(run, values):
    rows = metrics(run)
    for r, v in zip(rows, values):
        r["val_acc"] = v
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    (run / record.METRICS).write_text(buf.getvalue())


@pytest.mark.parametrize("best, expected", [(True, 0.9), (False, 0.7)])
def test_compare_and_train_set_the_course_beside_the_run_like_with_like(finished, tmp_path, best, expected):
    """A course figure of its best epoch (imdb_simple_rnn's 'maximum accuracy') is set beside the run's best
    epoch, a last-epoch figure beside the last: in `compare`'s diff and in `train`'s last line alike."""
    from types import SimpleNamespace

    from classicnets.runs.run import course_comparison
    course = {"metric": "val_acc", "value": 0.85, "epochs": 10, "quote": "q", "source": "s", "best": best}
    run = copy(finished, tmp_path / "r", results={"course": course})
    _set_val_acc(run, ["0.9", "0.7"])
    row = compare.collect_run(run)
    assert row.course_best is best and row.run_value == expected and row.diff == pytest.approx(expected - 0.85)
    line, value = course_comparison(course, SimpleNamespace(history={"val_acc": [0.9, 0.7]}, epoch=[1, 2]), {})
    assert value == row.run_value
    assert line.endswith("this run: best 90.00% val at epoch 1" if best else "this run: 70.00% val after 2 epochs")
    lines = []
    compare.render([row], lines.append, width=100)
    text = "\n".join(lines)
    assert f"{100 * (expected - 0.85):+.1f}" in text and "like with like" in text
    course_cell = compare.table_cells(row)[[h for h, _ in compare.TABLE_COLUMNS].index("course")]
    assert course_cell == ("85.0\nbest val" if best else "85.0\nval")


def test_course_figure_run_value_skips_missing_epochs_and_reads_losses_downwards():
    from classicnets.recipes import CourseFigure
    best_loss = CourseFigure("val_loss", 0.4, 10, "q", "s", best=True)
    assert best_loss.run_value([0.9, None, float("nan"), 0.5, 0.5, 0.6], {}) == (0.5, 4)  # the first epoch reaching it
    assert CourseFigure("val_acc", 0.8, 10, "q", "s").run_value([0.7, 0.9, None], {}) == (None, None)  # last has none
    assert CourseFigure("test_acc", 0.8, None, "q", "s").run_value(None, {"test_acc": 0.75}) == (0.75, None)
