"""The course's cats-vs-dogs set from a generated archive in the true layout, served locally."""
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from classicnets.data import cats_dogs, load_dataset
from classicnets.data.download import RemoteFile
from classicnets.errors import UserError


def cats_dogs_zip(per_class=(4, 2), bad_member=None) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for split, n in zip(("train", "validation"), per_class):
            for label in ("cats", "dogs"):
                for i in range(n):
                    img = Image.fromarray(rng.integers(0, 256, (30 + i, 40, 3), dtype=np.uint8))
                    jpg = io.BytesIO()
                    img.save(jpg, "JPEG")
                    z.writestr(f"cats_and_dogs_filtered/{split}/{label}/{label[:-1]}.{i}.jpg", jpg.getvalue())
        if bad_member:
            z.writestr(bad_member, b"x")
    return buf.getvalue()


def serve(root, base, monkeypatch, data: bytes):
    (root / "cats_and_dogs_filtered.zip").write_bytes(data)
    monkeypatch.setattr(cats_dogs, "ARCHIVE", RemoteFile("cats_and_dogs_filtered.zip",
                                                         f"{base}/cats_and_dogs_filtered.zip", size=len(data)))


def test_downloaded_checked_by_size_extracted_and_read_at_160(server, monkeypatch):
    root, base = server
    serve(root, base, monkeypatch, cats_dogs_zip())
    data = load_dataset("cats_vs_dogs")
    assert data.classes == ["cats", "dogs"] and data.task == "binary"
    assert data.train.x.shape == (8, 3, 160, 160) and data.val.x.shape == (4, 3, 160, 160)
    assert data.train.y.tolist() == [0] * 4 + [1] * 4 and data.num_outputs == 1


def test_a_download_of_another_size_is_refused_and_kept_aside(server, monkeypatch):
    root, base = server
    data = cats_dogs_zip()
    (root / "cats_and_dogs_filtered.zip").write_bytes(data)
    monkeypatch.setattr(cats_dogs, "ARCHIVE", RemoteFile("cats_and_dogs_filtered.zip",
                                                         f"{base}/cats_and_dogs_filtered.zip", size=len(data) + 1))
    with pytest.raises(UserError, match="not the published file"):
        load_dataset("cats_vs_dogs")


def test_members_outside_the_folder_are_refused(server, monkeypatch):
    root, base = server
    serve(root, base, monkeypatch, cats_dogs_zip(bad_member="../evil.txt"))
    with pytest.raises(UserError, match="outside its folder"):
        load_dataset("cats_vs_dogs")
