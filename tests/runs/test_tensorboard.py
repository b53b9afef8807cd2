"""`--tensorboard`: the epoch's numbers as TensorBoard scalars, read back with TensorBoard's own reader;
a missing package is one sentence naming the extra to install."""
import sys

import pytest

from classicnets.errors import UserError
from classicnets.runs.tensorboard import TENSORBOARD, TensorBoard


def scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_each_epoch_is_written_as_scalars_at_its_epoch_number(tmp_path):
    pytest.importorskip("tensorboard", reason="the optional tensorboard package is not installed")
    epochs = [{"loss": 2.0, "acc": 0.25, "val_loss": 1.5, "val_acc": 0.5, "lr": 0.01},
              {"loss": 1.0, "acc": 0.75, "val_loss": 1.25, "val_acc": 0.625, "lr": 0.001}]
    callback = TensorBoard()
    callback.log_dir = tmp_path / TENSORBOARD  # as the command line sets it once the run directory exists
    for epoch, logs in enumerate(epochs):
        callback.on_epoch_end(None, epoch, logs)  # a trainer is not needed: only the logs are written
    callback.close()
    assert scalars(tmp_path / TENSORBOARD) == {
        key: [(1, pytest.approx(epochs[0][key], rel=1e-6)), (2, pytest.approx(epochs[1][key], rel=1e-6))]
        for key in epochs[0]}  # TensorBoard keeps float32


def test_a_run_that_ends_before_its_first_epoch_leaves_no_event_files(tmp_path):
    pytest.importorskip("tensorboard", reason="the optional tensorboard package is not installed")
    callback = TensorBoard(tmp_path / TENSORBOARD)
    callback.close()
    assert not (tmp_path / TENSORBOARD).exists()


def test_a_real_run_logs_what_metrics_csv_holds(tmp_path):
    pytest.importorskip("tensorboard", reason="the optional tensorboard package is not installed")
    import csv

    from classicnets.config import RunConfig
    from classicnets.record import METRICS
    from classicnets.runs.run import train_run
    from classicnets.train import TrainConfig

    callback = TensorBoard()

    def start(run, prepared):
        callback.log_dir = run / TENSORBOARD
    result = train_run(RunConfig(train=TrainConfig(epochs=2)), out=tmp_path / "run", callbacks=[callback],
                       on_start=start, log=lambda s: None)
    rows = list(csv.DictReader((result.run / METRICS).open()))
    logged = scalars(result.run / TENSORBOARD)
    assert set(logged) == set(rows[0]) - {"epoch"}
    for key, values in logged.items():
        assert values == [(int(r["epoch"]), pytest.approx(float(r[key]), rel=1e-6)) for r in rows]


def test_without_the_package_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import now raises ImportError
    with pytest.raises(UserError) as e:
        TensorBoard()
    message = str(e.value)
    assert "pip install 'classicnets[tensorboard]'" in message and "\n" not in message
    assert message.count(". ") == 0  # one sentence
