"""Plots of a run: training curves (as the course draws them) and the confusion matrix."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402

from ..fileio import atomic_open  # noqa: E402


def _save(fig, path: str | os.PathLike) -> None:
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_curves(history: dict[str, list[float]], path: str | os.PathLike, title: str = "") -> None:
    """Training and validation loss (left) and accuracy (right) against epochs."""
    panels = [("loss", "Loss")] + ([("acc", "Accuracy")] if "acc" in history else [])  # no accuracy: regression
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    epochs = range(1, len(history.get("loss", [])) + 1)
    for ax, (metric, label) in zip(axes[0], panels):
        if metric in history:
            ax.plot(epochs, history[metric], "o-", ms=3, label=f"training {label.lower()}")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "s-", ms=3, label=f"validation {label.lower()}")
        ax.set_xlabel("Epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    _save(fig, path)


def plot_confusion(matrix, classes: list[str], path: str | os.PathLike, title: str = "") -> None:
    """Confusion matrix: rows are true classes, columns predicted; counts written in each cell."""
    m = matrix.numpy() if hasattr(matrix, "numpy") else matrix
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * k, 0.8 + 0.5 * k))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(k), classes, rotation=45 if max(map(len, classes)) > 2 else 0)
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    top = m.max() if m.size else 0
    for i in range(k):
        for j in range(k):
            if m[i, j]:
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] > top / 2 else "black")
    if title:
        ax.set_title(title)
    _save(fig, path)
