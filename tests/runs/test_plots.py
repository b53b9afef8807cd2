"""The run's figures stay readable: a diverging loss on a log scale, 100 classes in a bounded image."""
import math

import numpy as np
import pytest
from PIL import Image

from classicnets.runs.plots import plot_confusion, plot_curves


def test_diverging_loss_is_drawn_on_a_log_scale_and_bad_values_do_not_crash(tmp_path):
    history = {"loss": [2.3, 40.0, 1e9, 1e23, math.inf, math.nan], "acc": [0.1, 0.12, 0.1, 0.1, 0.1, 0.1],
               "val_loss": [2.3, 1e12, math.nan], "val_acc": [0.1, 0.1, None]}  # shorter: added on resume
    fig = plot_curves(history, tmp_path / "curves.png", title="diverging")
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "linear"]
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_an_ordinary_loss_stays_linear(tmp_path):
    fig = plot_curves({"loss": [2.3, 0.5, 0.05], "val_loss": [2.2, 0.6, 0.1]}, tmp_path / "curves.png")
    assert [ax.get_yscale() for ax in fig.axes] == ["linear"]  # regression: no accuracy panel


@pytest.mark.parametrize("k", [10, 100])
def test_confusion_image_is_bounded_and_labels_every_class_or_every_kth(tmp_path, k):
    rng = np.random.default_rng(0)
    m = rng.integers(0, 4, (k, k))
    np.fill_diagonal(m, 60)
    classes = [f"class_{i}" for i in range(k)]
    fig = plot_confusion(m, classes, tmp_path / "confusion.png", title="many")
    with Image.open(tmp_path / "confusion.png") as png:
        assert png.width <= 1600 and png.height <= 1600
    ax, colorbar = fig.axes
    labels = [t.get_text() for t in ax.get_xticklabels()]
    if k == 10:
        assert labels == classes and len(ax.texts) == np.count_nonzero(m)  # each non-zero count written
    else:
        assert labels == classes[::2] and not ax.texts  # 50 labels, no text in 10,000 cells
        assert min(t.get_fontsize() for t in ax.get_xticklabels()) >= 6
