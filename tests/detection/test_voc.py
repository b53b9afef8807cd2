"""VOC 2007 as a registered detection data set: archives served from 127.0.0.1 in their true layout, with
real JPEGs, decoded, resized with their boxes, cached, and trained on through the command line."""
import hashlib
import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from classicnets.data import load_dataset
from classicnets.detection import annotations
from classicnets.detection.annotations import VOC_CLASSES
from classicnets.errors import UserError

ROOT = "VOCdevkit/VOC2007"


def voc_xml(objects, width, height, file_name):
    parts = "".join(f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
                    f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>" for n, x1, y1, x2, y2, d in objects)
    return (f"<annotation><filename>{file_name}</filename><size><width>{width}</width><height>{height}</height>"
            f"<depth>3</depth></size>{parts}</annotation>").encode()


def jpeg(width, height, objects):
    """A grey picture with each object's box filled in a colour."""
    a = np.full((height, width, 3), 128, np.uint8)
    for _, x1, y1, x2, y2, _ in objects:
        a[y1 - 1:y2, x1 - 1:x2] = (200, 40, 40)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


IMAGES = {  # id: (width, height, objects (class, xmin, ymin, xmax, ymax, difficult), VOC's 1-based pixels)
    "000005": (100, 80, [("chair", 26, 21, 50, 60, 0), ("dog", 60, 10, 90, 70, 1)]),
    "000007": (60, 90, [("car", 11, 31, 50, 80, 0)]),
    "000009": (80, 80, [("person", 5, 5, 40, 75, 0)]),
    "000001": (90, 60, [("dog", 10, 10, 70, 50, 0)]),
    "000002": (70, 70, [("cat", 20, 20, 60, 60, 0), ("cat", 1, 1, 10, 10, 1)]),
}


def archive(splits: dict[str, list[str]], overrides: dict[str, bytes] | None = None) -> bytes:
    members = {f"{ROOT}/ImageSets/Main/{s}.txt": "".join(f"{i}\n" for i in ids).encode() for s, ids in splits.items()}
    for i in sorted({i for ids in splits.values() for i in ids}):
        w, h, objs = IMAGES[i]
        members[f"{ROOT}/Annotations/{i}.xml"] = voc_xml(objs, w, h, f"{i}.jpg")
        members[f"{ROOT}/JPEGImages/{i}.jpg"] = jpeg(w, h, objs)
    members.update(overrides or {})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def voc(server, monkeypatch):
    """Both VOC 2007 archives, tiny, served locally; returns a function serving a changed trainval archive."""
    root, base = server

    def serve(name: str, data: bytes, splits: tuple[str, ...]) -> None:
        (root / name).write_bytes(data)
        served = annotations.RemoteFile(name, f"{base}/{name}", hashlib.md5(data).hexdigest())
        for split in splits:
            monkeypatch.setitem(annotations.VOC2007_SPLITS, split, served)
    trainval = {"train": ["000005", "000007"], "val": ["000009"], "trainval": ["000005", "000007", "000009"]}
    serve(annotations.VOC2007_TRAINVAL.name, archive(trainval), ("train", "val", "trainval"))
    serve(annotations.VOC2007_TEST.name, archive({"test": ["000001", "000002"]}), ("test",))
    return lambda overrides: serve(annotations.VOC2007_TRAINVAL.name, archive(trainval, overrides),
                                   ("train", "val", "trainval"))


def test_voc2007_is_decoded_resized_with_its_boxes_and_cached(voc, monkeypatch, tmp_path, capsys):
    d = load_dataset("voc2007", size=40)
    assert d.kind == "detection" and d.classes == VOC_CLASSES and d.input_shape == (3, 40, 40)
    assert (len(d.train), len(d.val), len(d.test)) == (2, 1, 2) and d.train.images.dtype == torch.uint8
    # (xmin - 1, ymin - 1, xmax, ymax) scaled by 40/100 across and 40/80 down
    assert torch.allclose(d.train.target(0)["boxes"], torch.tensor([[10., 10., 20., 30.], [23.6, 4.5, 36., 35.]]))
    assert d.train.target(0)["difficult"].tolist() == [False, True]
    assert d.train.labels.tolist() == [VOC_CLASSES.index(c) for c in ("chair", "dog", "car")]
    # the boxed region is the red one in the resized image
    r, g = d.train.images[0, 0].int(), d.train.images[0, 1].int()
    assert (r[12:28, 12:18] - g[12:28, 12:18] > 100).all() and (r[37:, :] - g[37:, :] < 20).all()
    whole = load_dataset("voc2007", size=40, train_on="trainval")
    assert len(whole.train) == 3 and whole.val is None
    # later loads read the decoded cache: no archive, no network needed
    for f in (tmp_path / "cache" / "voc2007").glob("*.tar"):
        f.unlink()
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    again = load_dataset("voc2007", size=40)
    assert torch.equal(again.train.images, d.train.images) and torch.equal(again.test.boxes, d.test.boxes)
    cache = next((tmp_path / "cache" / "voc2007").glob("decoded-test-40-*.npz"))
    cache.write_bytes(b"not an npz")
    monkeypatch.delenv("CLASSICNETS_OFFLINE")
    capsys.readouterr()
    assert torch.equal(load_dataset("voc2007", size=40).test.images, d.test.images)  # rebuilt from the archive
    assert "is damaged" in capsys.readouterr().err and any(cache.parent.glob("*.bad-*"))


def test_voc2007_mistakes_are_one_sentence(voc):
    with pytest.raises(UserError, match="option size of data set 'voc2007' must be between 32 and 1024; got 8"):
        load_dataset("voc2007", size=8)
    with pytest.raises(UserError, match="option train_on of data set 'voc2007' must be one of 'train', 'trainval'"):
        load_dataset("voc2007", train_on="all")
    voc({f"{ROOT}/Annotations/000007.xml": voc_xml([("dragon", 1, 1, 9, 9, 0)], 60, 90, "000007.jpg")})
    with pytest.raises(UserError, match=r"Annotations/000007.xml, object 1 is of unknown class 'dragon' \(known: "
                                        r"aeroplane"):
        load_dataset("voc2007", size=32)


def test_training_on_voc2007_through_the_command_line(voc, cli, stub, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("train", "--model", stub, "--data", "voc2007", "--data-arg", "size=32", "--epochs", "1",
                         "--batch-size", "2", "--out", run, "-q")
    assert code == 0, err
    code, out, err = cli("evaluate", run)
    assert code == 0, err
    assert len([line for line in out.splitlines() if line.split()[:1] and line.split()[0] in VOC_CLASSES]) == 20
    table = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:21]}
    assert table["cat"][0] == "1" and table["dog"][0] == "1"  # the difficult cat is not counted
    assert "(18 classes without ground truth in the test split: no AP, left out of the means)" in out
