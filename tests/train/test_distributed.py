"""Data parallel training under torchrun (Gloo on the CPU): the same run as one process, to float rounding.

`--batch-size` is the global batch; each process takes its part of every batch, augmentation drawn
for the whole batch; so two processes give the same losses and accuracies per epoch as one process
(lenet without dropout: its masks are drawn per process), the same run directory, and a checkpoint
from one world size resumes under another.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from classicnets.cli import run_cli
from classicnets.data.augment import AugmentConfig, Augmenter
from classicnets.data.core import BatchLoader, shard
from classicnets.train.distributed import CHECK_STEPS

ARGS = ["train", "--epochs", "2", "--batch-size", "100", "--arg", "dropout=0", "--seed", "2", "-q"]
STEPS = 13  # per epoch: digits' 1257 training examples in batches of 100


def test_shards_cover_each_batch_once_with_the_first_parts_longer():
    for n in (1, 3, 57, 100):
        for world in (1, 2, 3, 8):
            parts = [shard(n, r, world) for r in range(world)]
            assert parts[0][0] == 0 and parts[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
            sizes = [hi - lo for lo, hi in parts]
            assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_the_parts_of_a_batch_are_the_single_process_batch_augmentation_included(digits):
    aug = Augmenter(AugmentConfig(translate=1, horizontal_flip=True))
    norm = digits.normalization()

    def batches(part):
        g = torch.Generator().manual_seed(3)
        loader = BatchLoader(digits.train, 100, device=torch.device("cpu"), normalization=norm, shuffle=True,
                             generator=g, augment=aug)
        return list(loader.batches(loader.draw_order(), 2, part))  # from batch 2 on, as after a resume
    whole = batches(None)
    for world in (2, 3):
        parts = [batches((r, world)) for r in range(world)]
        assert len(whole) == 11 and all(len(p) == len(whole) for p in parts)
        for i, (x, y) in enumerate(whole):
            assert torch.equal(torch.cat([p[i][0] for p in parts]), x)
            assert torch.equal(torch.cat([p[i][1] for p in parts]), y)


def torchrun(nproc, *args, entry=("-m", "classicnets.cli"), env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             f"--nproc_per_node={nproc}", *map(str, entry), *map(str, args)],
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kw)


def metrics(run):
    lines = (run / "metrics.csv").read_text().splitlines()
    return lines[0], [[float(v) for v in line.split(",")] for line in lines[1:]]


def assert_close_runs(a, b, tol=1e-5):
    (head_a, rows_a), (head_b, rows_b) = metrics(a), metrics(b)
    assert head_a == head_b and len(rows_a) == len(rows_b)
    for ra, rb in zip(rows_a, rows_b):
        assert ra == pytest.approx(rb, abs=tol), (head_a, ra, rb)
    res = [json.loads((r / "results.json").read_text()) for r in (a, b)]
    assert res[0].keys() == res[1].keys()
    for k in res[0]:
        if k != "wall_time_s":
            assert res[0][k] == pytest.approx(res[1][k], abs=tol), k


def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path):
    proc = torchrun(2, *ARGS, "--out", tmp_path / "two", cwd=tmp_path)
    assert run_cli([*ARGS, "--out", str(tmp_path / "one")]) == 0  # meanwhile, the single process
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    one, two = tmp_path / "one", tmp_path / "two"
    assert_close_runs(two, one)
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    cards = [json.loads((r / "model.json").read_text()) for r in (two, one)]
    norms = [c.pop("normalization") for c in cards]  # statistics summed by 1 thread or 2: rounding apart
    assert cards[0] == cards[1] and norms[0]["mean"] == pytest.approx(norms[1]["mean"], rel=1e-9)
    record = json.loads((two / "config.json").read_text())
    assert record["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert record["train"] == json.loads((one / "config.json").read_text())["train"]
    assert "Traceback" not in out and out.count("Test: loss") == 1  # rank 0 alone speaks


def wait_for(condition, proc, lines, timeout=240):
    """Poll `condition` until it holds; fail with the output so far if `proc` ends or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
        time.sleep(0.05)


@pytest.mark.slow
def test_a_checkpoint_resumes_under_another_world_size(tmp_path, monkeypatch):
    """One process stopped inside an epoch, finished by two (`--nproc 2` starts torchrun); and two
    processes stopped by SIGTERM (torchrun passes it on), finished by one."""
    from classicnets import testhooks
    from classicnets.train.checkpoint import read_position

    ref = tmp_path / "ref"
    assert run_cli([*ARGS, "--out", str(ref)]) == 0

    count = [0]

    def sigterm_after_step_17(point):
        count[0] += 1 if point == "step" else 0
        if point == "step" and count[0] == 17:
            os.kill(os.getpid(), signal.SIGTERM)
    monkeypatch.setattr(testhooks, "ACTIVE", True)
    monkeypatch.setattr(testhooks, "pause_point", sigterm_after_step_17)
    a = tmp_path / "a"
    assert run_cli([*ARGS, "--out", str(a)]) == 143
    monkeypatch.undo()
    assert read_position(a / "checkpoint.safetensors") == (1, 4)
    launcher = subprocess.run([sys.executable, "-m", "classicnets.cli", "train", "--nproc", "2", "--resume", str(a),
                               "-q"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert launcher.returncode == 0, launcher.stderr
    assert_close_runs(a, ref)

    # Both processes are held after their third step, the signal goes to torchrun, and once torchrun has
    # passed it on to both they are let go: they agree to stop at their next check, the first of every
    # CHECK_STEPS steps or the epoch's last step, whichever comes first.
    b, marker = tmp_path / "b", tmp_path / "paused"  # each process pauses at its own paused.<rank>
    proc = torchrun(2, *ARGS, "--out", b, cwd=tmp_path,
                    start_new_session=True,
                    env={"CLASSICNETS_TEST_PAUSE_AT": "step:3", "CLASSICNETS_TEST_PAUSE_MARKER": str(marker)})
    lines = []

    def read():  # torchrun's output, line by line, while the test watches it
        for line in proc.stdout:
            lines.append(line)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    markers = [marker.with_name(f"paused.{rank}") for rank in range(2)]
    wait_for(lambda: all(m.exists() for m in markers), proc, lines)
    pids = [m.read_text().split()[0] for m in markers]
    proc.send_signal(signal.SIGTERM)  # to torchrun, which sends it to both processes, then waits 30 s for them
    wait_for(lambda: all(any(f"process {pid} closing signal SIGTERM" in line for line in lines) for pid in pids),
             proc, lines)
    for m in markers:
        m.unlink()
    proc.wait(timeout=120)
    reader.join(timeout=10)
    out = "".join(lines)
    stop = min(-(-3 // CHECK_STEPS) * CHECK_STEPS, STEPS)  # 13: CHECK_STEPS (16) is past the epoch's end
    assert out.count("Stopped by SIGTERM") == 1, out  # rank 0 alone speaks; rank 1 stopped quietly, no traceback
    assert f"Stopped by SIGTERM in epoch 1 after step {stop} (saved). Continue with: classicnets train --resume {b}" \
        in out, out
    assert "[rank" not in out, out  # no process died with a traceback (torch prefixes those with [rankN])
    assert read_position(b / "checkpoint.safetensors") == (0, stop)  # at 13: the epoch's end still to come
    assert run_cli(["train", "--resume", str(b), "-q"]) == 0
    assert_close_runs(b, ref)


def test_sync_bn_on_the_cpu_is_one_sentence():
    from classicnets.errors import UserError
    from classicnets.train.distributed import Dist
    from classicnets.train.strategy import DataParallel
    from classicnets.zoo import create

    d = Dist(rank=0, world_size=2, local_rank=0, device=torch.device("cpu"), backend="gloo")
    with pytest.raises(UserError, match="--sync-bn needs CUDA GPUs"):
        DataParallel(d).wrap(create("resnet20", seed=0), sync_bn=True)


NAN_ON_RANK_1 = """
import os, sys
from classicnets.train import engine
from classicnets.cli import run_cli
real, count, bad = engine.make_loss, [0], {int(s) for s in os.environ["NAN_AT"].split(",")}
def make_loss(*args, **kwargs):
    fn = real(*args, **kwargs)
    def loss(logits, y):
        out = fn(logits, y)
        if logits.requires_grad:  # a training step
            count[0] += 1
            if count[0] in bad and os.environ["RANK"] == "1":  # one process alone sees it
                return out * float("nan")
        return out
    return loss
engine.make_loss = make_loss
sys.exit(run_cli(sys.argv[1:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_a_nan_on_one_process_is_a_decision_of_all(tmp_path, mode):
    from classicnets.train.checkpoint import read_position

    (tmp_path / "nan.py").write_text(NAN_ON_RANK_1)
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(tmp_path / "nan.py"), "train", "--epochs", "2", "--batch-size", "128",
                           "--checkpoint-every", "3", "--on-nonfinite", mode, "--out", str(run), "-q"],
                          env={**os.environ, "NAN_AT": "14" if mode == "stop" else "3,7"}, capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    if mode == "stop":  # found at the next check (the save after step 15), named at its own step, nothing saved
        assert proc.stderr.count("the training loss became nan at epoch 2, step 4 of 10") == 1, proc.stderr
        assert read_position(run / "checkpoint.safetensors") == (1, 2)
    else:  # every process skips the same steps
        assert proc.returncode == 0, proc.stderr
        assert json.loads((run / "results.json").read_text())["skipped_steps"] == 2
