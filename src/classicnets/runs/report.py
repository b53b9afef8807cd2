"""A run's report: one self-contained HTML page, `RUN/report.html`.

Everything the page shows is inside the file: images as base64 `data:` URIs, the style sheet inline,
no script, no link to another file or site, so it can be mailed, archived or opened offline. All text
from the run directory is escaped. Sections: the overview, the recipe and what was changed from it
(or the settings), the course's figure beside the run's, the curves, the confusion matrices, the
layer table (built on the meta device from model.json: no weights are loaded), and the environment.

A damaged or unfinished run still gets its report; what could not be read is said in the page.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import record
from ..errors import UserError
from ..fileio import write_text
from .compare import RunRow, collect_run, format_duration, format_metric, format_params, is_accuracy, is_run_dir

REPORT = "report.html"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECTIONS = [("overview", "Overview"), ("course", "Course and run"), ("recipe", "Recipe and settings"),
            ("curves", "Curves"), ("confusion", "Confusion matrices"), ("layers", "Layers"),
            ("environment", "Environment")]

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 70rem;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ddd; margin-top: 2.2rem; }
nav a { margin-right: 1rem; } .muted { color: #666; }
table { border-collapse: collapse; margin: .5rem 0; } th, td { padding: .25rem .7rem; text-align: left;
       border-bottom: 1px solid #eee; vertical-align: top; } td.num { text-align: right;
       font-variant-numeric: tabular-nums; }
tr.overridden td { background: #fff4d6; } .tag { font-size: .8em; color: #8a5a00; } .tag.recipe { color: #2a6f2a; }
.beside { display: flex; gap: 1rem; flex-wrap: wrap; } .figure { border: 1px solid #ddd; border-radius: 6px;
       padding: .8rem 1.2rem; min-width: 12rem; } .figure .value { font-size: 2rem; font-weight: 600; }
blockquote { border-left: 3px solid #ccc; margin: .8rem 0; padding-left: .8rem; color: #444; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: .8rem; overflow-x: auto; font-size: .8rem; line-height: 1.25; }
.problems { background: #fdecea; border: 1px solid #f5c2c0; padding: .5rem 1rem; border-radius: 6px; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(rows: Iterable[tuple[Any, Any]], cls: str = "") -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="{cls}">{body}</table>' if body else '<p class="muted">None recorded.</p>'


def _png(data: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'


def _read_png(path: Path) -> bytes | None:
    """The bytes of a PNG file; None if it is missing, unreadable or not a PNG."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if data.startswith(PNG_SIGNATURE) else None


def _json_object(path: Path) -> dict[str, Any]:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # collect_run has already named the problem
    return d if isinstance(d, dict) else {}


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _value(metric: str | None, v: float | None) -> str:
    return _pct(v) if is_accuracy(metric) else format_metric(metric, v)


# -- sections -------------------------------------------------------------------------------------
def _overview(row: RunRow, results: dict[str, Any]) -> str:
    items = [("status", row.status + (f" (resumed {row.resumed}x)" if row.resumed else "")),
             ("model", row.model or "-"), ("data", row.data or "-"), ("parameters", format_params(row.params)
              + (f" ({row.params:,})" if row.params else "")),
             ("epochs", f"{'-' if row.epochs is None else row.epochs} of "
                        f"{'-' if row.epochs_planned is None else row.epochs_planned}"),
             ("wall time", format_duration(row.wall_time_s)
              + (" (estimated from file times)" if row.wall_time_source == "file times" else "")),
             ("best validation accuracy", "-" if row.best_val_acc is None
              else f"{_pct(row.best_val_acc)} (epoch {row.best_epoch})"),
             ("test accuracy", _pct(row.test_acc))]
    if row.recipe:
        items.insert(1, ("recipe", row.recipe))
    items += [(k, f"{v:.6g}" if isinstance(v, float) else v) for k, v in results.items()
              if k not in ("epochs", "test_acc", "course", "wall_time_s") and isinstance(v, (int, float, str))
              and not isinstance(v, bool)]
    return _table(items)


def _settings(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every setting by name, in three groups: model and data (with their options), training,
    augmentation."""
    first = {k: config[k] for k in ("model", "data", "data_dir") if k in config}
    for group, prefix in (("model_args", "arg "), ("data_args", "data-arg ")):
        if isinstance(config.get(group), dict):
            first.update({f"{prefix}{k}": v for k, v in config[group].items()})
    return {"Model and data": first,
            "Training": config["train"] if isinstance(config.get("train"), dict) else {},
            "Augmentation": config["augment"] if isinstance(config.get("augment"), dict) else {}}


def _recipe(config: dict[str, Any]) -> str:
    settings = _settings(config)
    recipe = config.get("recipe") if isinstance(config.get("recipe"), dict) else None
    parts = []
    overridden: set[str] = set()
    taken: set[str] = set()
    if recipe is not None:
        names = recipe.get("overridden") if isinstance(recipe.get("overridden"), list) else []
        overridden = {str(n) for n in names}
        taken = {str(n) for n in recipe["from_recipe"]} if isinstance(recipe.get("from_recipe"), list) else set()
        parts.append(f"<p>Recipe <strong>{_e(recipe.get('name', '?'))}</strong>: {len(taken)} setting(s) from "
                     f"the recipe, {len(overridden)} overridden on the command line"
                     + (f" ({_e(', '.join(sorted(overridden)))})" if overridden else "") + ".</p>")
    else:
        parts.append('<p class="muted">Not started from a recipe; the run\'s settings:</p>')
    tables = []
    for title, group in settings.items():
        rows = []
        for name, value in group.items():
            over = name in overridden or name.split(" ", 1)[-1] in overridden  # "arg width" or "width"
            from_recipe = name in taken or name.split(" ", 1)[-1] in taken
            tag = ' <span class="tag">overridden</span>' if over else \
                ' <span class="tag recipe">recipe</span>' if from_recipe else ""
            shown = value if isinstance(value, str) else json.dumps(value)
            rows.append(f'<tr class="{"overridden" if over else ""}"><th>{_e(name)}{tag}</th>'
                        f'<td>{_e(shown)}</td></tr>')
        if rows:
            tables.append(f"<div><h3>{_e(title)}</h3><table>{''.join(rows)}</table></div>")
    parts.append(f'<div class="beside">{"".join(tables)}</div>' if tables
                 else '<p class="muted">No settings recorded.</p>')
    return "".join(parts)


def _course(row: RunRow, results: dict[str, Any]) -> str:
    course = results.get("course")
    if row.course_value is None or not isinstance(course, dict):
        return '<p class="muted">No course figure is recorded for this run.</p>'
    metric = row.course_metric
    diff = "-"
    if row.diff is not None:
        diff = f"{100 * row.diff:+.2f} points" if is_accuracy(metric) else f"{row.diff:+.4g}"
    epochs = f" after {row.course_epochs} epochs" if row.course_epochs is not None else ""
    ran = f" after {row.epochs} epochs" if row.epochs is not None else ""
    by = course.get("by") if isinstance(course.get("by"), str) else "course"
    out = [f'<div class="beside">'
           f'<div class="figure"><div class="muted">{_e(by)}: {_e(metric)}{_e(epochs)}</div>'
           f'<div class="value">{_e(_value(metric, row.course_value))}</div></div>'
           f'<div class="figure"><div class="muted">this run: {_e(metric)}{_e(ran)}</div>'
           f'<div class="value">{_e(_value(metric, row.run_value))}</div></div>'
           f'<div class="figure"><div class="muted">difference (run - course)</div>'
           f'<div class="value">{_e(diff)}</div></div></div>']
    if isinstance(course.get("quote"), str) and course["quote"]:
        out.append(f"<blockquote>{_e(course['quote'])}</blockquote>")
    if isinstance(course.get("source"), str) and course["source"]:
        out.append(f'<p class="muted">Source: {_e(course["source"])}</p>')
    return "".join(out)


def _curves(run: Path, row: RunRow) -> str:
    from .plots import plot_curves

    png = _read_png(run / record.CURVES) if row.status in ("finished", "resumed") else None
    if png is None and row.epochs == 0 and not row.curves.get("epoch"):  # e.g. made from published weights
        return '<p class="muted">No curves: the run trained no epochs.</p>'
    note = ""
    if png is None and row.curves:  # unfinished (curves.png comes at the end) or damaged: draw them again
        history = {k: v for k, v in row.curves.items() if k != "epoch"}
        with tempfile.TemporaryDirectory() as tmp:
            plot_curves(history, Path(tmp) / "curves.png", title=f"{row.model} on {row.data}")
            png = (Path(tmp) / "curves.png").read_bytes()
        note = f'<p class="muted">Drawn from {record.METRICS} ({len(row.curves.get("epoch", []))} epochs).</p>'
    if png is None:
        return '<p class="muted">No curves: the run has no readable metrics.csv yet.</p>'
    return _png(png, "training curves") + note


def _confusions(run: Path) -> str:
    out = []
    for path in sorted(run.glob("confusion*.png")):
        png = _read_png(path)
        if png is not None:
            split = path.stem.partition("-")[2] or "test"
            out.append(f"<h3>{_e(split)} split</h3>{_png(png, f'confusion matrix, {split} split')}")
    return "".join(out) or (f'<p class="muted">None yet: <code>classicnets evaluate {_e(run)}</code> '
                            f'draws one.</p>')


def layer_table(run: str | os.PathLike) -> list[str]:
    """The run's model summary as text lines, built on the meta device from model.json (no weights
    loaded, so it works for unfinished runs too)."""
    import torch

    from ..inspect import summarize
    from ..transfer.heads import model_from_card

    card = record.read_card(run)
    with torch.device("meta"):  # shapes only
        model = model_from_card(card)
    dtype = torch.long if len(card.input_shape) == 1 else torch.float32  # (T,) word ids
    lines: list[str] = []
    summarize(model, card.input_shape, dtype=dtype, name=card.name).render(lines.append, width=110)
    return lines


def _layers(run: Path) -> str:
    try:
        lines = layer_table(run)
    except UserError as e:
        return f'<p class="muted">No layer table: {_e(e)}</p>'
    except (RuntimeError, NotImplementedError, TypeError, ValueError) as e:  # a model the meta device cannot run
        return f'<p class="muted">No layer table: the model could not be traced ({_e(type(e).__name__)}).</p>'
    return f"<pre>{_e(chr(10).join(lines))}</pre>"


def _environment(config: dict[str, Any]) -> str:
    env = config.get("environment") if isinstance(config.get("environment"), dict) else {}
    items = [("device", config.get("device", "-")), ("command", config.get("command", "-")), *env.items()]
    out = [_table(items)]
    resumed = config.get("resumed")
    if isinstance(resumed, list) and resumed:
        out.append("<h3>Resumed</h3>")
        for i, note in enumerate(resumed, 1):
            if isinstance(note, dict):
                flat = [(k, json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in note.items()]
                out.append(f"<p>Resumption {i}</p>{_table(flat)}")
    return "".join(out)


# -- the page -------------------------------------------------------------------------------------
def build_report(run: str | os.PathLike) -> str:
    """The report of run directory `run` as one HTML document (a string)."""
    run = Path(run)
    if not run.is_dir():
        raise UserError(f"run directory {run} does not exist")
    if not is_run_dir(run):
        raise UserError(f"{run} is not a run directory (it holds no {record.CONFIG} or other run files)")
    name = run.resolve().name
    row = collect_run(run, name)
    config = _json_object(run / record.CONFIG)
    results = _json_object(run / record.RESULTS)
    body = {
        "overview": _overview(row, results),
        "recipe": _recipe(config),
        "course": _course(row, results),
        "curves": _curves(run, row),
        "confusion": _confusions(run),
        "layers": _layers(run),
        "environment": _environment(config),
    }
    problems = "".join(f"<li>{_e(p)}</li>" for p in row.problems)
    title = f"{name}: {row.recipe or row.model or 'run'} on {Path(row.data).name if row.data else '?'}"
    nav = " ".join(f'<a href="#{key}">{_e(label)}</a>' for key, label in SECTIONS)
    sections = "\n".join(f'<section id="{key}"><h2>{_e(label)}</h2>{body[key]}</section>' for key, label in SECTIONS)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<header><h1>{_e(title)}</h1>
<p class="muted">classicnets report of {_e(run)}, made {_e(stamp)}; status: {_e(row.status)}</p>
<nav>{nav}</nav></header>
{f'<div class="problems" id="problems"><strong>Problems found:</strong><ul>{problems}</ul></div>' if problems else ''}
{sections}
</body>
</html>
"""


def write_report(run: str | os.PathLike) -> Path:
    """Write `RUN/report.html` (atomically) and return its path."""
    page = build_report(run)
    path = Path(run) / REPORT
    write_text(path, page)
    return path
