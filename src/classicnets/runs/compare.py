"""Comparing runs: one row per run directory, from the files it holds, never failing on a bad one.

`find_runs` turns the command line's arguments into run directories (a directory holding runs is
searched one and two levels down), `collect` reads one `RunRow` per run (pure counting: nothing is
loaded into a model, the parameter count comes from the safetensors header), and the renderers turn
rows into a terminal table, CSV, JSON or one figure of overlaid curves.

A run that is interrupted, resumed, never started or damaged (bad JSON, a missing file, a garbled
metrics.csv) is still a row: its `status` says which, and `problems` says what was wrong, one
sentence each.

Wall time is `results.json`'s `wall_time_s` when the run recorded it; otherwise it is estimated from
file times (config.json is written when training starts, metrics.csv after every epoch), which only
holds for a run never resumed (resuming rewrites config.json) and never copied without its times.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .. import record
from ..errors import UserError

RUN_FILES = (record.CONFIG, record.METRICS, record.CARD, record.RESULTS, record.CHECKPOINT, record.WEIGHTS)
FLOAT_DTYPES = {"F8_E4M3", "F8_E5M2", "F16", "BF16", "F32", "F64"}  # parameters and float buffers (Keras's count)


@dataclass
class RunRow:
    run: str                              # name shown: the path below the directory searched
    path: str
    status: str                           # finished, resumed (finished after a resumption), interrupted,
                                          # not started, damaged
    model: str | None = None              # registry name
    recipe: str | None = None             # config.json "recipe" name, if the run came from one
    data: str | None = None               # data set name (or the folder / .npz path it was trained on)
    params: int | None = None             # floating-point tensors in the weights (buffers included)
    epochs: int | None = None             # epochs trained
    epochs_planned: int | None = None
    wall_time_s: float | None = None      # seconds of training
    wall_time_source: str | None = None   # "results.json" or "file times" (an estimate)
    best_val_acc: float | None = None     # highest validation accuracy in metrics.csv (0..1)
    best_epoch: int | None = None         # its epoch (1-based)
    test_acc: float | None = None         # results.json (0..1)
    best_val_map50: float | None = None   # detection runs: highest validation mAP@0.5 in metrics.csv (0..1)
    test_map50: float | None = None       # detection runs: results.json's test mAP@0.5 (VOC, all-point)
    course_metric: str | None = None      # the metric the course quotes: val_acc, test_acc, loss...
    course_value: float | None = None
    course_epochs: int | None = None      # epochs the course trained for its figure
    course_best: bool | None = None       # the course quotes its best epoch (else its last)
    run_value: float | None = None        # the run's value of course_metric, like the course's: best or last epoch
    diff: float | None = None             # run_value - course_value
    resumed: int = 0                      # times the run was resumed
    problems: list[str] = field(default_factory=list)
    curves: dict[str, list[float | None]] = field(default_factory=dict, repr=False)  # metrics.csv columns

    def to_dict(self) -> dict[str, Any]:
        """The row as CSV/JSON fields (curves left out; non-finite numbers as None)."""
        return {f.name: _json_safe(getattr(self, f.name)) for f in fields(self) if f.name != "curves"}


OUTPUT_FIELDS = [f.name for f in fields(RunRow) if f.name != "curves"]
# --sort COLUMN: the table's headers and every output field
SORT_KEYS = {"time": "wall_time_s", "best_val": "best_val_acc", "test": "test_acc", "course": "course_value",
             **{name: name for name in OUTPUT_FIELDS if name not in ("problems", "path")}}


def _json_safe(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _number(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def _count(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


# What each value compare reads must be, and how a problem names it: a damaged file is listed, not shown.
KINDS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "score": (lambda v: n if (n := _number(v)) is not None and 0 <= n <= 1 else None, "a number from 0 to 1"),
    "count": (_count, "a whole number of at least 0"),
    "seconds": (lambda v: n if (n := _number(v)) is not None and n >= 0 else None, "a number of seconds"),
    "number": (_number, "a number"),
    "text": (lambda v: v if isinstance(v, str) else None, "a text"),
}


def _checked(d: dict[str, Any], key: str, kind: str, where: str, problems: list[str]) -> Any:
    """`d[key]` if it is of `kind` (see `KINDS`); None if absent or null, or, with a sentence in
    `problems`, if it is something else ("results.json has test_acc 1.7, not a number from 0 to 1")."""
    value = d.get(key)
    if value is None:
        return None
    read, what = KINDS[kind]
    checked = read(value)
    if checked is None:
        problems.append(f"{where} has {key} {json.dumps(value)[:40]}, not {what}")
    return checked


def is_score(column: str) -> bool:
    """Whether a metrics.csv or results.json column is an accuracy or a mAP: a fraction, 0..1."""
    return column.endswith("acc") or "map" in column.split("_")[-1]


def _check_curves(curves: dict[str, list[float | None]], problems: list[str]) -> None:
    """Accuracies and mAPs outside 0..1 in metrics.csv named (the first of each column) and left out."""
    for column, values in curves.items():
        if not is_score(column):
            continue
        bad = [i for i, v in enumerate(values) if v is not None and math.isfinite(v) and not 0 <= v <= 1]
        if bad:
            epoch = (curves.get("epoch") or [None] * len(values))[bad[0]]
            at = f"epoch {epoch:g}" if epoch is not None else f"line {bad[0] + 2}"
            problems.append(f"{record.METRICS} has {column} {values[bad[0]]:g} at {at}, not a number from 0 to 1")
            curves[column] = [None if i in set(bad) else v for i, v in enumerate(values)]


# -- finding runs ---------------------------------------------------------------------------------
def is_run_dir(path: Path) -> bool:
    """Whether `path` holds any of a run directory's files (a damaged run still counts)."""
    try:
        return path.is_dir() and any((path / name).exists() for name in RUN_FILES)
    except OSError:
        return False


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:  # unreadable: not ours to report, nothing found there
        return []


def find_runs(paths: Sequence[str | os.PathLike]) -> list[tuple[str, Path]]:
    """(name, directory) of every run named, or found one or two levels below a directory named."""
    found: list[tuple[str, Path]] = []
    for arg in paths:
        p = Path(arg)
        if not p.exists():
            raise UserError(f"{p} does not exist; name run directories or a directory holding them")
        if not p.is_dir():
            raise UserError(f"{p} is a file; name run directories or a directory holding them")
        if is_run_dir(p):
            found.append((p.name or p.resolve().name, p))
            continue
        runs = []
        for child in _subdirs(p):
            runs += [child] if is_run_dir(child) else [g for g in _subdirs(child) if is_run_dir(g)]
        if not runs:
            raise UserError(f"{p} holds no run directories (searched one and two levels down)")
        found += [(r.relative_to(p).as_posix(), r) for r in runs]
    unique: dict[Path, tuple[str, Path]] = {}
    for name, p in found:
        unique.setdefault(p.resolve(), (name, p))
    names = [n for n, _ in unique.values()]
    return [(n if names.count(n) == 1 else str(p), p) for n, p in unique.values()]


# -- reading one run --------------------------------------------------------------------------------
def read_metrics(path: Path) -> dict[str, list[float | None]]:
    """metrics.csv as columns ("epoch" included); ValueError naming the line if it is not one."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or not rows[0] or rows[0][0] != "epoch" or len(set(rows[0])) != len(rows[0]):
        raise ValueError("its first line is not a header starting with 'epoch'")
    header = rows[0]
    columns: dict[str, list[float | None]] = {k: [] for k in header}
    for line, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise ValueError(f"line {line} has {len(row)} fields for {len(header)} columns")
        for k, v in zip(header, row):
            try:
                columns[k].append(float(v) if v.strip() else None)
            except ValueError:
                raise ValueError(f"line {line} holds {v[:20]!r}, not a number") from None
    return columns


def count_weights(path: Path, prefix: str = "") -> int:
    """Elements of the floating-point tensors (named `prefix`...) in a safetensors file, read from
    its header alone: no tensor is loaded."""
    from safetensors import safe_open

    total = 0
    with safe_open(str(path), framework="numpy") as f:
        for key in f.keys():
            if key.startswith(prefix):
                s = f.get_slice(key)
                if s.get_dtype() in FLOAT_DTYPES:
                    total += math.prod(s.get_shape())
    return total


def _read_object(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """A JSON object file, or None with a sentence in `problems` (None silently if missing)."""
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        problems.append(f"{path.name} is not readable JSON ({type(e).__name__})")
        return None
    if not isinstance(d, dict):
        problems.append(f"{path.name} does not hold a JSON object")
        return None
    return d


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def collect_run(path: str | os.PathLike, name: str | None = None) -> RunRow:
    """One run directory's row. Never raises for what it finds there: problems become `problems`."""
    path = Path(path)
    state = record.run_state(path)
    row = RunRow(run=name or path.name, path=str(path), status=state)
    problems = row.problems
    expected = {"finished": (record.CONFIG, record.METRICS, record.CARD),
                "interrupted": (record.CONFIG, record.METRICS, record.CARD),
                "not started": (record.CONFIG,), "empty": (record.CONFIG,)}[state]
    problems += [f"{f} is missing" for f in expected if not (path / f).exists()]
    problems += [f"{f} is a directory, not a file" for f in RUN_FILES if (path / f).is_dir()]

    config = _read_object(path / record.CONFIG, problems) or {}
    card = _read_object(path / record.CARD, problems) or {}
    results = _read_object(path / record.RESULTS, problems) or {}
    _describe(row, config, card)

    if (path / record.METRICS).is_file():
        try:
            row.curves = read_metrics(path / record.METRICS)
        except (OSError, UnicodeDecodeError, ValueError, csv.Error) as e:
            problems.append(f"{record.METRICS} is damaged: {e}")
        _check_curves(row.curves, problems)
    curves = row.curves
    done = _checked(results, "epochs", "count", record.RESULTS, problems)
    row.epochs = done if done is not None else (len(curves["epoch"]) if curves else None)

    weights, prefix = (path / record.WEIGHTS, "") if (path / record.WEIGHTS).is_file() \
        else (path / record.CHECKPOINT, "s.model.")  # the model's tensors inside a checkpoint's state
    if weights.is_file():
        from safetensors import SafetensorError
        try:
            row.params = count_weights(weights, prefix) or None
        except (SafetensorError, OSError, ValueError) as e:
            problems.append(f"{weights.name} is damaged: {str(e).splitlines()[0] if str(e) else type(e).__name__}")

    wall_time = _checked(results, "wall_time_s", "seconds", record.RESULTS, problems)
    if wall_time is not None:
        row.wall_time_s, row.wall_time_source = wall_time, "results.json"
    elif not row.resumed and curves:
        start, end = _mtime(path / record.CONFIG), _mtime(path / record.METRICS)
        if start is not None and end is not None and end > start:
            row.wall_time_s, row.wall_time_source = end - start, "file times"

    _scores(row, card, curves, results)
    _course(row, results, curves)
    problems[:] = dict.fromkeys(problems)  # a value read twice (test_acc as the course's metric) named once
    if problems:
        row.status = "damaged"
    elif state == "finished" and row.resumed:
        row.status = "resumed"
    return row


def _describe(row: RunRow, config: dict[str, Any], card: dict[str, Any]) -> None:
    """What the run is (model, data, recipe, epochs planned, resumptions), from config.json and model.json."""
    problems = row.problems
    section = lambda key: config.get(key) if isinstance(config.get(key), dict) else {}  # noqa: E731
    model = _checked(config, "model", "text", record.CONFIG, problems)
    data = _checked(config, "data", "text", record.CONFIG, problems)
    row.model = model or (card.get("name") if isinstance(card.get("name"), str) else None)
    row.data = data or (card.get("data") if isinstance(card.get("data"), str) else None)
    row.recipe = _checked(section("recipe"), "name", "text", f"{record.CONFIG}'s recipe", problems)
    # a run made from published weights (runs.pretrained) plans no training
    row.epochs_planned = 0 if isinstance(config.get("pretrained"), dict) else \
        _checked(section("train"), "epochs", "count", f"{record.CONFIG}'s train", problems)
    resumed = config.get("resumed")
    if resumed is not None and not isinstance(resumed, list):
        problems.append(f"{record.CONFIG} has resumed {json.dumps(resumed)[:40]}, not a list")
    row.resumed = len(resumed) if isinstance(resumed, list) else 0


def _scores(row: RunRow, card: dict[str, Any], curves: dict[str, list], results: dict[str, Any]) -> None:
    """The run's best validation score (and its epoch) and its test score, by its task's metric
    (`runs.tasks`: accuracy for a classifier, mAP@0.5 for a detector); a run whose card is missing
    or damaged is read by every metric it has."""
    from .tasks import TASKS, for_card

    try:
        scores = [for_card(card.get("task", "multiclass")).score]
    except UserError:
        scores = [t.score for t in TASKS.values()]
    for score in filter(None, scores):
        val = curves.get(f"val_{score}") or []
        scored = [(v, i) for i, v in enumerate(val) if _number(v) is not None]
        if scored:
            best, i = max(scored, key=lambda t: (t[0], -t[1]))  # the first epoch reaching the best
            setattr(row, f"best_val_{score}", best)
            epoch = curves["epoch"][i]
            row.best_epoch = int(epoch) if epoch is not None else i + 1
        setattr(row, f"test_{score}", _checked(results, f"test_{score}", "score", record.RESULTS, row.problems))


def _course(row: RunRow, results: dict[str, Any], curves: dict[str, list]) -> None:
    """The course's figure from results.json beside the run's own value of the same metric."""
    course = results.get("course")
    if course is None:
        return
    if not (isinstance(course, dict) and isinstance(course.get("metric"), str)
            and _number(course.get("value")) is not None):
        row.problems.append(f"{record.RESULTS} has a course entry without a metric name and a number")
        return
    from ..recipes import CourseFigure

    metric = course["metric"]
    kind, where = ("score" if is_score(metric) else "number"), f"{record.RESULTS}'s course entry"
    row.course_value = _checked(course, "value", kind, where, row.problems)
    if row.course_value is None:
        return
    row.course_metric = metric
    row.course_epochs = _checked(course, "epochs", "count", where, row.problems)
    row.course_best = course.get("best") is True
    # like with like: test figures from results.json, the others from metrics.csv, the run's best epoch
    # where the course quotes its best, else its last (as `train`'s last line compares them)
    if metric.startswith("test_") or metric not in curves:
        row.run_value = _checked(results, metric, kind, record.RESULTS, row.problems)
    else:
        figure = CourseFigure(metric, row.course_value, row.course_epochs, "", "", best=row.course_best)
        row.run_value = figure.run_value(curves[metric], {})[0]
    if row.run_value is not None:
        row.diff = row.run_value - row.course_value


def collect(paths: Sequence[str | os.PathLike]) -> list[RunRow]:
    """A row for every run named in `paths` or found below a directory there (see `find_runs`)."""
    return [collect_run(p, name) for name, p in find_runs(paths)]


def sort_rows(rows: Iterable[RunRow], column: str, reverse: bool = False) -> list[RunRow]:
    """Rows ordered by `column` (a `SORT_KEYS` name); runs without a value come last either way."""
    try:
        attr = SORT_KEYS[column]
    except KeyError:
        from ..errors import unknown_name
        raise unknown_name("column", column, SORT_KEYS) from None

    def key(r: RunRow):
        v = getattr(r, attr)
        return v.casefold() if isinstance(v, str) else v
    rows = list(rows)
    present = [r for r in rows if _json_safe(getattr(r, attr)) is not None]
    missing = [r for r in rows if _json_safe(getattr(r, attr)) is None]
    return sorted(present, key=key, reverse=reverse) + missing


# -- rendering --------------------------------------------------------------------------------------
def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def is_accuracy(metric: str | None) -> bool:
    return bool(metric) and metric.endswith("acc")


def format_metric(metric: str | None, v: float | None) -> str:
    if v is None:
        return "-"
    return _pct(v) if is_accuracy(metric) else f"{v:.4g}"


def _short_metric(metric: str) -> str:
    """How the table names the course's metric under its figure: val, test, train; losses by name."""
    return {"val_acc": "val", "test_acc": "test", "acc": "train"}.get(metric, metric)


def format_params(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def format_duration(seconds: float | None) -> str:
    """8s, 12:03 (minutes:seconds), 1h02 (hours and minutes)."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}:{s % 60:02d}"
    return f"{s // 3600}h{s % 3600 // 60:02d}"


# the terminal table: (header, justification); accuracies in %, two lines where a cell holds two things
TABLE_COLUMNS = [("run", "left"), ("model\ndata", "left"), ("params", "right"), ("epochs\ntime", "right"),
                 ("best\nval", "right"), ("test", "right"), ("best val\nmAP@.5", "right"), ("test\nmAP@.5", "right"),
                 ("course", "right"), ("diff", "right"), ("status", "left")]
ALWAYS_SHOWN = {"run", "model\ndata", "epochs\ntime", "status"}  # the others when some run has a value
RUN_MIN_WIDTH, MODEL_WIDTH = 10, 12  # a longer run name or recipe folds onto more lines


def table_cells(r: RunRow) -> list[str]:
    """The terminal table's cells of one row, in `TABLE_COLUMNS` order."""
    diff = "-"
    if r.diff is not None:
        diff = f"{100 * r.diff:+.1f}" if is_accuracy(r.course_metric) else f"{r.diff:+.3g}"
    course = "-" if r.course_value is None else \
        f"{format_metric(r.course_metric, r.course_value)}\n{'best ' if r.course_best else ''}{_short_metric(r.course_metric)}"
    time = format_duration(r.wall_time_s)
    epochs = f"{'-' if r.epochs is None else r.epochs}/{'-' if r.epochs_planned is None else r.epochs_planned}"
    return [
        r.run,
        f"{r.recipe or r.model or '-'}\n{Path(r.data).name if r.data else '-'}",
        format_params(r.params),
        f"{epochs}\n{'~' + time if r.wall_time_source == 'file times' else time}",
        "-" if r.best_val_acc is None else f"{_pct(r.best_val_acc)}\nep {r.best_epoch}",
        _pct(r.test_acc),
        _pct(r.best_val_map50),
        _pct(r.test_map50),
        course,
        diff,
        r.status,
    ]


def render(rows: Sequence[RunRow], print_fn: Callable[[str], None] = print, width: int | None = 80) -> None:
    """The comparison as a table `width` columns wide (None: as wide as its rows, for a pipe or a file:
    no name folded), then notes: units, estimates, each problem. Columns no run has a value for (no
    course figures, say) are left out. Run names and the rest are printed as written (no markup)."""
    from rich import box
    from rich.table import Table

    from ..terminal import render_lines

    cells = [table_cells(r) for r in rows]
    shown = [i for i, (h, _) in enumerate(TABLE_COLUMNS) if h in ALWAYS_SHOWN or any(c[i] != "-" for c in cells)]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0), pad_edge=False)  # padding + divider
    def natural(i: int) -> int:  # the widest line of a column, its header included
        return max(len(line) for text in [TABLE_COLUMNS[i][0], *(c[i] for c in cells)] for line in text.split("\n"))
    widths = {i: natural(i) for i in shown}
    if width is not None:
        widths[1] = min(widths[1], MODEL_WIDTH)
        # the run's name takes what the other columns leave (two spaces between columns), folding if it must
        widths[0] = min(widths[0], max(RUN_MIN_WIDTH, width - sum(widths.values()) - 2 * (len(shown) - 1) + widths[0]))
    for i in shown:
        header, justify = TABLE_COLUMNS[i]
        wraps = i in (0, 1)  # names wrap (a long one folds); numbers and status never do
        table.add_column(header, justify=justify, no_wrap=not wraps, overflow="fold" if wraps else "ellipsis",
                         width=widths[i])
    for k, row in enumerate(cells):
        table.add_row(*(row[i] for i in shown), end_section=k < len(cells) - 1)
    lines = render_lines(table, width)
    while lines and not lines[0]:
        lines.pop(0)
    maps = any(r.test_map50 is not None or r.best_val_map50 is not None for r in rows)
    notes = [("accuracies and mAPs" if maps else "accuracies") + " in %" + (
        ", diff in points: the run's value minus the course's, like with like (the run's best epoch where the "
        "course quotes its best, 'best val', else its last epoch)" if any(r.diff is not None for r in rows) else "")]
    if any(r.wall_time_source == "file times" for r in rows):
        notes.append("~time: estimated from file times (config.json to the last metrics.csv write)")
    notes += [f"{r.run}: {p}" for r in rows for p in r.problems]
    for line in lines + notes:
        print_fn(line)


def to_csv(rows: Sequence[RunRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(OUTPUT_FIELDS)
    for r in rows:
        d = r.to_dict()
        d["problems"] = "; ".join(d["problems"])
        w.writerow(["" if d[k] is None else d[k] for k in OUTPUT_FIELDS])
    return buf.getvalue()


def to_json(rows: Sequence[RunRow]) -> str:
    return json.dumps([r.to_dict() for r in rows], indent=2) + "\n"


CURVE_PREFERENCE = ("val_acc", "acc", "val_loss", "loss")
MAX_CURVES = 20  # more overlaid curves read as a tangle, and their legend outgrows the plot


def _best_first(chosen: list[tuple[RunRow, str]]) -> list[tuple[RunRow, str]]:
    """Runs by the best value of the curve drawn: highest accuracy first, then lowest loss (stable)."""
    def key(item):
        r, metric = item
        values = [v for v in map(_number, r.curves[metric]) if v is not None]
        return (0, -max(values)) if is_accuracy(metric) else (1, min(values))
    return sorted(chosen, key=key)


def plot_runs(rows: Sequence[RunRow], path: str | os.PathLike, title: str = "", limit: int = MAX_CURVES,
              warn: Callable[[str], None] | None = None):
    """Each run's validation accuracy (else training accuracy, else validation or training loss)
    against epochs, overlaid in one PNG; losses on a second axis when accuracies are drawn too, and
    the course's figure as a dotted line where it is for the metric drawn. Past `limit` runs only the
    `limit` best (by the curve drawn) are, as the title and `warn` say. Returns the (closed) figure."""
    from matplotlib.ticker import MaxNLocator

    from .plots import _finite, _save, literal, plt

    chosen = []
    for r in rows:
        metric = next((m for m in CURVE_PREFERENCE if any(_number(v) is not None for v in r.curves.get(m, []))), None)
        if metric is not None:
            chosen.append((r, metric))
    if not chosen:
        raise UserError("none of these runs has a metrics.csv with a finished epoch; there are no curves to plot")
    total = len(chosen)
    if total > limit:
        best = {id(r) for r, _ in _best_first(chosen)[:limit]}
        chosen = [(r, m) for r, m in chosen if id(r) in best]  # in the listing's order
        if warn is not None:
            warn(f"--plot draws the {limit} best of the {total} runs with curves (by the best value of the curve "
                 f"drawn); name fewer runs to see others")
    metrics = {m for _, m in chosen}
    fig, acc_ax = plt.subplots(figsize=(8, 5), layout="constrained")
    axes = {"acc": acc_ax}
    if any(is_accuracy(m) for m in metrics):
        if any(not is_accuracy(m) for m in metrics):
            axes["loss"] = acc_ax.twinx()
            axes["loss"].set_ylabel("Loss (dashed)")
        acc_ax.set_ylabel("Validation accuracy" if metrics <= {"val_acc"} else "Accuracy")
    else:
        axes["loss"] = acc_ax
        acc_ax.set_ylabel("Validation loss" if metrics <= {"val_loss"} else "Loss")
    for i, (r, metric) in enumerate(chosen):
        ys = _finite(r.curves[metric])
        xs = [e if e is not None else k + 1 for k, e in enumerate(r.curves.get("epoch") or range(1, len(ys) + 1))]
        ax = axes["acc" if is_accuracy(metric) else "loss"]
        label = literal(r.run if metric == "val_acc" else f"{r.run} ({metric})")
        ax.plot(xs[:len(ys)], ys, "-" if is_accuracy(metric) or ax is acc_ax else "--", marker="o", ms=3,
                color=f"C{i % 10}", label=label)
        if r.course_metric == metric and r.course_value is not None:  # the course's figure, to reach
            ax.axhline(r.course_value, color=f"C{i % 10}", ls=":", lw=1, label=literal(f"{r.run}: course"))
    acc_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    acc_ax.set_xlabel("Epoch")
    acc_ax.grid(alpha=0.3)
    handles = [h for ax in dict.fromkeys(axes.values()) for h in ax.get_legend_handles_labels()[0]]
    acc_ax.legend(handles=handles, fontsize=8 if len(chosen) > 6 else 10, ncols=2 if len(handles) > 12 else 1)
    default = f"the {len(chosen)} best of {total} runs" if total > len(chosen) else f"{len(chosen)} runs"
    acc_ax.set_title(literal(title) if title else default)
    _save(fig, path)
    return fig
