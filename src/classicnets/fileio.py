"""Atomic file writes: a crash or Ctrl-C never leaves a half-written file in place.

Every write goes to a temporary file in the target's directory, is flushed to disk, then renamed
over the target (`os.replace` is atomic on POSIX and Windows within one file system). Files get the
permissions any other tool would give them (0666 less the user's umask), not mkstemp's private 0600.
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

from . import testhooks
from .errors import UserError


def _umask() -> int:
    mask = os.umask(0o022)  # read it the only way POSIX offers: set, then put it back
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()

NAME_MAX = 255   # bytes in one file or directory name (ext4, XFS, Btrfs, APFS; the common limit)
PATH_MAX = 4096  # bytes in a whole path handed to the system (Linux's limit)


def shorten(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` bytes of UTF-8, never inside a character."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def abbreviate(text: str | os.PathLike, keep: int = 60) -> str:
    """A long path for a message: its start and its end around "...", at most about `keep` characters."""
    text = os.fsdecode(text)
    return text if len(text) <= keep else f"{text[:keep - 20]}...{text[-17:]}"


def check_path_length(path: str | os.PathLike, what: str) -> None:
    """`UserError` naming `what` (e.g. "--out") if `path` cannot be a path here: a name in it longer than
    `NAME_MAX` bytes, or the whole longer than `PATH_MAX` (the system's 'File name too long')."""
    raw = os.fsencode(path)
    longest = max(raw.split(b"/"), key=len, default=b"")
    if len(longest) > NAME_MAX:
        raise UserError(f"{what} {abbreviate(path)} holds a name of {len(longest)} bytes, and file systems allow "
                        f"{NAME_MAX}; choose a shorter name")
    if len(raw) >= PATH_MAX:
        raise UserError(f"{what} {abbreviate(path)} is {len(raw)} bytes long, and the system takes paths of fewer "
                        f"than {PATH_MAX}; choose a shorter path")


def unwritable_reason(path: str | os.PathLike) -> str | None:
    """Why nothing can be written in directory `path` (which may not exist yet: then its nearest existing
    parent decides), or None if it can: "/x/y is a file, not a directory", "/x is read-only". Asks
    `os.access`, which knows a read-only file system even for root."""
    for p in (Path(path), *Path(path).absolute().parents):
        if not p.exists():
            continue
        if not p.is_dir():
            return f"{p} is a file, not a directory"
        return None if os.access(p, os.W_OK | os.X_OK) else f"{p} is read-only"
    return None


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it over `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if testhooks.ACTIVE:  # crash tests: the new content is complete but not in place yet
            testhooks.pause_point(f"rename:{path.name}")
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


def write_json_exclusive(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON to `path` atomically, only if `path` does not exist yet (else FileExistsError):
    the complete file appears under its name in one step, and two writers cannot both succeed."""
    path = Path(path)
    data = (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if path exists; atomic
        except OSError as e:
            if isinstance(e, FileExistsError):
                raise
            with open(path, "xb") as f:  # a file system without hard links: exclusive create
                f.write(data)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


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
