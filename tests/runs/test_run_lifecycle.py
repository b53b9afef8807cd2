"""Run directories over their life: claimed atomically, removed when nothing was trained, resumed
only for what is left, finished runs left alone, files readable like any other tool's."""
import json
import os
import stat
import threading

import pytest

from classicnets import record
from classicnets.config import RunConfig
from classicnets.errors import UserError
from classicnets.runs.run import claim_run_dir, resume_run, train_run
from classicnets.train import TrainConfig


def quick(epochs=2, **train):
    return RunConfig(train=TrainConfig(epochs=epochs, **train))


def test_a_failed_start_leaves_nothing_and_a_rerun_works(cli, tmp_path):
    run = tmp_path / "R"
    code, _, err = cli("train", "--epochs", 0, "--out", run)
    assert code == 2 and "--epochs must be at least 1" in err and not run.exists()
    code, _, err = cli("train", "--epochs", 1, "--out", run, "-q")
    assert code == 0, err
    assert record.run_state(run) == "finished"


def test_divergence_in_the_first_epoch_removes_the_new_run(cli, tmp_path):
    run = tmp_path / "R"
    code, _, err = cli("train", "--lr", "1e6", "--schedule", "constant", "--epochs", 3, "--out", run, "-q")
    assert code == 2 and "diverged" in err and "lower the learning rate" in err
    assert len(err.strip().splitlines()) == 1 and not run.exists()


def test_an_existing_empty_directory_is_used_and_kept_on_failure(cli, tmp_path):
    run = tmp_path / "empty"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    code, _, err = cli("train", "--lr", "1e6", "--schedule", "constant", "--epochs", 1, "--out", run, "-q")
    assert code == 2 and sorted(p.name for p in run.iterdir()) == ["notes.txt"]


def test_concurrent_runs_in_the_same_second_get_their_own_directories(tmp_path, monkeypatch):
    import datetime as dt

    from classicnets.runs import run as run_module

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 1, 1, 12, 0, 0)
    monkeypatch.setattr(run_module._dt, "datetime", Frozen)
    made, barrier = [], threading.Barrier(8)

    def claim(seed):
        cfg = quick(train_seed := seed)
        barrier.wait()
        made.append(claim_run_dir(None, tmp_path, cfg, {"seed": train_seed})[0])
    threads = [threading.Thread(target=claim, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8
    seeds = sorted(json.loads((p / "config.json").read_text())["seed"] for p in made)
    assert seeds == list(range(8))  # each directory holds the config of the run that claimed it


def test_two_claims_of_one_out_directory_cannot_both_succeed(tmp_path):
    claim_run_dir(tmp_path / "R", tmp_path, quick(), {"first": True})
    with pytest.raises(UserError, match="already holds a run"):
        claim_run_dir(tmp_path / "R", tmp_path, quick(), {"second": True})
    assert json.loads((tmp_path / "R/config.json").read_text()) == {"first": True}


def test_files_follow_the_umask(tmp_path):
    result = train_run(quick(1), out=tmp_path / "R", log=lambda s: None)
    for p in result.run.iterdir():
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == 0o666 & ~_umask(), (p.name, oct(mode))


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "done"
    train_run(quick(3, schedule="constant"), out=run, log=lambda s: None)
    return run


def test_resume_of_a_finished_run_changes_nothing(finished, cli):
    assert cli("evaluate", finished)[0] == 0
    before = {p.name: p.read_bytes() for p in finished.iterdir()}
    assert "test_confusion" in json.loads(before["results.json"])
    code, _, err = cli("train", "--resume", finished)
    assert code == 0 and "already finished its 3 epochs" in err
    code, _, err = cli("train", "--resume", finished, "--epochs", 2)
    assert code == 2 and "already trained 3 epochs; --epochs must be at least 3" in err
    assert {p.name: p.read_bytes() for p in finished.iterdir()} == before  # no "resumed" note either


def test_a_finished_run_trains_further_with_more_epochs(finished, tmp_path):
    import shutil
    run = tmp_path / "more"
    shutil.copytree(finished, run)
    result = resume_run(run, epochs=5, log=lambda s: None)
    assert result.results["epochs"] == 5 and "test_confusion" not in result.results
    record = json.loads((run / "config.json").read_text())
    assert record["train"]["epochs"] == 5
    assert record["resumed"][-1]["from_epoch"] == 3 and record["resumed"][-1]["epochs_changed"] == [3, 5]


def test_a_run_that_never_finished_an_epoch_restarts_with_resume(tmp_path):
    run = tmp_path / "R"
    claim_run_dir(run, tmp_path, quick(1), {**quick(1).to_dict()})  # as if killed during its first epoch
    code_state = record.run_state(run)
    assert code_state == "not started"
    with pytest.raises(UserError, match="never finished an epoch; start it again with --resume"):
        claim_run_dir(run, tmp_path, quick(1), {})
    result = resume_run(run, log=lambda s: None)
    assert result.results["epochs"] == 1 and record.run_state(run) == "finished"
