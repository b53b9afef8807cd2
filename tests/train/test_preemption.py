"""Training survives being stopped at any moment.

SIGTERM and SIGINT save the exact position inside the epoch and exit with 143 and 130; kill -9 at a
chosen point (mid-epoch, a checkpoint written but not yet renamed into place, between the weights and
results.json) leaves a run that `--resume` finishes exactly like an uninterrupted one; a NaN loss
stops at its step and keeps the last good checkpoint; a full disk is one sentence; a run in use by
another process cannot be resumed a second time, and a killed holder does not block it.

digits at batch 128 is 10 steps an epoch; `--checkpoint-every 3` saves after steps 3, 6, 9, 12, 15
and 18 of the run, besides the epoch ends.
"""
import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from classicnets import testhooks
from classicnets.cli import run_cli
from classicnets.record import run_state
from classicnets.runs.lock import RunLock
from classicnets.train import engine
from classicnets.train.checkpoint import load_state, read_position

ARGS = ["train", "--epochs", "2", "--batch-size", "128", "--seed", "4", "-q"]
EVERY = ["--checkpoint-every", "3"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, without mid-epoch checkpoints (saving them changes nothing)."""
    run = tmp_path_factory.mktemp("ref") / "run"
    assert run_cli([*ARGS, "--out", str(run)]) == 0
    return run


def assert_same_run(run, reference):
    assert (run / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
    timeless = [{k: v for k, v in json.loads((r / "results.json").read_text()).items() if k != "wall_time_s"}
                for r in (run, reference)]
    assert timeless[0] == timeless[1]
    assert (run / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()


def signal_after_step(monkeypatch, n, signum):
    """Send `signum` to this process at the end of the n-th training step of this process."""
    count = [0]

    def hook(point):
        if point == "step":
            count[0] += 1
            if count[0] == n:
                os.kill(os.getpid(), signum)
    monkeypatch.setattr(testhooks, "ACTIVE", True)
    monkeypatch.setattr(testhooks, "pause_point", hook)


@pytest.mark.parametrize("signum,after_step,status,position,said", [
    (signal.SIGTERM, 14, 143, (1, 4), "Stopped by SIGTERM in epoch 2 after step 4 (saved)"),
    (signal.SIGINT, 5, 130, (0, 5), "Interrupted in epoch 1 after step 5 (saved)"),
])
def test_a_signal_saves_the_position_and_resume_is_exact(cli, reference, tmp_path, monkeypatch,
                                                          signum, after_step, status, position, said):
    run = tmp_path / "run"
    signal_after_step(monkeypatch, after_step, signum)
    code, _, err = cli(*ARGS, *EVERY, "--out", run)
    assert code == status, err
    assert f"{said}. Continue with: classicnets train --resume {run}" in err
    assert read_position(run / "checkpoint.safetensors") == position  # this very step, not the last save point
    assert run_state(run) == "interrupted" and not (run / "model.safetensors").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    monkeypatch.undo()

    code, _, err = cli("train", "--resume", run, "-q")
    assert code == 0, err
    assert_same_run(run, reference)
    record = json.loads((run / "config.json").read_text())
    assert record["resumed"][-1]["from_epoch"] == position[0] and record["resumed"][-1]["from_step"] == position[1]


def _wait_for(marker, proc, timeout=240):
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"training ended (status {proc.returncode}) before pausing: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("training never reached the pause point")
        time.sleep(0.05)


# point where the process is killed -> what the run directory must hold then
KILL_POINTS = {
    "mid-epoch": "step:14",                                  # step 4 of epoch 2; saves at 12 (and maybe not yet)
    "checkpoint written, not renamed": "rename:checkpoint.safetensors:5",  # the save after step 12
    "weights written, results not": "rename:results.json:1",
}


def test_kill_9_at_any_point_resumes_from_the_last_complete_checkpoint(cli, reference, tmp_path):
    procs = {}
    for name, point in KILL_POINTS.items():  # all at once: the slow part is starting Python and torch
        run, marker = tmp_path / name.replace(" ", "-").replace(",", ""), tmp_path / f"{len(procs)}.paused"
        env = {**os.environ, "CLASSICNETS_TEST_PAUSE_AT": point, "CLASSICNETS_TEST_PAUSE_MARKER": str(marker)}
        proc = subprocess.Popen([sys.executable, "-m", "classicnets.cli", *ARGS, *EVERY, "--out", str(run)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs[name] = (run, marker, proc)
    try:
        for _, marker, proc in procs.values():
            _wait_for(marker, proc)

        # a paused process holds its run: a second one may not train it at the same time
        run, _, proc = procs["mid-epoch"]
        code, _, err = cli("train", "--resume", run)
        assert code == 2 and f"is being trained by another process (process {proc.pid} on" in err
        assert len(err.strip().splitlines()) == 1
        for _, _, proc in procs.values():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    finally:
        for _, _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()

    run = procs["mid-epoch"][0]
    epoch, step = read_position(run / "checkpoint.safetensors")
    assert epoch == 1 and step in (0, 2)  # the save after step 12 may or may not have reached the disk

    run = procs["checkpoint written, not renamed"][0]
    assert read_position(run / "checkpoint.safetensors") == (1, 0)  # the one before: complete, in place
    assert list(run.glob(".checkpoint.safetensors.*.tmp"))       # the new one, complete, never renamed

    run = procs["weights written, results not"][0]
    assert (run / "model.safetensors").exists() and not (run / "results.json").exists()
    assert run_state(run) == "interrupted"

    for run, _, _ in procs.values():  # the killed holders' locks went with them
        code, _, err = cli("train", "--resume", run, "-q")
        assert code == 0, err
        assert_same_run(run, reference)
        assert not list(run.glob(".*.tmp"))


def nan_loss_at(monkeypatch, steps):
    """Make the training loss NaN at these steps of this process (1-based, counted over the run)."""
    real, count = engine.make_loss, [0]

    def make_loss(task, label_smoothing=0.0, reduction="mean"):
        fn = real(task, label_smoothing, reduction)
        if reduction != "mean":  # evaluation
            return fn

        def loss(logits, y):
            count[0] += 1
            out = fn(logits, y)
            return out * float("nan") if count[0] in steps else out
        return loss
    monkeypatch.setattr(engine, "make_loss", make_loss)


@pytest.mark.parametrize("checked", ["every step", "on the device"])
def test_a_nan_loss_stops_at_its_step_and_keeps_the_last_good_checkpoint(cli, reference, tmp_path, monkeypatch,
                                                                         checked):
    if checked == "on the device":  # as on CUDA: flags kept on the device, read at the next check (a save here)
        from classicnets.train.distributed import CHECK_STEPS
        from classicnets.train.position import NonFiniteWatch
        real_init = engine.Trainer.__init__

        def init(self, *args, **kwargs):
            real_init(self, *args, **kwargs)
            self.check_each_step, self.watch = False, NonFiniteWatch(CHECK_STEPS, self.device)
        monkeypatch.setattr(engine.Trainer, "__init__", init)
    run = tmp_path / "run"
    nan_loss_at(monkeypatch, {14})
    code, _, err = cli(*ARGS, *EVERY, "--out", run)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "the training loss became nan at epoch 2, step 4 of 10" in err
    assert "learning rate" in err and "normalise" in err and "--clip-norm" in err
    assert read_position(run / "checkpoint.safetensors") == (1, 2)  # the save after step 12, before the NaN
    monkeypatch.undo()
    assert cli("train", "--resume", run, "-q")[0] == 0  # the kept checkpoint is good: the run ends as if never stopped
    assert_same_run(run, reference)


def test_skip_leaves_out_non_finite_steps_and_counts_them(cli, tmp_path, monkeypatch):
    run = tmp_path / "run"
    nan_loss_at(monkeypatch, {3, 7})
    code, _, err = cli(*ARGS, "--on-nonfinite", "skip", "--out", run)
    assert code == 0, err
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].split(",")[3] == "skipped" and [float(r.split(",")[3]) for r in rows[1:]] == [2, 0]
    assert json.loads((run / "results.json").read_text())["skipped_steps"] == 2
    adam = load_state(run / "checkpoint.safetensors")["optimizer"]["state"]
    assert all(int(s["step"]) == 18 for s in adam.values())  # 20 steps, 2 without an update


def test_a_full_disk_is_one_sentence_and_the_previous_checkpoint_stays(cli, reference, tmp_path, monkeypatch):
    import contextlib

    import classicnets.fileio as fileio

    real, writes = fileio.atomic_open, []

    def full_at(names):  # these writes (file name, how many times written) find the disk full
        @contextlib.contextmanager
        def atomic_open(path, mode="w", **kwargs):
            writes.append(os.path.basename(path))
            if (os.path.basename(path), writes.count(os.path.basename(path))) in names:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            with real(path, mode, **kwargs) as f:
                yield f
        monkeypatch.setattr(fileio, "atomic_open", atomic_open)

    run = tmp_path / "run"
    full_at({("checkpoint.safetensors", 2)})  # the checkpoint at the end of epoch 2
    code, _, err = cli(*ARGS, "--out", run)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"cannot write the checkpoint file {run / 'checkpoint.safetensors'} (No space left on device)" in err
    assert "the previous checkpoint is intact" in err and f"--resume {run}" in err
    assert read_position(run / "checkpoint.safetensors") == (1, 0)
    assert not list(run.glob(".*.tmp"))

    writes.clear()
    full_at({("results.json", 1)})  # finishing: the weights are written, the results are not
    code, _, err = cli("train", "--resume", run, "-q")
    assert code == 2 and "cannot write in" in err and "No space left on device" in err and "--resume" in err
    monkeypatch.undo()
    assert cli("train", "--resume", run, "-q")[0] == 0
    assert_same_run(run, reference)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_run_directory_is_one_sentence(cli, tmp_path, monkeypatch):
    from classicnets.train import Checkpoint

    run = tmp_path / "run"
    real = Checkpoint.on_epoch_end

    def read_only_after_first_epoch(self, trainer, epoch, logs):
        if epoch == 1:
            run.chmod(0o555)
        real(self, trainer, epoch, logs)
    monkeypatch.setattr(Checkpoint, "on_epoch_end", read_only_after_first_epoch)
    try:
        code, _, err = cli(*ARGS, "--out", run)
    finally:
        run.chmod(0o755)
    assert code == 2 and "Permission denied" in err and len(err.strip().splitlines()) == 1
    assert read_position(run / "checkpoint.safetensors") == (1, 0)


def test_the_run_lock_is_exclusive_and_released_on_every_path(tmp_path):
    from classicnets.errors import UserError

    first = RunLock(tmp_path).acquire()
    with pytest.raises(UserError, match=r"is being trained by another process \(process \d+ on"):
        RunLock(tmp_path).acquire()
    first.release()
    with pytest.raises(RuntimeError):
        with RunLock(tmp_path):
            raise RuntimeError("an error while holding it")
    RunLock(tmp_path).acquire().release()  # released by the exception's exit
    assert not (tmp_path / ".lock").exists()  # its holder removes it

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from classicnets.runs.lock import RunLock; "
                               f"RunLock({str(tmp_path)!r}).acquire(); print('held', flush=True); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=f"process {holder.pid} on"):
            RunLock(tmp_path).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    finally:
        holder.kill()
    RunLock(tmp_path).acquire().release()  # a killed holder's lock is gone with it


def test_sigterm_while_starting_up_unwinds_and_keeps_nothing(cli, tmp_path, monkeypatch):
    import classicnets.runs.run as run_module

    real = run_module.prepare

    def terminated(*args, **kwargs):
        p = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # the CLI's handler unwinds from here
        return p
    monkeypatch.setattr(run_module, "prepare", terminated)
    code, _, err = cli(*ARGS, "--out", tmp_path / "run")
    assert code == 143 and "Stopped by SIGTERM before the first checkpoint; nothing was kept." in err
    assert not (tmp_path / "run").exists() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
