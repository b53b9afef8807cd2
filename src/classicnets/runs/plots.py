"""Plots of a run: training curves (as the course draws them) and the confusion matrix.

Both return the (closed) figure they saved, so a test can read its axes.
"""
from __future__ import annotations

import math
import os
import warnings

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from ..fileio import atomic_open  # noqa: E402
from .confusion import TABLE_MAX_CLASSES  # noqa: E402

LOG_SCALE_SPAN = 100.0  # a loss panel whose positive values span more than this ratio gets a log scale
MAX_FIGURE_INCHES = 10.0  # the confusion matrix's figure side: about 1,100 px at the saved 110 dpi
MAX_TICK_LABELS = 50      # beyond this many classes, label every k-th one


def _save(fig, path: str | os.PathLike) -> None:
    with warnings.catch_warnings():
        # a character no installed font has (an emoji in a path or a class name) is drawn as a box;
        # matplotlib's warning about it, with its own source line, would only interrupt the run's output
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def literal(text: str) -> str:
    """`text` (a class name, a path, a run's name) drawn as written: matplotlib reads $...$ as mathematics."""
    return text.replace("$", r"\$")


def _finite(values) -> list[float]:
    """A history's values as floats; NaN for what cannot be drawn (inf, or None: a missing value)."""
    return [float(v) if v is not None and math.isfinite(v) else math.nan for v in values]


def wants_log_scale(values, span: float = LOG_SCALE_SPAN) -> bool:
    """Whether the finite positive `values` span more than `span` (a diverging loss: 2.3 to 1e23),
    which a linear axis would flatten into a line at zero and a spike."""
    v = [x for x in values if x is not None and math.isfinite(x) and x > 0]
    return bool(v) and max(v) > span * min(v)


def plot_curves(history: dict[str, list[float]], path: str | os.PathLike, title: str = ""):
    """Training and validation loss (left) and accuracy (right) against epochs; for a detector, its
    named losses beside their sum and the validation mAP@0.5 (right). The loss on a log
    scale when it spans more than two orders of magnitude. NaN and infinite values are left out of
    the lines (matplotlib draws a gap). Returns the figure."""
    panels = [("loss", "Loss")] + ([("acc", "Accuracy")] if "acc" in history else [])  # no accuracy: regression
    if "val_map50" in history:  # a detector: its validation mAP instead of an accuracy
        panels.append(("map50", "mAP@0.5"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False, layout="constrained")
    for ax, (metric, label) in zip(axes[0], panels):
        series = [(metric, "o-", "training"), (f"val_{metric}", "s-", "validation")]
        if metric == "loss":  # a detector's losses, each beside their sum
            series += [(key, "--", key.removeprefix("loss_")) for key in history if key.startswith("loss_")]
        drawn = {key: _finite(history[key]) for key, _, _ in series if key in history}
        for key, style, which in series:
            if key in drawn:  # each its own epochs: a series may be shorter (validation added on resume)
                ys = drawn[key]
                ax.plot(range(1, len(ys) + 1), ys, style, ms=3,
                        label=which if style == "--" else f"{which} {label if 'mAP' in label else label.lower()}")
        if metric == "loss" and wants_log_scale([y for ys in drawn.values() for y in ys]):
            ax.set_yscale("log")
        ax.set_xlabel("Epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    if title:
        fig.suptitle(literal(title))
    _save(fig, path)
    return fig


def plot_confusion(matrix, classes: list[str], path: str | os.PathLike, title: str = ""):
    """Confusion matrix: rows are true classes, columns predicted, with a colour bar. Up to
    `TABLE_MAX_CLASSES` classes each cell shows its count; beyond, the figure stays at most
    `MAX_FIGURE_INCHES` square with no cell text, small labels (every k-th one past
    `MAX_TICK_LABELS`) and a logarithmic colour scale, so that the few-example confusions show
    beside a diagonal of hundreds. Returns the figure."""
    m = np.asarray(matrix.tolist() if hasattr(matrix, "tolist") else matrix)
    k = len(classes)
    many = k > TABLE_MAX_CLASSES
    side = min(MAX_FIGURE_INCHES, 1.0 + 0.55 * k)
    fig, ax = plt.subplots(figsize=(side + (1.2 if not many else 1.5), side))
    top = m.max() if m.size else 0
    if many and top > 1:
        image = ax.imshow(np.ma.masked_equal(m, 0), cmap="Blues", norm=LogNorm(vmin=1, vmax=top),
                          interpolation="nearest")
        ax.set_facecolor("white")
    else:
        image = ax.imshow(m, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="examples" + (" (log scale)" if many else ""))
    step = math.ceil(k / MAX_TICK_LABELS) if k else 1
    ticks = list(range(0, k, step))
    names = [c if len(c) <= 16 else c[:15] + "…" for c in classes]
    size = 8 if not many else 6
    longest = max(map(len, names), default=0)
    names = [literal(n) for n in names]
    rotation = 90 if many else 45 if longest > 2 else 0
    ax.set_xticks(ticks, [names[i] for i in ticks], rotation=rotation, fontsize=size,
                  ha="right" if rotation == 45 else "center", rotation_mode="anchor" if rotation == 45 else "default")
    ax.set_yticks(ticks, [names[i] for i in ticks], fontsize=size)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    if not many:
        for i in range(k):
            for j in range(k):
                if m[i, j]:
                    ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if m[i, j] > top / 2 else "black")
    if title:
        ax.set_title(literal(title))
    _save(fig, path)
    return fig
