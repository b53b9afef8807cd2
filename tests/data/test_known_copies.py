"""Files accepted from known copies (a repackaging's recorded checksum, a re-compressed gzip file whose
content matches), system folders found without --data-dir, where each file is looked for, and a data
cache ($CLASSICNETS_DATA) that cannot be written. Small IDX files made here; no network."""
import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classicnets.data import idx, load_dataset, sources
from classicnets.data.download import KnownCopy, RemoteFile, fetch, identify, locate, safe_extract
from classicnets.errors import UserError

RAW = bytes([0, 0, 0x08, 3]) + b"".join(d.to_bytes(4, "big") for d in (2, 28, 28)) + bytes(range(256)) * 6 \
    + bytes(32)  # an IDX file of two 28x28 images
PUBLISHED = gzip.compress(RAW, mtime=0)  # the publisher's gzip file
RECOMPRESSED = gzip.compress(RAW, compresslevel=1, mtime=1591347900)  # the same content, another container
NAME = "train-images-idx3-ubyte.gz"
MESSAGE = "is a re-compressed copy of the published train-images-idx3-ubyte.gz (its content matches); using it"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def remote(copies=(), content=True, url="https://example.org/data/") -> RemoteFile:
    return RemoteFile(NAME, url + NAME, md5(PUBLISHED), copies=tuple(copies), content_md5=md5(RAW) if content else "")


def put(folder: Path, data: bytes, name: str = NAME) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty data cache, and no downloads."""
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    monkeypatch.delenv("CLASSICNETS_MIRROR", raising=False)
    return tmp_path / "cache"


def test_the_two_gzip_files_differ_but_hold_the_same_content():
    assert PUBLISHED != RECOMPRESSED and gzip.decompress(RECOMPRESSED) == RAW


def test_a_recompressed_copy_is_accepted_by_its_content_and_said_once(cache, tmp_path, capsys):
    given = put(tmp_path / "mine", RECOMPRESSED)
    assert fetch(remote(), "demo", data_dir=tmp_path / "mine") == given
    err = capsys.readouterr().err
    assert err == f"classicnets: {given} {MESSAGE}\n"
    for _ in range(2):  # later loads: remembered in the cache by the file's MD5, said no more
        assert fetch(remote(), "demo", data_dir=tmp_path / "mine") == given
    assert capsys.readouterr().err == ""
    assert (cache / "demo" / ".recompressed.json").is_file()
    assert given.read_bytes() == RECOMPRESSED  # the user's file is left as it is


def test_a_changed_byte_in_the_content_is_refused_naming_the_file(cache, tmp_path, capsys):
    changed = bytearray(RAW)
    changed[100] ^= 1
    given = put(tmp_path / "mine", gzip.compress(bytes(changed), mtime=0))
    with pytest.raises(UserError) as e:
        fetch(remote(), "demo", data_dir=tmp_path / "mine")
    assert str(e.value).startswith(f"{given} does not match the published checksum of {NAME} (md5 {md5(PUBLISHED)}; ")
    assert str(e.value).endswith("it is damaged or a different version")
    assert given.exists() and "re-compressed" not in capsys.readouterr().err


def test_a_file_that_is_not_gzip_is_refused_not_crashed_on(cache, tmp_path):
    put(tmp_path / "mine", RAW)  # gunzipped by hand and kept under the .gz name
    with pytest.raises(UserError, match="does not match the published checksum"):
        fetch(remote(), "demo", data_dir=tmp_path / "mine")


def test_without_a_content_digest_only_the_recorded_checksums_count(cache, tmp_path):
    put(tmp_path / "mine", RECOMPRESSED)
    with pytest.raises(UserError, match="does not match the published checksum"):
        fetch(remote(content=False), "demo", data_dir=tmp_path / "mine")
    repackaged = remote([KnownCopy("Example package example-data", md5(RECOMPRESSED))], content=False)
    assert identify(tmp_path / "mine" / NAME, repackaged, "demo")[0] == "Example package example-data"
    assert fetch(repackaged, "demo", data_dir=tmp_path / "mine") == tmp_path / "mine" / NAME


def test_a_system_folder_is_found_without_data_dir_and_left_as_it_is(cache, tmp_path, capsys):
    system = tmp_path / "usr/share/datasets/demo"
    path = put(system, RECOMPRESSED)
    stamp = path.stat().st_mtime_ns
    f = remote([KnownCopy("Example package example-data", md5(RECOMPRESSED), folder=str(system))])
    assert fetch(f, "demo") == path
    assert capsys.readouterr().err == ""  # a recorded repackaging: nothing to say
    assert path.read_bytes() == RECOMPRESSED and path.stat().st_mtime_ns == stamp
    assert not (cache / "demo" / NAME).exists()  # used where it is, never copied


def test_a_system_copy_that_is_not_accepted_is_passed_over_with_a_line(cache, tmp_path, capsys):
    system = tmp_path / "system"
    put(system, b"something else")
    f = remote([KnownCopy("Example package example-data", folder=str(system))])
    with pytest.raises(UserError, match="CLASSICNETS_OFFLINE is set"):
        fetch(f, "demo")
    assert f"classicnets: {system / NAME} does not match the published checksum of {NAME}" in capsys.readouterr().err


def test_a_damaged_cached_file_is_moved_aside_and_the_system_copy_used(cache, tmp_path, capsys):
    put(cache / "demo", b"damaged")
    system = put(tmp_path / "system", PUBLISHED)
    f = remote([KnownCopy("Example package example-data", folder=str(tmp_path / "system"))])
    assert fetch(f, "demo") == system
    assert "moved it to" in capsys.readouterr().err
    assert not (cache / "demo" / NAME).exists() and list((cache / "demo").glob(NAME + ".bad-*"))


def test_files_are_looked_for_in_data_dir_then_cache_then_system_folders_then_downloaded(server, tmp_path):
    root, base = server
    put(root, PUBLISHED)
    system = put(tmp_path / "system", RECOMPRESSED)
    f = remote([KnownCopy("Example package example-data", folder=str(tmp_path / "system"))], url=base + "/")
    given, cached = put(tmp_path / "mine", PUBLISHED), put(tmp_path / "cache/demo", PUBLISHED)
    places = {"--data-dir": tmp_path / "mine", "cache": tmp_path / "cache/demo",
              "system package": "Example package example-data, " + str(tmp_path / "system"), "download": base + "/"}
    assert fetch(f, "demo", data_dir=tmp_path / "mine") == given
    assert locate([f], "demo", data_dir=tmp_path / "mine") == f"--data-dir ({places['--data-dir']})"
    given.unlink()
    assert fetch(f, "demo", data_dir=tmp_path / "mine") == cached
    assert locate([f], "demo", data_dir=tmp_path / "mine") == f"cache ({places['cache']})"
    cached.unlink()
    assert fetch(f, "demo", data_dir=tmp_path / "mine") == system
    assert locate([f], "demo") == f"system package ({places['system package']})"
    system.unlink()
    assert locate([f], "demo") == f"would be downloaded from {places['download']}"
    assert fetch(f, "demo", data_dir=tmp_path / "mine") == cached and cached.read_bytes() == PUBLISHED


def test_locate_counts_files_found_in_different_places(cache, tmp_path, monkeypatch):
    files = [RemoteFile(n, f"https://example.org/d/{n}", md5(n.encode())) for n in ("a.gz", "b.gz", "c.gz")]
    put(cache / "demo", b"a", "a.gz")
    assert locate(files, "demo") == (f"1 file: cache ({cache / 'demo'}); "
                                     f"2 files: missing; CLASSICNETS_OFFLINE is set (from https://example.org/d/)")
    monkeypatch.delenv("CLASSICNETS_OFFLINE")
    assert locate(files[1:], "demo", base_url="http://mirror.example/x") == "would be downloaded from http://mirror.example/x/"
    assert sources.locate_dataset("digits") == "bundled"


def test_a_loader_finds_its_files_in_a_system_folder(cache, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), np.array([4, 1, 9], np.uint8),
              rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), np.array([0, 7], np.uint8)]
    system = tmp_path / "system"
    raw = [bytes([0, 0, 8, a.ndim]) + b"".join(d.to_bytes(4, "big") for d in a.shape) + a.tobytes() for a in arrays]
    for name, r in zip(sources.IDX_NAMES, raw):
        put(system, gzip.compress(r, mtime=7), name)
    files = sources.idx_files("https://example.org/", tuple(md5(gzip.compress(r, mtime=0)) for r in raw),
                              tuple(md5(r) for r in raw),
                              ((KnownCopy("Example package", folder=str(system)),),) * 4)
    monkeypatch.setattr(idx, "FASHION_FILES", files)
    data = load_dataset("fashion-mnist")
    assert data.train.y.tolist() == [4, 1, 9] and data.test.y.tolist() == [0, 7]
    assert np.array_equal(data.train.x[:, 0].numpy(), arrays[0])


def test_the_declarations_import_without_torch():
    code = ("import sys; from classicnets.data import sources; "
            "[sources.locate_dataset(n) for n in [*sources.FILES, 'digits']]; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "CLASSICNETS_OFFLINE": "1"})
    assert out.stdout.strip() == "[]"


# $CLASSICNETS_DATA that cannot be written: one sentence naming it, and data found elsewhere still used

def test_a_data_cache_that_is_a_file_is_named_whole_and_data_elsewhere_still_used(tmp_path, monkeypatch, capsys):
    deep = tmp_path / ("a-long-folder-name-" * 4) / ("another-long-folder-name-" * 3)
    deep.mkdir(parents=True)
    (deep / "data").write_text("not a folder")
    monkeypatch.setenv("CLASSICNETS_DATA", str(deep / "data"))
    monkeypatch.delenv("CLASSICNETS_OFFLINE", raising=False)
    with pytest.raises(UserError) as e:
        fetch(remote(), "demo")
    msg = str(e.value)
    assert f"{deep / 'data'} is a file, not a folder" in msg and "set CLASSICNETS_DATA to a folder you can write to" in msg
    assert "https://example.org/data/" + NAME in msg and "--data-dir" in msg
    put(tmp_path / "mine", RECOMPRESSED)
    for _ in range(2):  # nowhere to remember it: said at each load, and used
        assert fetch(remote(), "demo", data_dir=tmp_path / "mine") == tmp_path / "mine" / NAME
        assert MESSAGE in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_data_cache_is_one_sentence(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    monkeypatch.setenv("CLASSICNETS_DATA", str(ro))
    monkeypatch.delenv("CLASSICNETS_OFFLINE", raising=False)
    try:
        with pytest.raises(UserError, match=f"{ro} is read-only"):
            fetch(remote(), "demo")
    finally:
        ro.chmod(0o755)


def test_a_read_only_data_cache_is_named_even_for_root(tmp_path, monkeypatch):
    """As root (CI) nothing is read-only to `open`: a folder that `os.access` calls read-only (a
    read-only file system says so even to root) is taken at its word."""
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path))
    monkeypatch.delenv("CLASSICNETS_OFFLINE", raising=False)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != tmp_path and real(p, mode, **kw))
    with pytest.raises(UserError, match=f"the data cache {tmp_path / 'demo'} cannot hold a download: "
                                        f"{tmp_path} is read-only"):
        fetch(remote(), "demo")


def test_extracting_into_a_cache_that_is_a_file_is_one_sentence(tmp_path):
    (tmp_path / "data").write_text("x")
    with pytest.raises(UserError, match=f"cannot extract .* into {tmp_path / 'data' / 'extracted'}: "
                                        f"{tmp_path / 'data'} is a file, not a folder"):
        safe_extract(tmp_path / "a.tar", tmp_path / "data" / "extracted")


# Debian's dataset-fashion-mnist, where it is installed (.ci/run installs it where apt-get works)

DEBIAN = Path(sources.DEBIAN_FASHION_FOLDER)
debian = pytest.mark.skipif(not all((DEBIAN / n).is_file() for n in sources.IDX_NAMES),
                            reason=f"Debian's dataset-fashion-mnist is not installed (no {DEBIAN}); "
                                   f"apt-get install dataset-fashion-mnist")


@debian
def test_debian_fashion_mnist_is_found_by_itself_and_is_the_published_data(cache, capfd):
    assert sources.locate_dataset("fashion-mnist") == \
        f"system package (Debian package dataset-fashion-mnist, {DEBIAN})"
    data = load_dataset("fashion-mnist")  # no data_dir, an empty cache, offline
    assert capfd.readouterr().err == ""  # Debian's recorded checksums: accepted without a word
    assert not cache.exists()  # read where it lies: nothing copied, nothing remembered
    assert data.train.x.shape == (60_000, 1, 28, 28) and data.test.x.shape == (10_000, 1, 28, 28)
    assert np.bincount(data.train.y.numpy()).tolist() == [6_000] * 10
    assert np.bincount(data.test.y.numpy()).tolist() == [1_000] * 10
    assert data.train.y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    # the means everyone normalises Fashion-MNIST with: 72.94/255 and 73.15/255
    assert round(data.train.x.double().mean().item() / 255, 4) == 0.2860
    assert round(data.test.x.double().mean().item() / 255, 4) == 0.2868


@debian
def test_debian_files_match_the_published_content():
    for name, f in sources.FASHION_FILES.items():
        assert identify(DEBIAN / name, f, "fashion-mnist")[0] == "Debian package dataset-fashion-mnist"
        assert hashlib.md5(gzip.decompress((DEBIAN / name).read_bytes())).hexdigest() == f.content_md5


def test_an_image_folder_loads_when_the_data_cache_is_a_file_and_says_it_keeps_no_cache(tmp_path, monkeypatch, capsys):
    from PIL import Image

    for c, colour in (("cats", (255, 0, 0)), ("dogs", (0, 0, 255))):
        (tmp_path / "pets" / c).mkdir(parents=True)
        Image.new("RGB", (12, 10), colour).save(tmp_path / "pets" / c / "a.png")
    (tmp_path / "data").write_text("not a folder")
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path / "data"))
    for _ in range(2):  # nothing kept: decoded again, and said again
        data = load_dataset(str(tmp_path / "pets"), size=8)
        assert data.train.y.tolist() == [0, 1]
        err = capsys.readouterr().err
        assert f"in the data cache {tmp_path / 'data' / 'folders'} ({tmp_path / 'data'} is a file, not a folder" in err
        assert "going on without it" in err
