"""One process at a time trains a run directory: an exclusive `flock` on RUN/.lock.

The lock is taken when a run directory is claimed (`train`) or before anything is read for
`--resume`, and held until the process is done with the directory. The kernel releases a `flock`
when its file is closed, on every exit path: a normal return, an exception, and a process killed
with SIGKILL, so a stale lock never blocks a later `--resume`. While held, the file names its
holder (process id and host) for the message; the holder removes it when done (a killed one leaves
it behind, unlocked and harmless). Whoever locks a file checks that it is still the one in the
directory, so a file removed by its last holder in between is never locked by two processes.

Where `fcntl` does not exist (Windows) runs are not locked.
"""
from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from ..errors import UserError

LOCK = ".lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class RunLock:
    """An exclusive lock on a run directory; `release` (or the process ending) gives it up."""

    def __init__(self, run: str | os.PathLike):
        self.path = Path(run) / LOCK
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        if fcntl is None:
            return self
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as e:
                raise UserError(f"cannot lock run directory {self.path.parent}: {e.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise UserError(f"{self.path.parent} is being trained by another process{holder}; wait for it "
                                f"to end (or stop it) before resuming this run") from None
            except OSError:  # a file system without flock (some network mounts): run unlocked
                os.close(fd)
                return self
            try:  # still the file in the directory? (its last holder may have removed it meanwhile)
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)
        self.fd = fd
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # removed while still locked, so nobody locks it afterwards
        os.close(fd)  # closing releases the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        pid, _, host = os.pread(fd, 200, 0).decode(errors="replace").strip().partition(" ")
    except OSError:
        return ""
    return f" (process {pid} on {host})" if pid.isdigit() else ""


@contextlib.contextmanager
def locked(run: str | os.PathLike) -> Iterator[RunLock]:
    with RunLock(run) as lock:
        yield lock
