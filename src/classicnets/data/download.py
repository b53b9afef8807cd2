"""Downloads with published checksums, a cache, mirrors, user-supplied files and an offline mode.

Where a file comes from, in order:
1. `data_dir` (the CLI's `--data-dir`): a directory holding files the user already has; checked
   against the checksum and never deleted.
2. The cache, `$CLASSICNETS_DATA/<data set>/` (default `~/.cache/classicnets/<data set>/`). A cached
   file that does not match its checksum is never deleted (it may be a file the user put there):
   it is renamed `NAME.bad-<md5 prefix>` beside itself, the rename is reported on stderr, and the
   file is fetched again.
3. A download with pooch from the published URL, or from `base_url` / `$CLASSICNETS_MIRROR` (a
   mirror holding the same file names). pooch writes to a temporary file and moves it into place
   only once the checksum matches, so an interrupted or corrupt download leaves nothing behind.
   With `$CLASSICNETS_OFFLINE=1` nothing is downloaded.
A missing file that cannot be downloaded is one message: which file, from where, where to put it.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import UserError
from ..fileio import atomic_open


@dataclass(frozen=True)
class RemoteFile:
    name: str   # file name, also its name in a mirror and in --data-dir
    url: str    # published address
    md5: str = ""      # published MD5 checksum
    sha256: str = ""   # published SHA-256 checksum, for files whose source publishes only that
    size: int = 0      # published size in bytes: checked alone only where the source publishes no checksum

    @property
    def checksum(self) -> tuple[str, str]:
        """(algorithm, value) that `fetch` checks: the SHA-256 where given, else the MD5, else the size
        ("size", "68606236") for the few files whose publisher gives no checksum at all."""
        if self.sha256 or self.md5:
            return ("sha256", self.sha256) if self.sha256 else ("md5", self.md5)
        if self.size:
            return ("size", str(self.size))
        raise ValueError(f"RemoteFile {self.name} declares no checksum")


def data_home() -> Path:
    return Path(os.environ.get("CLASSICNETS_DATA") or Path.home() / ".cache" / "classicnets")


def md5sum(path: Path, algo: str = "md5") -> str:
    """Hex digest of the file at `path`: its MD5, or its `algo` ("sha256") digest."""
    h = hashlib.new(algo, usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _checked_md5(path: Path, name: str, algo: str = "md5") -> str:
    """md5 (or `algo` digest) of `path`, which should be the file `name`; `UserError` if it is a
    folder or unreadable."""
    if path.is_dir():
        raise UserError(f"{path} is a folder where the file {name} should be; move or rename the folder")
    try:
        if algo == "size":
            return str(path.stat().st_size)
        return md5sum(path, algo)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None


def move_aside(path: Path, why: str, digest: str | None = None) -> Path:
    """Rename a damaged file to `NAME.bad-<md5 prefix>` beside it, never deleting it (it may be the
    user's), and say so on stderr: "classicnets: WHY; moved it to NEW". Returns the new path."""
    digest = digest or _checked_md5(path, path.name)
    bad = path.with_name(f"{path.name}.bad-{digest[:8]}")
    try:
        os.replace(path, bad)
    except OSError as e:
        raise UserError(f"{why}, and it cannot be moved aside to {bad} ({e.strerror or e}); "
                        f"move or remove it yourself") from None
    print(f"classicnets: {why}; moved it to {bad}", file=sys.stderr)
    return bad


def fetch(f: RemoteFile, dataset: str, *, data_dir: str | os.PathLike | None = None,
          base_url: str | None = None) -> Path:
    """Path of a verified local copy of `f`, downloading it into the cache if needed."""
    algo, want = f.checksum  # md5, or sha256 where that is what is published
    if data_dir is not None:
        given = Path(data_dir) / f.name
        if given.exists():
            found = _checked_md5(given, f.name, algo)
            if found != want:
                raise UserError(f"{given} does not match the published checksum of {f.name} "
                                f"({algo} {want}; this file has {algo} {found} and {given.stat().st_size:,} "
                                f"bytes); it is damaged or a different version")
            return given
    cache = data_home() / dataset
    path = cache / f.name
    moved = None
    if path.exists():
        found = _checked_md5(path, f.name, algo)
        if found == want:
            return path
        moved = move_aside(path, f"the cached {path} does not match the published checksum of {f.name} "
                                 f"({algo} {want}; it has {algo} {found} and {path.stat().st_size:,} bytes)",
                           found if algo == "md5" else None)
    base_url = base_url or os.environ.get("CLASSICNETS_MIRROR")
    url = f"{base_url.rstrip('/')}/{f.name}" if base_url else f.url
    where = f"put it in {cache}" + (f" or in {data_dir}" if data_dir else " or pass --data-dir DIR")
    if moved is not None:
        where += f" (the damaged copy that was there is now {moved})"
    aside = f" (the damaged cached copy is now {moved})" if moved is not None else ""
    if os.environ.get("CLASSICNETS_OFFLINE"):
        raise UserError(f"{dataset} needs {f.name}, which is not here and CLASSICNETS_OFFLINE is set; "
                        f"download it from {url} and {where}")
    import pooch
    import requests

    try:
        pooch.retrieve(url, known_hash=None if algo == "size" else f"{algo}:{want}", fname=f.name, path=cache,
                       progressbar=False)
        if algo == "size" and str(path.stat().st_size) != want:
            bad = move_aside(path, f"the download of {f.name} from {url} has {path.stat().st_size:,} bytes, not "
                                   f"the published {int(want):,}")
            raise UserError(f"the download of {f.name} from {url} is not the published file (size differs); "
                            f"it was moved to {bad}; try again or use another mirror")
    except ValueError as e:  # pooch: checksum mismatch; it has already removed the download
        if "hash" not in str(e).lower():
            raise
        raise UserError(f"the download of {f.name} from {url} does not match its published checksum "
                        f"({algo} {want}); the bad file was deleted{aside}; try again or use another mirror") from None
    except (requests.exceptions.RequestException, OSError) as e:
        if isinstance(e, requests.exceptions.HTTPError) and e.response is not None:
            reason = f"HTTP {e.response.status_code}"
        elif isinstance(e, requests.exceptions.ConnectionError):
            reason = "the server cannot be reached; no network?"
        else:
            reason = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}" if str(e) else type(e).__name__
        raise UserError(f"cannot download {f.name} for {dataset} from {url} ({reason}); "
                        f"download it yourself and {where}") from None
    return path


def check_member(archive: Path, name: str) -> None:
    """`UserError` if an archive member would land outside the folder it is extracted into."""
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or name.startswith(("/", "\\")):
        raise UserError(f"archive {archive} has a member outside its folder ({name!r}); refusing to extract it")


def safe_extract(archive: Path, dest: Path, wanted: set[str] | None = None) -> list[Path]:
    """Extract regular files of a tar archive into `dest`, refusing members that would land outside
    it (absolute paths, '..') and links or devices; every member is checked before anything is written.
    `wanted` limits extraction to those member names."""
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for m in members:
                check_member(archive, m.name)
                if not (m.isfile() or m.isdir()):
                    raise UserError(f"archive {archive} has a link or special file ({m.name!r}); "
                                    f"refusing to extract it")
            out = []
            for m in members:
                if not m.isfile() or (wanted is not None and m.name not in wanted):
                    continue
                target = dest / m.name
                with tar.extractfile(m) as src, atomic_open(target, "wb") as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
                out.append(target)
            return out
    except (tarfile.TarError, EOFError, OSError) as e:
        raise UserError(f"cannot read archive {archive}: {e}") from None
