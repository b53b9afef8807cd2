"""`train --nproc N`: torchrun started by classicnets, and what its processes say reported as one command.

What can be checked before any process starts is (by `train`, and `check_processes` here): a mistake
costs one sentence, not N processes importing torch. A mistake found once they run is written by
each process to a folder the launcher gave them (`ERRORS`) instead of stderr; the launcher prints
the first process's sentence once and returns 2, and leaves out torchrun's own report of a failed
child (a 40-line `ChildFailedError`), which says nothing more. A busy rendezvous port is a sentence too.
A bug keeps its traceback and torchrun's report.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from ..errors import UserError
from .options import PROG, rank

ERRORS = "CLASSICNETS_NPROC_ERRORS"  # environment: the folder where the processes write their sentence
MAX_PER_CORE = 4  # --nproc on the CPU: more processes than this per core are refused (they only wait)
BUSY_PORT = ("EADDRINUSE", "address already in use")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity: taskset, a container's cpuset), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_processes(n: int, device: str, warn) -> None:
    """Refuse `n` processes the machine cannot give what each needs (one GPU each; at most
    `MAX_PER_CORE` per CPU core), and warn where they will share the CPU's cores."""
    import torch

    if device not in ("auto", "cuda", "cpu"):
        raise UserError(f"under --nproc each process uses the GPU of its local rank; use --device auto, cuda or cpu, "
                        f"not {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    if device != "cpu" and torch.cuda.is_available():
        gpus = torch.cuda.device_count()
        if n > gpus:
            raise UserError(f"--nproc {n} starts one process per GPU, and this machine has {gpus}; use --nproc "
                            f"{gpus} or fewer (or --device cpu)")
        return
    cores = usable_cores()
    if n > MAX_PER_CORE * cores:
        raise UserError(f"--nproc {n} is more than {MAX_PER_CORE} processes per CPU core ({cores} here), where "
                        f"they only wait for each other; use --nproc {cores} or fewer")
    if n > cores:
        warn(f"{PROG}: warning: --nproc {n} starts more processes than the {cores} CPU cores here: they take "
             f"turns, and training is slower than with --nproc {cores}")


def report_error(e: UserError) -> bool:
    """In a process started by `launch_torchrun`: hand `e` to the launcher (True) instead of printing it."""
    folder = os.environ.get(ERRORS)
    under_torchrun = all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR"))
    if not folder or not under_torchrun or not Path(folder).is_dir():
        return False
    record = {"rank": rank(), "message": str(e), "aborted": bool(getattr(e, "aborted", False))}
    try:
        (Path(folder) / f"rank-{rank()}.json").write_text(json.dumps(record), encoding="utf-8")
    except OSError:
        return False
    return True


def _first_error(folder: Path) -> str | None:
    """The sentence to print: the lowest rank's own mistake (not "another process stopped it")."""
    records = []
    for path in folder.glob("rank-*.json"):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    records.sort(key=lambda r: (bool(r.get("aborted")), r.get("rank", 0)))
    return records[0]["message"] if records else None


class _Stderr(threading.Thread):
    """Passes torchrun's stderr (its processes' too) through as it comes, but nothing once a process has
    reported a mistake (what follows is torchrun's report of the failed processes), nor a traceback
    whose exception is a busy port (`BUSY_PORT`: said in a sentence instead) and what follows it."""

    def __init__(self, stream, errors: Path):
        super().__init__(daemon=True)
        self.stream, self.errors = stream, errors
        self.busy_port = False

    def run(self) -> None:
        held: list[bytes] = []  # a traceback, until its exception line says whose it is
        for line in iter(self.stream.readline, b""):
            if self.busy_port or any(self.errors.iterdir()):
                held = []
                continue
            text = line.decode(errors="replace")
            if held or text.startswith("Traceback (most recent call last):"):
                held.append(line)
                if text[:1].isspace() or text.startswith("Traceback"):
                    continue  # still inside the traceback
                self.busy_port = any(b in text for b in BUSY_PORT)
                line, held = (b"" if self.busy_port else b"".join(held)), []
            sys.stderr.buffer.write(line)
            sys.stderr.buffer.flush()
        if held:
            sys.stderr.buffer.write(b"".join(held))
            sys.stderr.buffer.flush()


def launch_torchrun(a: argparse.Namespace) -> int:
    """`train --nproc N ...` is `torchrun --standalone --nproc_per_node N -m classicnets.cli train ...`."""
    if rank() or "MASTER_ADDR" in os.environ:
        raise UserError("--nproc starts torchrun itself; under torchrun leave it out")
    argv, rest = list(a.argv), []
    while argv:
        arg = argv.pop(0)
        if arg == "--nproc":
            argv.pop(0)
        elif not arg.startswith("--nproc="):
            rest.append(arg)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={a.nproc}",
           "-m", "classicnets.cli", *rest]
    with tempfile.TemporaryDirectory(prefix="classicnets-nproc-") as folder:
        # OMP_NUM_THREADS: torchrun's own default, set here so that it does not print a banner about it
        env = {"OMP_NUM_THREADS": "1", **os.environ, ERRORS: folder}
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, env=env)
        stderr = _Stderr(proc.stderr, Path(folder))
        stderr.start()
        code, received = _wait(proc)
        stderr.join()
        message = _first_error(Path(folder))
    if received:  # the processes saved their position and printed how to continue
        return 128 + received[0]
    if message is not None:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    if code and stderr.busy_port:
        print(f"{PROG}: error: torchrun could not listen on its rendezvous port (address already in use); "
              f"start again, or free the port", file=sys.stderr)
        return 2
    return 128 - code if code < 0 else code


def _wait(proc: subprocess.Popen) -> tuple[int, list[int]]:
    """torchrun's exit status, and the signals passed on to it while it ran."""
    received: list[int] = []

    def forward(signum, frame):  # SIGTERM to torchrun, which passes it on to every process
        received.append(signum)
        proc.send_signal(signum)
    previous = signal.signal(signal.SIGTERM, forward)
    # Ctrl-C reaches torchrun and its processes from the terminal already: wait for them to save and stop
    previous_int = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        return proc.wait(), received
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
