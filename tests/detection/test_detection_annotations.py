"""PASCAL VOC XML and the VOC 2007 archive (served from 127.0.0.1 in its true layout), and COCO-style JSON."""
import hashlib
import io
import json
import tarfile

import pytest
import torch

from classicnets.detection import annotations
from classicnets.detection.annotations import VOC_CLASSES, load_voc2007, parse_voc_xml, read_coco
from classicnets.errors import UserError


def voc_xml(objects, width=100, height=80, file_name="000001.jpg"):
    """A VOC annotation: objects are (name, xmin, ymin, xmax, ymax, difficult or None)."""
    parts = []
    for name, x1, y1, x2, y2, diff in objects:
        flag = "" if diff is None else f"<difficult>{diff}</difficult>"
        parts.append(f"<object><name>{name}</name><pose>Left</pose><truncated>0</truncated>{flag}"
                     f"<bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>")
    return (f"<annotation><folder>VOC2007</folder><filename>{file_name}</filename>"
            f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
            f"<segmented>0</segmented>{''.join(parts)}</annotation>").encode()


def test_voc_xml_boxes_become_continuous_coordinates(tmp_path):
    path = tmp_path / "000001.xml"
    path.write_bytes(voc_xml([("dog", 48, 40, 100, 80, 0), ("person", 8, 12, 8, 20, 1), ("cat", 1, 1, 10, 10, None)]))
    a = parse_voc_xml(path)
    assert (a.file_name, a.width, a.height, a.id) == ("000001.jpg", 100, 80, "000001")
    # 1-based pixels, both ends included: (xmin - 1, ymin - 1, xmax, ymax); a one-pixel-wide box is 1 wide
    assert a.boxes.tolist() == [[47., 39., 100., 80.], [7., 11., 8., 20.], [0., 0., 10., 10.]]
    assert a.labels.tolist() == [VOC_CLASSES.index("dog"), VOC_CLASSES.index("person"), VOC_CLASSES.index("cat")]
    assert a.difficult.tolist() == [False, True, False] and not bool(a.iscrowd.any())
    empty = parse_voc_xml(voc_xml([]), name="empty.xml")
    assert empty.boxes.shape == (0, 4) and empty.labels.shape == (0,)


@pytest.mark.parametrize("data, message", [
    (b"<annotation><filename>a.jpg</filename>", r"bad.xml is not well-formed XML \(no element found at line 1"),
    (voc_xml([("dragon", 1, 1, 5, 5, 0)]), r"bad.xml, object 1 is of unknown class 'dragon' \(known: aeroplane"),
    (voc_xml([("dog", 1, 1, 5, 5, 0), ("dog", 30, 10, 20, 40, 0)]),
     r"bad.xml, object 2 \(dog\) has a box with its end before its start \(xmin 30, ymin 10, xmax 20, ymax 40\)"),
    (voc_xml([("dog", 1, 1, 101, 5, 0)]), r"bad.xml, object 1 \(dog\) has a box .* outside its 100x80 image"),
    (voc_xml([("dog", 0, 1, 5, 5, 0)]), r"outside its 100x80 image"),
    (voc_xml([("dog", "a", 1, 5, 5, 0)]), r"bad.xml, object 1 has <bndbox/xmin> 'a', which is not a number"),
    (voc_xml([("dog", 1, 1, 5, 5, 2)]), r"has <difficult> '2'; it must be 0 or 1"),
    (b"<annotation><filename>a.jpg</filename></annotation>", r"bad.xml has no <size><width>"),
    (b"<root/>", r"bad.xml is not a VOC annotation \(its root element is <root>"),
])
def test_voc_xml_mistakes_are_one_sentence_naming_the_file(data, message):
    with pytest.raises(UserError, match=message):
        parse_voc_xml(data, name="bad.xml")


def test_voc_xml_refuses_entities():
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
              b"<annotation><filename>&lol2;</filename></annotation>")
    with pytest.raises(UserError, match=r"evil.xml declares a document type .* refusing to read it"):
        parse_voc_xml(laughs, name="evil.xml")
    external = b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><annotation><filename>&x;</filename></annotation>'
    with pytest.raises(UserError, match="declares a document type"):
        parse_voc_xml(external, name="evil.xml")
    with pytest.raises(UserError, match=r"not well-formed XML \(undefined entity"):
        parse_voc_xml(b"<annotation><filename>&x;</filename></annotation>", name="evil.xml")


def test_voc2007_checksums_are_the_published_ones():
    # as in torchvision/datasets/voc.py (DATASET_YEAR_DICT["2007"], ["2007-test"])
    assert annotations.VOC2007_TRAINVAL.md5 == "c52e279531787c972589f7e41ab4ae64"
    assert annotations.VOC2007_TEST.md5 == "b6e924de25625d8de591ea690078ad9f"
    assert annotations.VOC2007_TRAINVAL.url.startswith("http://host.robots.ox.ac.uk/pascal/VOC/voc2007/")


def voc_archive(ids_by_split: dict[str, list[str]], objects: dict[str, list]) -> bytes:
    root = "VOCdevkit/VOC2007"
    members = {f"{root}/ImageSets/Main/{s}.txt": "".join(f"{i}\n" for i in ids).encode()
               for s, ids in ids_by_split.items()}
    for i, objs in objects.items():
        members[f"{root}/Annotations/{i}.xml"] = voc_xml(objs, file_name=f"{i}.jpg")
        members[f"{root}/JPEGImages/{i}.jpg"] = b"\xff\xd8\xff\xe0 not decoded here"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:  # the VOC archives are plain tar
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def serve_voc2007(root, base, monkeypatch, data: bytes) -> None:
    name = annotations.VOC2007_TRAINVAL.name
    (root / name).write_bytes(data)
    served = annotations.RemoteFile(name, f"{base}/{name}", hashlib.md5(data).hexdigest())
    for split in ("train", "val", "trainval"):
        monkeypatch.setitem(annotations.VOC2007_SPLITS, split, served)


def test_voc2007_downloads_extracts_parses_then_works_offline(server, monkeypatch):
    root, base = server
    serve_voc2007(root, base, monkeypatch, voc_archive(
        {"train": ["000005"], "val": ["000007"], "trainval": ["000005", "000007"]},
        {"000005": [("chair", 26, 21, 32, 33, 0), ("chair", 5, 24, 67, 74, 1)], "000007": [("car", 41, 50, 100, 80, 0)]}))
    got = load_voc2007("trainval")
    assert [a.id for a in got.images] == ["000005", "000007"] and got.classes == VOC_CLASSES
    assert got.images[0].boxes.tolist() == [[25., 20., 32., 33.], [4., 23., 67., 74.]]
    assert got.images[0].difficult.tolist() == [False, True]
    assert got.images[1].labels.tolist() == [VOC_CLASSES.index("car")]
    assert (got.image_dir / "000007.jpg").is_file()
    (root / annotations.VOC2007_TRAINVAL.name).unlink()  # nothing served any more: the cache serves
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    assert [a.id for a in load_voc2007("val").images] == ["000007"]
    with pytest.raises(UserError, match="VOC 2007 has no split 'tset'; choose one of train, val, trainval, test"):
        load_voc2007("tset")


def test_voc2007_archive_problems_name_the_file(server, monkeypatch):
    root, base = server
    serve_voc2007(root, base, monkeypatch, voc_archive({"trainval": ["000005"]}, {"000005": [("chair", 1, 1, 9, 9, 0)]}))
    with pytest.raises(UserError, match=r"VOCtrainval_06-Nov-2007.tar has no VOCdevkit/VOC2007/ImageSets/Main/train.txt"):
        load_voc2007("train")
    serve_voc2007(root, base, monkeypatch, voc_archive({"train": ["000005"]}, {"000005": [("chair", 1, 1, 101, 9, 0)]}))
    with pytest.raises(UserError, match=r"Annotations/000005.xml, object 1 \(chair\) has a box .* outside its 100x80 image"):
        load_voc2007("train")


def coco_doc():
    return {"images": [{"id": 3, "file_name": "a.jpg", "width": 40, "height": 30},
                       {"id": 9, "file_name": "empty.jpg", "width": 20, "height": 20}],
            "annotations": [{"id": 1, "image_id": 3, "category_id": 7, "bbox": [2, 4, 10, 6]},
                            {"id": 2, "image_id": 3, "category_id": 1, "bbox": [30.5, 0, 10.2, 30], "iscrowd": 1}],
            "categories": [{"id": 7, "name": "kettle"}, {"id": 1, "name": "cup"}]}


def write(tmp_path, doc, name="ann.json"):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_coco_json_for_your_own_images(tmp_path):
    got = read_coco(write(tmp_path, coco_doc()))
    assert got.classes == ["cup", "kettle"] and got.category_ids == [1, 7]  # categories by id
    assert got.image_dir == tmp_path and [a.file_name for a in got.images] == ["a.jpg", "empty.jpg"]
    a, empty = got.images
    # [x, y, w, h] -> (x, y, x + w, y + h); the second sticks out by 0.7 px and is clipped to the 40 px width
    assert torch.allclose(a.boxes, torch.tensor([[2., 4., 12., 10.], [30.5, 0., 40., 30.]]))
    assert a.labels.tolist() == [1, 0] and a.iscrowd.tolist() == [False, True] and a.id == 3
    assert empty.boxes.shape == (0, 4) and empty.target()["labels"].shape == (0,)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["annotations"][0].update(category_id=5),
     r"ann.json: annotation 1 has category id 5, which is not among the file's categories \(1, 7\)"),
    (lambda d: d["annotations"][0].update(image_id=4), r"annotation 1 refers to image id 4, which is not among"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"annotation 1 needs a 'bbox' of four numbers"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 0, 3]), r"annotation 1 has a box of width 0 and height 3"),
    (lambda d: d["annotations"][0].update(bbox=[35, 2, 8, 3]), r"box \[35, 2, 8, 3\] outside its 40x30 image 'a.jpg'"),
    (lambda d: d["annotations"][0].update(iscrowd=2), r"iscrowd 2; it must be 0 or 1"),
    (lambda d: d["categories"].append({"id": 7, "name": "pot"}), r"category id 7 is used twice \('kettle' and 'pot'\)"),
    (lambda d: d["images"][0].update(width=0), r"image 'a.jpg' width must be a whole number of at least 1; got 0"),
    (lambda d: d.pop("categories"), r"ann.json has no 'categories' list"),
])
def test_coco_json_mistakes_are_one_sentence(tmp_path, change, message):
    doc = coco_doc()
    change(doc)
    with pytest.raises(UserError, match=message):
        read_coco(write(tmp_path, doc))


def test_coco_json_that_is_not_json(tmp_path):
    with pytest.raises(UserError, match=r"ann.json is not valid JSON \(Expecting ',' delimiter at line 2, column 1\)"):
        read_coco(write(tmp_path, '{"images": []\n"categories": []}'))
    with pytest.raises(UserError, match="must hold a JSON object"):
        read_coco(write(tmp_path, "[1, 2]"))
    no_annotations = read_coco(write(tmp_path, {"images": [{"id": 1, "file_name": "x.png", "width": 2, "height": 2}],
                                                "categories": []}))
    assert len(no_annotations) == 1 and no_annotations.classes == []
