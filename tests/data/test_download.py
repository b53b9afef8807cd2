"""Downloads and parsers, against a local HTTP server on 127.0.0.1 serving files in the true formats."""
import gzip
import hashlib
import io
import tarfile

import numpy as np
import pytest
import torch

from classicnets.data import cifar, idx, load_dataset
from classicnets.data.download import RemoteFile, fetch, safe_extract
from classicnets.errors import UserError


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def idx_bytes(a: np.ndarray) -> bytes:
    return gzip.compress(bytes([0, 0, 0x08, a.ndim]) + b"".join(d.to_bytes(4, "big") for d in a.shape) + a.tobytes())


def serve_fake_mnist(root, base, monkeypatch, rng):
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte.gz": np.array([0, 1, 2, 3, 4, 5], np.uint8),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte.gz": np.array([9, 8, 7, 6], np.uint8)}
    files = {}
    for name, a in arrays.items():
        data = idx_bytes(a)
        (root / name).write_bytes(data)
        files[name] = RemoteFile(name, f"{base}/{name}", md5(data))
    monkeypatch.setattr(idx, "MNIST_FILES", files)
    return arrays


def test_mnist_downloads_parses_caches_and_then_works_offline(server, monkeypatch, tmp_path):
    root, base = server
    arrays = serve_fake_mnist(root, base, monkeypatch, np.random.default_rng(0))
    data = load_dataset("mnist")
    assert data.train.x.shape == (6, 1, 28, 28) and data.train.x.dtype == torch.uint8
    assert np.array_equal(data.train.x[:, 0].numpy(), arrays["train-images-idx3-ubyte.gz"])
    assert data.test.y.tolist() == [9, 8, 7, 6] and data.max_value == 255
    assert (tmp_path / "cache/mnist/train-images-idx3-ubyte.gz").exists()
    for f in root.iterdir():
        f.unlink()  # the server has nothing now: the cache must serve
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    assert torch.equal(load_dataset("mnist").train.x, data.train.x)


def test_files_the_user_already_has_are_used_and_checked(server, monkeypatch, tmp_path):
    root, base = server
    serve_fake_mnist(root, base, monkeypatch, np.random.default_rng(1))
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    assert len(load_dataset("mnist", data_dir=str(root)).train) == 6
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(b"something else")
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte.gz does not match the published checksum"):
        load_dataset("mnist", data_dir=str(root))
    assert (root / "t10k-labels-idx1-ubyte.gz").exists()  # the user's own file is never deleted


def test_checksum_mismatch_deletes_the_download_and_says_so(server, tmp_path):
    root, base = server
    (root / "f.bin").write_bytes(b"tampered content")
    f = RemoteFile("f.bin", f"{base}/f.bin", md5(b"the real content"))
    with pytest.raises(UserError, match="does not match its published checksum.*bad file was deleted"):
        fetch(f, "demo")
    assert not any((tmp_path / "cache").rglob("*.bin*"))


def test_interrupted_download_leaves_no_partial_file(server, tmp_path):
    root, base = server
    data = bytes(range(256)) * 4096
    (root / "big.bin").write_bytes(data)
    f = RemoteFile("big.bin", f"{base}/broken/big.bin", md5(data))
    with pytest.raises(UserError, match="cannot download big.bin for demo"):
        fetch(f, "demo")
    cache = tmp_path / "cache" / "demo"
    assert not cache.exists() or list(cache.iterdir()) == []
    assert fetch(f, "demo", base_url=base) == cache / "big.bin"  # a mirror with the whole file works


def test_offline_message_names_the_file_the_source_and_the_place(server, monkeypatch, tmp_path):
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    f = RemoteFile("x.gz", "https://example.org/data/x.gz", md5(b"x"))
    with pytest.raises(UserError) as e:
        fetch(f, "demo")
    msg = str(e.value)
    assert "x.gz" in msg and "https://example.org/data/x.gz" in msg and str(tmp_path / "cache" / "demo") in msg


def test_unreachable_server_is_one_clear_sentence(server, monkeypatch):
    f = RemoteFile("x.gz", "http://127.0.0.1:9/x.gz", md5(b"x"))  # the discard port: nothing listens
    with pytest.raises(UserError, match=r"cannot download x.gz for demo from http://127.0.0.1:9/x.gz \(the server cannot be reached"):
        fetch(f, "demo")


def tar_bytes(members: dict[str, bytes], link: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return buf.getvalue()


def test_cifar10_binary_archive_is_extracted_and_parsed(server, monkeypatch):
    root, base = server
    rng = np.random.default_rng(2)

    def batch(labels):
        pixels = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        return np.concatenate([np.array(labels, np.uint8)[:, None], pixels], 1), pixels
    members, first = {}, None
    for i in range(1, 6):
        rec, pix = batch([i, i + 1])
        members[f"cifar-10-batches-bin/data_batch_{i}.bin"] = rec.tobytes()
        first = pix if first is None else first
    members["cifar-10-batches-bin/test_batch.bin"] = batch([3, 4, 5])[0].tobytes()
    archive = tar_bytes(members)
    (root / "cifar-10-binary.tar.gz").write_bytes(archive)
    monkeypatch.setattr(cifar, "CIFAR10", RemoteFile("cifar-10-binary.tar.gz", f"{base}/cifar-10-binary.tar.gz",
                                                     md5(archive)))
    data = load_dataset("cifar10")
    assert data.train.x.shape == (10, 3, 32, 32) and len(data.test) == 3
    assert data.train.y.tolist() == [1, 2, 2, 3, 3, 4, 4, 5, 5, 6] and data.classes[0] == "airplane"
    # planes in order red, green, blue; rows of 32
    assert np.array_equal(data.train.x[0, 0, 0].numpy(), first[0, :32])
    assert np.array_equal(data.train.x[0, 2, 31].numpy(), first[0, 3072 - 32:])


@pytest.mark.parametrize("members,link,match", [
    ({"../evil.txt": b"x", "ok.txt": b"y"}, None, "outside its folder"),
    ({"/abs/evil.txt": b"x"}, None, "outside its folder"),
    ({"ok.txt": b"y"}, "innocent", "link or special file"),
])
def test_dangerous_archives_are_refused_before_anything_is_written(tmp_path, members, link, match):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tar_bytes(members, link))
    dest = tmp_path / "out"
    with pytest.raises(UserError, match=match):
        safe_extract(archive, dest)
    assert not dest.exists() and not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("data,match", [
    (b"\x01\x00\x08\x01", "bad magic"),
    (bytes([0, 0, 8, 2, 0, 0]), "truncated"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), "holds 2 bytes"),
])
def test_damaged_idx_files_are_named(data, match):
    with pytest.raises(UserError, match=match):
        idx.parse_idx(data, "f.idx")


def test_train_on_mnist_from_a_data_dir_end_to_end(server, monkeypatch, cli, tmp_path):
    root, base = server
    serve_fake_mnist(root, base, monkeypatch, np.random.default_rng(3))
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    code, out, err = cli("train", "--data", "mnist", "--data-dir", root, "--epochs", 1, "--out",
                         tmp_path / "run", "-q")
    assert code == 0, err
    assert "(4 samples)" in out
    code, out, _ = cli("evaluate", tmp_path / "run")
    assert code == 0 and "test: loss" in out
    code, _, err = cli("train", "--data-dir", root, "--out", tmp_path / "r2")
    assert code == 2 and "bundled and takes no --data-dir" in err
