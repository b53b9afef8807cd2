"""Issue 23, `train --nproc`: what can be refused is refused before torchrun starts; a mistake a process
finds is said once, status 2, without torchrun's report; a busy port is a sentence; process counts are
bounded by the machine's cores and GPUs."""
import io
import json
import subprocess
import sys
import textwrap

import pytest

from classicnets.cli import launch
from classicnets.errors import UserError


def one_line(code, err):
    assert code == 2 and "Traceback" not in err and "ChildFailedError" not in err, err
    assert err.startswith("classicnets: error: ") and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def no_torchrun(monkeypatch):
    """Fails the test if torchrun would be started."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"torchrun started: {args}")
    monkeypatch.setattr(launch.subprocess, "Popen", refuse)
    monkeypatch.setattr(launch, "usable_cores", lambda: 2)


@pytest.mark.parametrize("args, message", [
    (("--lr", "-1"), "--lr must be greater than 0"),
    (("--model", "nosuchnet"), "unknown model 'nosuchnet'"),
    (("--data", "digit"), "unknown data set 'digit'; did you mean 'digits'"),
    (("--data", "no/such.npz"), "no/such.npz does not exist"),
    (("--recipe", "nosuch_recipe"), "unknown recipe 'nosuch_recipe'"),
    (("--arg", "width"), "model option 'width' must be written KEY=VALUE"),
    (("--out", "x" * 300), "holds a name of 300 bytes"),
    (("--device", "cuda:1"), "under --nproc each process uses the GPU of its local rank"),
    (("--resume", "no/such/run"), "run directory no/such/run does not exist"),
    (("--resume", "r", "--lr", "0.1"), "only --epochs may change"),
])
def test_what_every_process_would_refuse_is_said_once_before_torchrun(cli, no_torchrun, tmp_path, monkeypatch,
                                                                       args, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("train", "--nproc", 2, *args)
    assert message in one_line(code, err) and not out and not list(tmp_path.iterdir())


def test_an_existing_run_is_refused_before_torchrun(cli, no_torchrun, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text("{}")
    code, _, err = cli("train", "--nproc", 2, "--out", tmp_path / "r")
    assert "already holds a run" in one_line(code, err)


def test_process_counts_are_bounded_by_the_cores_and_gpus(monkeypatch):
    import torch

    said = []
    monkeypatch.setattr(launch, "usable_cores", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match=r"--nproc 9 is more than 4 processes per CPU core \(2 here\).*--nproc 2 or fewer"):
        launch.check_processes(9, "auto", said.append)
    launch.check_processes(2, "auto", said.append)
    assert said == []
    launch.check_processes(8, "cpu", said.append)
    assert len(said) == 1 and "--nproc 8 starts more processes than the 2 CPU cores here" in said[0]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(UserError, match=r"--nproc 3 starts one process per GPU, and this machine has 2"):
        launch.check_processes(3, "auto", said.append)
    launch.check_processes(8, "cpu", said.append)  # --device cpu: the cores count, not the GPUs


def test_a_process_of_the_launch_hands_its_mistake_to_the_launcher(cli, tmp_path, monkeypatch):
    for k, v in {"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "localhost", launch.ERRORS: str(tmp_path)}.items():
        monkeypatch.setenv(k, v)
    code, out, err = cli("train", "--lr", "-1")
    assert code == 2 and not out and not err
    said = json.loads((tmp_path / "rank-1.json").read_text())
    assert said == {"rank": 1, "message": "--lr must be greater than 0; got -1.0", "aborted": False}


def test_the_launcher_prefers_a_process_s_own_mistake_to_another_s_abort(tmp_path):
    (tmp_path / "rank-0.json").write_text(json.dumps({"rank": 0, "message": "another process stopped it",
                                                      "aborted": True}))
    (tmp_path / "rank-1.json").write_text(json.dumps({"rank": 1, "message": "process 1: bad file", "aborted": False}))
    assert launch._first_error(tmp_path) == "process 1: bad file"


REPORT = """\
E1205 16:52:33.461000 12414 torch/distributed/elastic/multiprocessing/api.py:1002] failed (exitcode: 2)
Traceback (most recent call last):
  File "torch/distributed/run.py", line 1032, in <module>
    main()
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
classicnets.cli FAILED
============================================================
"""
BUSY = """\
Traceback (most recent call last):
  File "torch/distributed/run.py", line 1032, in <module>
    main()
torch.distributed.DistNetworkError: The server socket has failed to listen on any local network address. \
port: 29500, useIpv6: false, code: -98, name: EADDRINUSE, message: address already in use
"""


def pass_through(text, errors, monkeypatch):
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(out))
    reader = launch._Stderr(io.BytesIO(text.encode()), errors)
    reader.run()
    return reader, out.getvalue().decode()


def test_torchrun_s_report_is_left_out_once_a_process_said_what_was_wrong(tmp_path, monkeypatch):
    _, shown = pass_through("a warning from rank 0\n" + REPORT, tmp_path, monkeypatch)
    assert "ChildFailedError" in shown and shown.startswith("a warning")  # nothing said: a bug, all shown
    (tmp_path / "rank-0.json").write_text("{}")
    _, shown = pass_through(REPORT, tmp_path, monkeypatch)
    assert shown == ""


def test_a_busy_port_traceback_is_left_out_and_noted(tmp_path, monkeypatch):
    reader, shown = pass_through("starting\n" + BUSY, tmp_path, monkeypatch)
    assert shown == "starting\n" and reader.busy_port
    reader, shown = pass_through("Traceback (most recent call last):\n  File \"x\"\nValueError: bug\n", tmp_path,
                                 monkeypatch)
    assert "ValueError: bug" in shown and not reader.busy_port


def fake_torchrun(monkeypatch, script):
    """torchrun replaced by `script` (run with the launcher's environment and pipes)."""
    real = subprocess.Popen
    monkeypatch.setattr(launch.subprocess, "Popen",
                        lambda cmd, **kw: real([sys.executable, "-c", textwrap.dedent(script)], **kw))
    monkeypatch.setattr(launch, "usable_cores", lambda: 2)


def test_the_launcher_says_a_process_s_mistake_once_with_status_2(cli, tmp_path, monkeypatch):
    fake_torchrun(monkeypatch, f"""
        import json, os, pathlib, sys
        folder = pathlib.Path(os.environ["{launch.ERRORS}"])
        for r in (0, 1):
            (folder / f"rank-{{r}}.json").write_text(json.dumps({{"rank": r, "message": "the folder is empty",
                                                                 "aborted": False}}))
        sys.stderr.write({REPORT!r})
        sys.exit(1)
    """)
    code, _, err = cli("train", "--nproc", 2, "--epochs", 1, "--out", tmp_path / "r")
    assert one_line(code, err) == "classicnets: error: the folder is empty\n"


def test_the_launcher_says_a_busy_port_in_a_sentence(cli, tmp_path, monkeypatch):
    fake_torchrun(monkeypatch, f"""
        import sys
        sys.stderr.write({BUSY!r})
        sys.exit(1)
    """)
    code, _, err = cli("train", "--nproc", 2, "--epochs", 1, "--out", tmp_path / "r")
    assert "address already in use" in one_line(code, err)


@pytest.mark.slow
def test_a_mistake_found_by_the_processes_is_one_sentence(tmp_path):
    (tmp_path / "empty").mkdir()  # a folder without classes: found only when the processes load it
    proc = subprocess.run([sys.executable, "-m", "classicnets.cli", "train", "--nproc", "2", "--data",
                           str(tmp_path / "empty"), "--epochs", "1", "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert "needs one sub-folder per class" in one_line(proc.returncode, proc.stderr)
    assert not (tmp_path / "r").exists()
