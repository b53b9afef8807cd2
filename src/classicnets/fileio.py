"""Atomic file writes: a crash or Ctrl-C never leaves a half-written file in place.

Every write goes to a temporary file in the target's directory, is flushed to disk, then renamed
over the target (`os.replace` is atomic on POSIX and Windows within one file system).
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it over `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


class BackgroundWriter:
    """Atomic writes on a worker thread, one at a time, so a slow disk (fsync) overlaps computation.

    `submit` takes bytes already serialised (a consistent snapshot) and waits for the previous write;
    `wait` blocks until the last write is on disk and re-raises its error, if any.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, path: str | os.PathLike, data: bytes) -> None:
        self.wait()

        def work() -> None:
            try:
                write_bytes(path, data)
            except BaseException as e:  # handed to the training thread by wait()
                self._error = e
        self._thread = threading.Thread(target=work, name="classicnets-writer")
        self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            err, self._error = self._error, None
            raise err
