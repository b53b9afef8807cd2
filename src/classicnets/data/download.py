"""Downloads with published checksums, known copies, a cache, mirrors, system packages and an offline mode.

Where a file comes from, in order:
1. `data_dir` (the CLI's `--data-dir`): a directory holding files the user already has; checked
   and never deleted.
2. The cache, `$CLASSICNETS_DATA/<data set>/` (default `~/.cache/classicnets/<data set>/`). A cached
   file that is not an accepted copy is never deleted (it may be a file the user put there): it is
   renamed `NAME.bad-<md5 prefix>` beside itself, the rename is reported on stderr, and the file is
   looked for further on.
3. The folders where system packages install it (`KnownCopy.folder`, e.g. Debian's
   dataset-fashion-mnist in /usr/share/datasets/fashion-mnist), read where they are, never copied or
   changed. A copy there that is not accepted is passed over with a line on stderr.
4. A download with pooch from the published URL, or from `base_url` / `$CLASSICNETS_MIRROR` (a
   mirror holding the same file names). pooch writes to a temporary file and moves it into place
   only once the checksum matches, so an interrupted or corrupt download leaves nothing behind.
   With `$CLASSICNETS_OFFLINE=1` nothing is downloaded.
A missing file that cannot be downloaded is one message: which file, from where, where to put it.

A file is accepted (`identify`) when it matches the published checksum, or the recorded checksum of
a known repackaging (`KnownCopy`: Debian re-compressed Fashion-MNIST's gzip files, so their MD5s
differ), or, for a gzip file with a recorded `content_md5`, when its gunzipped content matches: any
re-compression is then accepted, said once on stderr and remembered in the cache (the file's MD5 in
`<cache>/<data set>/.recompressed.json`), so later loads hash only the gzip file and say nothing.
Anything else is refused, naming the file.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import tarfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from ..errors import UserError
from ..fileio import atomic_open, write_text


def _checksum(md5: str, sha256: str) -> tuple[str, str] | None:
    return ("sha256", sha256) if sha256 else ("md5", md5) if md5 else None


@dataclass(frozen=True)
class KnownCopy:
    """A repackaging of a published file, accepted as well: who made it, its own checksum where
    recorded (a re-compressed gzip file differs from the published one byte for byte while holding
    the same data), and the folder its system package installs it in, where `fetch` looks for it."""
    origin: str        # who made it, e.g. "Debian package dataset-fashion-mnist"
    md5: str = ""      # its MD5, where recorded
    sha256: str = ""   # or its SHA-256
    folder: str = ""   # where its package installs it, e.g. /usr/share/datasets/fashion-mnist

    @property
    def checksum(self) -> tuple[str, str] | None:
        return _checksum(self.md5, self.sha256)


@dataclass(frozen=True)
class RemoteFile:
    name: str   # file name, also its name in a mirror, in --data-dir and in a system folder
    url: str    # published address
    md5: str = ""      # published MD5 checksum
    sha256: str = ""   # published SHA-256 checksum, for files whose source publishes only that
    size: int = 0      # published size in bytes: checked alone only where the source publishes no checksum
    copies: tuple[KnownCopy, ...] = ()  # known repackagings (see KnownCopy)
    content_md5: str = ""  # for a .gz file: MD5 of its gunzipped content, so any re-compression is accepted

    @property
    def checksum(self) -> tuple[str, str]:
        """(algorithm, value) that `fetch` checks: the SHA-256 where given, else the MD5, else the size
        ("size", "68606236") for the few files whose publisher gives no checksum at all."""
        if self.sha256 or self.md5:
            return _checksum(self.md5, self.sha256)
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


def _digests(path: Path, name: str, algos: set[str]) -> dict[str, str]:
    """{algo: hex digest} of `path` for each of `algos` ("md5", "sha256", "size"), read once; it
    should be the file `name`: `UserError` if it is a folder or unreadable."""
    if path.is_dir():
        raise UserError(f"{path} is a folder where the file {name} should be; move or rename the folder")
    try:
        hashes = {a: hashlib.new(a, usedforsecurity=False) for a in algos if a != "size"}
        if hashes:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    for h in hashes.values():
                        h.update(block)
        found = {a: h.hexdigest() for a, h in hashes.items()}
        if "size" in algos:
            found["size"] = str(path.stat().st_size)
        return found
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None


def _checked_md5(path: Path, name: str, algo: str = "md5") -> str:
    """md5 (or `algo` digest) of `path`, which should be the file `name`; `UserError` if it is a
    folder or unreadable."""
    return _digests(path, name, {algo})[algo]


def _gunzipped_md5(path: Path) -> str | None:
    """MD5 of the gunzipped content of `path`, streamed; None if it is not a whole gzip file."""
    h = hashlib.md5(usedforsecurity=False)
    try:
        with gzip.open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except (OSError, EOFError, zlib.error):
        return None
    return h.hexdigest()


def _recompressed(dataset: str) -> Path:
    """The cache's record of re-compressed copies already accepted: {file name: [their MD5s]}."""
    return data_home() / dataset / ".recompressed.json"


def _remembered(dataset: str) -> dict[str, list[str]]:
    try:
        seen = json.loads(_recompressed(dataset).read_text())
    except (OSError, ValueError):
        return {}
    return seen if isinstance(seen, dict) else {}


def _same_content(path: Path, f: RemoteFile, dataset: str, md5: str) -> bool:
    """Whether `path` (MD5 `md5`) is a re-compressed copy of `f`: its gunzipped content has MD5
    `f.content_md5`. Said once on stderr, then remembered in the cache (where it can be written),
    so the next load hashes only the gzip file and says nothing."""
    seen = _remembered(dataset)
    if md5 in seen.get(f.name, []):
        return True
    if _gunzipped_md5(path) != f.content_md5:
        return False
    print(f"classicnets: {path} is a re-compressed copy of the published {f.name} (its content matches); "
          f"using it", file=sys.stderr)
    seen[f.name] = [*seen.get(f.name, []), md5]
    try:
        write_text(_recompressed(dataset), json.dumps(seen, indent=1) + "\n")
    except OSError:
        pass  # a cache that cannot be written: the line is said again on the next load
    return True


def identify(path: Path, f: RemoteFile, dataset: str) -> tuple[str | None, dict[str, str]]:
    """Which copy of `f` the file at `path` is: "published", a known copy's origin ("Debian package
    dataset-fashion-mnist"), "re-compressed" (its gunzipped content matches `f.content_md5`), or None
    when it is none of them; with the digests computed (the file is read once for all of them)."""
    algo, want = f.checksum
    algos = {algo} | {c.checksum[0] for c in f.copies if c.checksum} | ({"md5"} if f.content_md5 else set())
    found = _digests(path, f.name, algos)
    if found[algo] == want:
        return "published", found
    for c in f.copies:
        if c.checksum and found[c.checksum[0]] == c.checksum[1]:
            return c.origin, found
    if f.content_md5 and _same_content(path, f, dataset, found["md5"]):
        return "re-compressed", found
    return None, found


def _mismatch(path: Path, f: RemoteFile, found: dict[str, str], what: str = "", has: str = "this file has") -> str:
    """"PATH does not match the published checksum of NAME (...)", with `what` before PATH."""
    algo, want = f.checksum
    return (f"{what}{path} does not match the published checksum of {f.name} ({algo} {want}; {has} "
            f"{algo} {found[algo]} and {path.stat().st_size:,} bytes)")


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written into `folder` (created if missing when they are), or None: the
    first part of its path that is a file, or the existing folder that is read-only. Nothing is
    created here."""
    for p in (folder, *folder.parents):
        try:
            if not p.exists():
                continue
        except OSError as e:
            return f"{p} cannot be read ({e.strerror or e})"
        if not p.is_dir():
            return f"{p} is a file, not a folder"
        if not os.access(p, os.W_OK | os.X_OK):
            return f"{p} is read-only"
        return None
    return None


def _cache_problem(cache: Path) -> str | None:
    """`folder_problem(cache)`, saying where the folder comes from."""
    problem = folder_problem(cache)
    if problem and os.environ.get("CLASSICNETS_DATA"):
        problem += f" ($CLASSICNETS_DATA is {os.environ['CLASSICNETS_DATA']})"
    return problem


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


def _exists(path: Path) -> bool:
    return os.path.exists(path)  # False where a part of the path is a file or cannot be read


def _from_system(f: RemoteFile, dataset: str) -> Path | None:
    """`f` where a system package installed it (`KnownCopy.folder`), if that copy is accepted; a
    copy there that is not is passed over, with a line on stderr."""
    for folder in dict.fromkeys(c.folder for c in f.copies if c.folder):
        path = Path(folder) / f.name
        if not path.is_file():
            continue
        try:
            kind, found = identify(path, f, dataset)
        except UserError as e:
            print(f"classicnets: {e}; not using it", file=sys.stderr)
            continue
        if kind:
            return path
        print(f"classicnets: {_mismatch(path, f, found)}; not using it", file=sys.stderr)
    return None


def fetch(f: RemoteFile, dataset: str, *, data_dir: str | os.PathLike | None = None,
          base_url: str | None = None) -> Path:
    """Path of an accepted local copy of `f` (see the module docstring for where it is looked for),
    downloading it into the cache if needed."""
    if data_dir is not None:
        given = Path(data_dir) / f.name
        if _exists(given):
            kind, found = identify(given, f, dataset)
            if kind is None:
                raise UserError(f"{_mismatch(given, f, found)}; it is damaged or a different version")
            return given
    cache = data_home() / dataset
    path = cache / f.name
    moved = stuck = None
    if _exists(path):
        kind, found = identify(path, f, dataset)
        if kind:
            return path
        try:
            moved = move_aside(path, _mismatch(path, f, found, "the cached ", "it has"), found.get("md5"))
        except UserError as e:
            stuck = e  # it stays where it is; a system package's copy may still serve
    system = _from_system(f, dataset)
    if system is not None:
        return system
    if stuck is not None:
        raise stuck
    return _download(f, dataset, cache, data_dir, base_url, moved)


def _download(f: RemoteFile, dataset: str, cache: Path, data_dir, base_url: str | None, moved: Path | None) -> Path:
    """Download `f` into `cache` with pooch, checked; one sentence for each way that fails."""
    algo, want = f.checksum
    path = cache / f.name
    base_url = base_url or os.environ.get("CLASSICNETS_MIRROR")
    url = f"{base_url.rstrip('/')}/{f.name}" if base_url else f.url
    problem = _cache_problem(cache)
    if problem:
        where = f"pass --data-dir DIR (the data cache {cache} cannot hold it: {problem})"
    else:
        where = f"put it in {cache}" + (f" or in {data_dir}" if data_dir else " or pass --data-dir DIR")
    if moved is not None:
        where += f" (the damaged copy that was there is now {moved})"
    aside = f" (the damaged cached copy is now {moved})" if moved is not None else ""
    if os.environ.get("CLASSICNETS_OFFLINE"):
        raise UserError(f"{dataset} needs {f.name}, which is not here and CLASSICNETS_OFFLINE is set; "
                        f"download it from {url} and {where}")
    if problem:
        raise UserError(f"{dataset} needs {f.name}, which is not here, and the data cache {cache} cannot hold a "
                        f"download: {problem}; set CLASSICNETS_DATA to a folder you can write to, or download "
                        f"{url} yourself and pass --data-dir DIR")
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
        raise UserError(f"cannot download {f.name} for {dataset} from {url} ({_reason(e)}); "
                        f"download it yourself and {where}") from None
    return path


def _reason(e: Exception) -> str:
    """A download error in a few words; a file system error whole, with its path."""
    import requests

    if isinstance(e, requests.exceptions.HTTPError) and e.response is not None:
        return f"HTTP {e.response.status_code}"
    if isinstance(e, requests.exceptions.ConnectionError):
        return "the server cannot be reached; no network?"
    if isinstance(e, OSError) and not isinstance(e, requests.exceptions.RequestException) and e.strerror:
        return f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    return f"{type(e).__name__}: {str(e).splitlines()[0][:200]}" if str(e) else type(e).__name__


def check_extractable(archive: Path, dest: Path) -> None:
    """`UserError` in one sentence if `archive` cannot be extracted into `dest` (in the data cache):
    a part of its path is a file, or it is read-only."""
    problem = _cache_problem(dest)
    if problem:
        raise UserError(f"cannot extract {archive} into {dest}: {problem}; set CLASSICNETS_DATA to a folder "
                        f"you can write to")


def keep_in_cache(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write a file derived from the data (decoded images, tokens) into the data cache through
    `write(f)`, atomically. A cache that cannot be written costs only the time to derive it again
    next time: said on stderr, never an error."""
    problem = _cache_problem(path.parent)
    if problem is None:
        try:
            with atomic_open(path, "wb") as f:
                write(f)
            return
        except OSError as e:
            problem = f"{e.strerror or e}: {e.filename or path}"
    print(f"classicnets: cannot keep {path.name} in the data cache {path.parent} ({problem}); going on "
          f"without it, so it is made again next time", file=sys.stderr)


def check_member(archive: Path, name: str) -> None:
    """`UserError` if an archive member would land outside the folder it is extracted into."""
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or name.startswith(("/", "\\")):
        raise UserError(f"archive {archive} has a member outside its folder ({name!r}); refusing to extract it")


def safe_extract(archive: Path, dest: Path, wanted: set[str] | None = None) -> list[Path]:
    """Extract regular files of a tar archive into `dest`, refusing members that would land outside
    it (absolute paths, '..') and links or devices; every member is checked before anything is written.
    `wanted` limits extraction to those member names."""
    check_extractable(archive, dest)
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


def locate_file(f: RemoteFile, dataset: str, *, data_dir: str | os.PathLike | None = None,
                base_url: str | None = None) -> tuple[str, str]:
    """Where `fetch` would take `f` from, by looking only (no file is read or hashed, so a damaged
    copy still shows where it lies): ("--data-dir", folder), ("cache", folder), ("system package",
    "ORIGIN, folder"), ("download", base address) or ("offline", base address)."""
    if data_dir is not None and _exists(Path(data_dir) / f.name):
        return "--data-dir", str(data_dir)
    cache = data_home() / dataset
    if _exists(cache / f.name):
        return "cache", str(cache)
    for c in f.copies:
        if c.folder and (Path(c.folder) / f.name).is_file():
            return "system package", f"{c.origin}, {c.folder}"
    base_url = base_url or os.environ.get("CLASSICNETS_MIRROR")
    url = f"{base_url.rstrip('/')}/{f.name}" if base_url else f.url
    return ("offline" if os.environ.get("CLASSICNETS_OFFLINE") else "download"), url.rsplit("/", 1)[0] + "/"


_PLACES = {"--data-dir": "--data-dir ({})", "cache": "cache ({})", "system package": "system package ({})",
           "download": "would be downloaded from {}", "offline": "missing; CLASSICNETS_OFFLINE is set (from {})"}


def locate(files: Sequence[RemoteFile], dataset: str, *, data_dir: str | os.PathLike | None = None,
           base_url: str | None = None) -> str:
    """Where a data set's files would be found, in one line: "system package (Debian package
    dataset-fashion-mnist, /usr/share/datasets/fashion-mnist)", "cache (~/.cache/classicnets/mnist)",
    "would be downloaded from URL"; files found in different places are counted ("2 files: cache
    (...); 2 files: would be downloaded from ..."). Cheap: see `locate_file`."""
    groups: dict[tuple[str, str], int] = {}
    for f in files:
        where = locate_file(f, dataset, data_dir=data_dir, base_url=base_url)
        groups[where] = groups.get(where, 0) + 1
    if len(groups) == 1:
        (place, detail), = groups
        return _PLACES[place].format(detail)
    return "; ".join(f"{n} file{'s' * (n > 1)}: {_PLACES[p].format(d)}" for (p, d), n in groups.items())
