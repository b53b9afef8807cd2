"""What a terminal shows while training: every value of the epoch line on one line, at 80 columns."""
import io
import re
from types import SimpleNamespace

import pytest
import torch
from rich.console import Console

from classicnets.train.callbacks import Meter
from classicnets.train.progress import EpochLogger, ProgressBar, epoch_line, format_value

LOGS = {"loss": 0.1234, "acc": 0.9876, "val_loss": 0.2345, "val_acc": 0.95, "lr": 0.001}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def trainer(epochs=30, steps=10):
    return SimpleNamespace(num_train=1257, num_val=180, epochs=epochs, steps_per_epoch=steps)


def terminal_lines(width, epochs=30, steps=10, logs=LOGS, running=(12.34, 9)):
    """Run a ProgressBar through one epoch on a `width`-column terminal; the lines it left, as seen."""
    buf = io.StringIO()
    bar = ProgressBar(Console(width=width, file=buf, force_terminal=True, force_interactive=True), refresh=0)
    t = trainer(epochs, steps)
    meter = Meter(steps)
    meter.seen = meter.targets = 10
    meter.loss_sum, meter.correct = torch.tensor(running[0]), torch.tensor(running[1])
    bar.on_train_begin(t)
    bar.on_epoch_begin(t, epochs - 1)
    bar.on_batch_end(t, steps // 2, meter)
    bar.progress.refresh()
    bar.on_epoch_end(t, epochs - 1, logs)
    bar.close()
    return [line for chunk in ANSI.sub("", buf.getvalue()).split("\n") for line in chunk.split("\r")]


@pytest.mark.parametrize("epochs,steps", [(30, 10), (300, 12345)])
def test_epoch_line_and_bar_fit_an_80_column_terminal(epochs, steps):
    lines = terminal_lines(80, epochs, steps)
    ends = [line for line in lines if line.startswith(f"Epoch {epochs}/{epochs} ") and "val_acc" in line]
    assert len(ends) == 1 and ends[0].endswith("val_acc 0.9500"), lines  # nothing wrapped onto a next line
    assert all(len(line) <= 80 for line in lines)
    bars = [line for line in lines if "━" in line]
    assert bars and all(line.rstrip().endswith("loss 1.2340 acc 0.9000") for line in bars if "loss" in line)


def test_a_diverging_loss_and_a_narrow_terminal_keep_every_value_on_the_line():
    logs = {"loss": 1.234e23, "acc": 0.1, "val_loss": float("nan"), "val_acc": 0.098}
    lines = terminal_lines(80, logs=logs, running=(1.234e24, 1))
    assert any(re.fullmatch(r"Epoch 30/30 \d+\.\ds loss 1\.2340e\+23 acc 0\.1000 val_loss nan val_acc 0\.0980",
                            line) for line in lines), lines
    narrow = terminal_lines(40)  # too narrow for any form: printed whole, for the terminal to wrap
    assert any(re.fullmatch(r"30/30 \d+s loss 0\.12 acc 0\.99 val_loss 0\.23 val_acc 0\.95", line)
               for line in narrow), narrow


def test_plain_mode_keeps_the_keras_line():
    printed = []
    logger, t = EpochLogger(printed.append), trainer()
    logger.on_train_begin(t)
    logger.on_epoch_begin(t, 2)
    logger.on_epoch_end(t, 2, LOGS)
    assert printed[0] == "Train on 1,257 samples, validate on 180 samples"
    assert re.fullmatch(r"Epoch 3/30 - 0\.\ds - loss: 0\.1234 - acc: 0\.9876 - val_loss: 0\.2345 - "
                        r"val_acc: 0\.9500", printed[1])


def test_epoch_line_picks_the_first_form_that_fits():
    full = epoch_line(2, 30, 0.1, LOGS)
    assert full == "Epoch 3/30 - 0.1s - loss: 0.1234 - acc: 0.9876 - val_loss: 0.2345 - val_acc: 0.9500"
    assert epoch_line(2, 30, 0.1, LOGS, width=len(full)) == full
    assert epoch_line(2, 30, 0.1, LOGS, width=80) == \
        "Epoch 3/30 0.1s loss 0.1234 acc 0.9876 val_loss 0.2345 val_acc 0.9500"
    assert epoch_line(2, 30, 0.1, LOGS, width=60) == "3/30 0s loss 0.123 acc 0.988 val_loss 0.234 val_acc 0.950"
    assert epoch_line(2, 30, 0.1, {"loss": 0.5}, width=27) == "Epoch 3/30 0.1s loss 0.5000"


@pytest.mark.parametrize("value,text", [(0.1234, "0.1234"), (0.0, "0.0000"), (1e23, "1.0000e+23"),
                                        (4e-5, "4.0000e-05"), (12345.6, "12345.6000"), (float("nan"), "nan"),
                                        (float("inf"), "inf")])
def test_values_are_formatted_as_keras_does(value, text):
    assert format_value(value) == text
