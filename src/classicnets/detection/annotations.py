"""Box annotations from files: PASCAL VOC's XML (and the VOC 2007 archives), and COCO-style JSON for
a user's own images.

Both give `AnnotatedImages`: the class names, the folder the images are in, and one `ImageAnnotation`
per image (file name, size, boxes, labels, and VOC's "difficult" / COCO's "iscrowd" flags), with boxes
as x1, y1, x2, y2 in continuous pixel coordinates, the convention of `ops` and `metrics`:
- VOC's xmin..xmax are 1-based pixel indices, both included, so a box is (xmin - 1, ymin - 1, xmax,
  ymax); its width is the devkit's xmax - xmin + 1;
- COCO's [x, y, width, height] is already continuous: (x, y, x + width, y + height).
`voc2007` is registered as a data set (`load_dataset("voc2007", size=224)`): the images decoded with
Pillow, resized to `size` x `size` (the aspect ratio is not kept, as R-CNN's warp does not) with the
boxes scaled alike, "difficult" flags kept for the VOC mAP, and the decoded split cached as one .npz
file beside the archives.

Everything a file can get wrong is one `UserError` sentence naming the file (and the object):
malformed XML or JSON, a missing field, an unknown class or category, a box with x2 < x1 or outside
the image. XML is parsed with the standard library's expat with any document type declaration
refused, so entity expansion ("billion laughs") and external entities cannot happen, for files
from anywhere.

Everingham et al. (2010), "The PASCAL Visual Object Classes (VOC) Challenge", IJCV 88(2);
Lin et al. (2014), "Microsoft COCO: Common Objects in Context", ECCV (the annotation format).
"""
from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from xml.parsers import expat

import numpy as np
import torch

from ..data.core import option_int
from ..data.download import RemoteFile, data_home, fetch, move_aside, safe_extract  # noqa: F401  (RemoteFile: tests)
from ..data.registry import dataset_info
from ..data.sources import VOC2007_TEST, VOC2007_TRAINVAL
from ..errors import UserError

VOC_CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor"]  # the devkit's order (VOCinit.m), also torchvision's and Detectron2's

VOC2007_SPLITS = {"train": VOC2007_TRAINVAL, "val": VOC2007_TRAINVAL, "trainval": VOC2007_TRAINVAL,
                  "test": VOC2007_TEST}
VOC2007_ROOT = "VOCdevkit/VOC2007"  # inside both archives


@dataclass
class ImageAnnotation:
    """One image's boxes, as read from its annotation."""

    file_name: str               # the image file, relative to AnnotatedImages.image_dir
    width: int                   # pixels
    height: int
    boxes: torch.Tensor          # (K, 4) float32 x1, y1, x2, y2, continuous pixel coordinates
    labels: torch.Tensor         # (K,) int64 index into AnnotatedImages.classes
    difficult: torch.Tensor      # (K,) bool: VOC's "difficult" objects, left out of the VOC metric
    iscrowd: torch.Tensor        # (K,) bool: COCO's crowd regions, matched as COCOeval does
    id: int | str = ""           # the image's id in its source (COCO image id, VOC file stem)

    def target(self) -> dict[str, torch.Tensor]:
        """The image's objects as the dict `metrics` and torchvision-style models take."""
        return {"boxes": self.boxes, "labels": self.labels, "difficult": self.difficult, "iscrowd": self.iscrowd}


@dataclass
class AnnotatedImages:
    """Annotations of a set of images: class names, where the image files are, one entry per image."""

    classes: list[str]
    image_dir: Path
    images: list[ImageAnnotation]
    category_ids: list[int] = field(default_factory=list)  # COCO: the file's category id of each class

    def __len__(self) -> int:
        return len(self.images)


def _objects(n_boxes: list[list[float]], labels: list[int], difficult: list[bool], crowd: list[bool]):
    return (torch.tensor(n_boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(labels, dtype=torch.int64),
            torch.tensor(difficult, dtype=torch.bool), torch.tensor(crowd, dtype=torch.bool))


# -- PASCAL VOC XML -------------------------------------------------------------------------------
def _parse_xml(data: bytes, where: str) -> ET.Element:
    """An ElementTree of `data`, parsed by expat with document type declarations refused (so no
    entity can be declared, expanded or fetched)."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()

    def refuse(*_):
        raise UserError(f"{where} declares a document type (<!DOCTYPE ...>), which annotation files never "
                        f"need; refusing to read it")
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = lambda tag: builder.end(tag)
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        raise UserError(f"{where} is not well-formed XML ({expat.ErrorString(e.code)} at line {e.lineno}, "
                        f"column {e.offset + 1})") from None
    return builder.close()


def _text(node: ET.Element, path: str, where: str) -> str:
    found = node.find(path)
    if found is None or not (found.text or "").strip():
        raise UserError(f"{where} has no <{path.replace('/', '><')}>")
    return found.text.strip()


def _number(node: ET.Element, path: str, where: str) -> float:
    text = _text(node, path, where)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UserError(f"{where} has <{path}> {text!r}, which is not a number")
    return value


def parse_voc_xml(source: str | os.PathLike | bytes, classes: list[str] = VOC_CLASSES,
                  name: str | None = None) -> ImageAnnotation:
    """One PASCAL VOC annotation file (a path, or its bytes with `name` for messages): its image's file
    name and size, and each <object>'s class (`classes.index(name)`), box and difficult flag (0 when
    absent). A box must have 1 <= xmin <= xmax <= width and 1 <= ymin <= ymax <= height."""
    if isinstance(source, bytes):
        where, data = name or "the annotation", source
    else:
        where = name or str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as e:
            raise UserError(f"cannot read annotation {where}: {e.strerror or e}") from None
    root = _parse_xml(data, where)
    if root.tag != "annotation":
        raise UserError(f"{where} is not a VOC annotation (its root element is <{root.tag}>, not <annotation>)")
    file_name = _text(root, "filename", where)
    width, height = _number(root, "size/width", where), _number(root, "size/height", where)
    if width < 1 or height < 1 or width != int(width) or height != int(height):
        raise UserError(f"{where} gives the image size {width:g}x{height:g}; it must be whole pixels, at least 1x1")
    boxes, labels, difficult = [], [], []
    for k, obj in enumerate(root.findall("object")):
        what = f"{where}, object {k + 1}"
        cls = _text(obj, "name", what)
        if cls not in classes:
            raise UserError(f"{what} is of unknown class {cls!r} (known: {', '.join(classes)})")
        x1, y1, x2, y2 = (_number(obj, f"bndbox/{t}", what) for t in ("xmin", "ymin", "xmax", "ymax"))
        if x2 < x1 or y2 < y1:
            raise UserError(f"{what} ({cls}) has a box with its end before its start "
                            f"(xmin {x1:g}, ymin {y1:g}, xmax {x2:g}, ymax {y2:g})")
        if x1 < 1 or y1 < 1 or x2 > width or y2 > height:
            raise UserError(f"{what} ({cls}) has a box (xmin {x1:g}, ymin {y1:g}, xmax {x2:g}, ymax {y2:g}) outside "
                            f"its {int(width)}x{int(height)} image (VOC pixels run from 1 to the width and height)")
        flag = obj.find("difficult")
        flag_text = (flag.text or "0").strip() if flag is not None else "0"
        if flag_text not in ("0", "1"):
            raise UserError(f"{what} ({cls}) has <difficult> {flag_text!r}; it must be 0 or 1")
        boxes.append([x1 - 1, y1 - 1, x2, y2])  # 1-based inclusive pixels -> continuous coordinates
        labels.append(classes.index(cls))
        difficult.append(flag_text == "1")
    b, lab, diff, crowd = _objects(boxes, labels, difficult, [False] * len(boxes))
    stem = Path(where).stem if not isinstance(source, bytes) else (Path(name).stem if name else "")
    return ImageAnnotation(file_name, int(width), int(height), b, lab, diff, crowd, id=stem)


def read_voc_folder(root: str | os.PathLike, split: str, classes: list[str] = VOC_CLASSES) -> AnnotatedImages:
    """The images of `split` in a VOC folder (ImageSets/Main/SPLIT.txt, Annotations/ID.xml,
    JPEGImages/), in the order of the split's list."""
    root = Path(root)
    listing = root / "ImageSets" / "Main" / f"{split}.txt"
    try:
        ids = [line.split()[0] for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read the VOC image list {listing}: {getattr(e, 'strerror', None) or e}") from None
    images = [parse_voc_xml(root / "Annotations" / f"{i}.xml", classes) for i in ids]
    return AnnotatedImages(list(classes), root / "JPEGImages", images)


def load_voc2007(split: str = "trainval", data_dir: str | os.PathLike | None = None,
                 base_url: str | None = None) -> AnnotatedImages:
    """PASCAL VOC 2007 annotations of `split` (train, val, trainval from the trainval archive; test
    from the test archive), downloading the archive with its published MD5 (see `data.download.fetch`
    for the cache, --data-dir and mirrors) and extracting it once, with member checks."""
    if split not in VOC2007_SPLITS:
        raise UserError(f"VOC 2007 has no split {split!r}; choose one of {', '.join(VOC2007_SPLITS)}")
    remote = VOC2007_SPLITS[split]
    archive = fetch(remote, "voc2007", data_dir=data_dir, base_url=base_url)
    dest = data_home() / "voc2007" / "extracted"
    root = dest / VOC2007_ROOT
    listing = root / "ImageSets" / "Main" / f"{split}.txt"
    if not _complete(root, listing):
        safe_extract(archive, dest)  # a missing or removed file: extract the verified archive again
        if not listing.is_file():
            raise UserError(f"archive {archive} has no {VOC2007_ROOT}/ImageSets/Main/{split}.txt; it is not "
                            f"the VOC 2007 archive")
    return read_voc_folder(root, split)


def _complete(root: Path, listing: Path) -> bool:
    """Whether the split's list, and every annotation and image it names, are extracted."""
    try:
        ids = [line.split()[0] for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError):
        return False
    return all((root / "Annotations" / f"{i}.xml").is_file() and (root / "JPEGImages" / f"{i}.jpg").is_file()
               for i in ids)


# -- VOC 2007 as a data set: decoded, resized, cached -------------------------------------------------
VOC_CACHE_VERSION = 1   # bump when decoding or resizing changes, so older caches are not reused
VOC_SIZES = (32, 1024)  # pixels per side a resized VOC image may have


def _decode_voc(ann: AnnotatedImages, size: int) -> dict[str, np.ndarray]:
    """The images of `ann` decoded (Pillow, upright by EXIF), resized to `size` x `size` (bilinear),
    with their boxes scaled by the same factors; flat object arrays with offsets."""
    from PIL import Image

    from ..data.files import decode_image

    images = np.zeros((len(ann), 3, size, size), np.uint8)
    boxes, labels, difficult, counts = [], [], [], []
    for i, a in enumerate(ann.images):
        path = ann.image_dir / a.file_name
        img = decode_image(path, "RGB")
        if img.size != (a.width, a.height):
            raise UserError(f"image {path} is {img.size[0]}x{img.size[1]} but its annotation gives "
                            f"{a.width}x{a.height}; the archive does not match its annotations")
        images[i] = np.asarray(img.resize((size, size), Image.Resampling.BILINEAR), np.uint8).transpose(2, 0, 1)
        scale = np.array([size / a.width, size / a.height] * 2, np.float32)
        boxes.append(a.boxes.numpy() * scale)
        labels.append(a.labels.numpy())
        difficult.append(a.difficult.numpy())
        counts.append(len(a.boxes))
    cat = lambda parts, shape, dtype: np.concatenate(parts).astype(dtype) if parts else np.zeros(shape, dtype)  # noqa: E731
    return {"images": images, "boxes": cat(boxes, (0, 4), np.float32), "labels": cat(labels, (0,), np.int64),
            "difficult": cat(difficult, (0,), bool), "offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            "ids": np.array([str(a.id) for a in ann.images], dtype=str)}


def _read_voc_cache(cache: Path, size: int) -> dict[str, np.ndarray] | None:
    """The arrays of a decoded-split cache, or None (none yet, or damaged: then moved aside)."""
    from ..data.files import open_npz

    if not cache.is_file():
        return None
    try:
        names, read, close = open_npz(cache)
        try:
            a = {k: read(k) for k in names}
        finally:
            close()
        n, k = len(a["images"]), len(a["boxes"])
        ok = (a["images"].dtype == np.uint8 and a["images"].shape[1:] == (3, size, size)
              and a["boxes"].shape == (k, 4) and a["labels"].shape == (k,) and a["difficult"].shape == (k,)
              and a["offsets"].shape == (n + 1,) and a["ids"].shape == (n,)
              and int(a["offsets"][0]) == 0 and int(a["offsets"][-1]) == k)
        problem = None if ok else "its arrays do not fit together"
    except (UserError, KeyError, ValueError, TypeError, OSError) as e:
        problem = str(e) or type(e).__name__
    if problem is None:
        return a
    move_aside(cache, f"the decoded VOC 2007 cache {cache} is damaged ({problem}), so the images are decoded again")
    return None


def voc2007_split(split: str, size: int = 224, data_dir: str | os.PathLike | None = None,
                  base_url: str | None = None):
    """One VOC 2007 split as a `DetectionSplit` of `size` x `size` RGB images (see the module docstring),
    decoded once and cached under the data cache's voc2007/ folder."""
    import io

    from ..fileio import write_bytes
    from .data import DetectionSplit

    if split not in VOC2007_SPLITS:
        raise UserError(f"VOC 2007 has no split {split!r}; choose one of {', '.join(VOC2007_SPLITS)}")
    remote = VOC2007_SPLITS[split]
    cache = data_home() / "voc2007" / f"decoded-{split}-{size}-{remote.md5[:12]}-v{VOC_CACHE_VERSION}.npz"
    arrays = _read_voc_cache(cache, size)
    if arrays is None:
        arrays = _decode_voc(load_voc2007(split, data_dir, base_url), size)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write_bytes(cache, buf.getvalue())
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items() if k != "ids"}
    return DetectionSplit(t["images"], t["boxes"], t["labels"], t["offsets"], None, t["difficult"])


def load_voc2007_dataset(size: int = 224, train_on: Literal["train", "trainval"] = "train",
                         data_dir: str | os.PathLike | None = None, base_url: str | None = None):
    """PASCAL VOC 2007 as a detection data set of `size` x `size` images: train / val / test, or
    (`train_on="trainval"`, the papers' setting) trainval / test with no validation split."""
    from .data import DetectionDataset

    size = option_int("data set 'voc2007'", "size", size, *VOC_SIZES)
    if train_on not in ("train", "trainval"):
        raise UserError(f"option train_on of data set 'voc2007' must be 'train' or 'trainval'; got {train_on!r}")
    get = lambda s: voc2007_split(s, size, data_dir, base_url)  # noqa: E731
    train = get(train_on)
    val = get("val") if train_on == "train" else None
    return DetectionDataset("voc2007", list(VOC_CLASSES), train, val, get("test"), max_value=255.0,
                            description=(info := dataset_info("voc2007")).description, citation=info.citation,
                            meta={"size": size, "train_on": train_on})




# -- COCO-style JSON ------------------------------------------------------------------------------
def _whole(value, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < low:
        raise UserError(f"{what} must be a whole number of at least {low}; got {value!r}")
    return int(value)


def _read_json(path: Path):
    """The JSON document in `path`; `UserError` naming it if it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text, so not a COCO JSON file") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:  # json's parser recurses once per level of nesting
        raise UserError(f"{path} nests lists or objects deeper than the JSON reader can follow, which no "
                        f"COCO file does; is it the annotation file?") from None


def read_coco(path: str | os.PathLike, image_dir: str | os.PathLike | None = None) -> AnnotatedImages:
    """A COCO-style annotation file for your own images: "images" (id, file_name, width, height),
    "annotations" (image_id, category_id, bbox [x, y, width, height] in pixels, optional iscrowd)
    and "categories" (id, name). Classes are the categories in increasing id order, labels index
    them; images keep the file's order; an image without annotations has no boxes. A box may stick
    out of its image by up to a pixel (rounding in the tool that wrote it) and is clipped to it.
    `image_dir` is where the image files are (default: the JSON file's folder)."""
    path = Path(path)
    where = str(path)
    doc = _read_json(path)
    if not isinstance(doc, dict):
        raise UserError(f"{where} must hold a JSON object with images, annotations and categories")
    for key in ("images", "categories"):
        if not isinstance(doc.get(key), list):
            raise UserError(f"{where} has no {key!r} list")
    anns = doc.get("annotations", [])
    if not isinstance(anns, list):
        raise UserError(f"{where}: 'annotations' must be a list")

    categories: dict[int, str] = {}
    for k, cat in enumerate(doc["categories"]):
        if not isinstance(cat, dict) or "id" not in cat or not isinstance(cat.get("name"), str):
            raise UserError(f"{where}: category {k + 1} needs an 'id' and a 'name'")
        cid = _whole(cat["id"], f"{where}: the id of category {cat['name']!r}", 0)
        if cid in categories:
            raise UserError(f"{where}: category id {cid} is used twice ({categories[cid]!r} and {cat['name']!r})")
        categories[cid] = cat["name"]
    category_ids = sorted(categories)
    label_of = {cid: i for i, cid in enumerate(category_ids)}

    images: dict[int, dict] = {}
    for k, img in enumerate(doc["images"]):
        if not isinstance(img, dict) or "id" not in img or not isinstance(img.get("file_name"), str):
            raise UserError(f"{where}: image {k + 1} needs an 'id' and a 'file_name'")
        iid = _whole(img["id"], f"{where}: the id of image {img['file_name']!r}", 0)
        if iid in images:
            raise UserError(f"{where}: image id {iid} is used twice")
        what = f"{where}: image {img['file_name']!r}"
        images[iid] = {"file_name": img["file_name"], "width": _whole(img.get("width"), f"{what} width", 1),
                       "height": _whole(img.get("height"), f"{what} height", 1),
                       "boxes": [], "labels": [], "crowd": []}

    for k, ann in enumerate(anns):
        what = f"{where}: annotation {ann.get('id', k + 1) if isinstance(ann, dict) else k + 1}"
        if not isinstance(ann, dict):
            raise UserError(f"{what} must be a JSON object")
        iid, cid = ann.get("image_id"), ann.get("category_id")
        if iid not in images or isinstance(iid, bool):
            raise UserError(f"{what} refers to image id {iid!r}, which is not among the file's images")
        if cid not in label_of or isinstance(cid, bool):
            raise UserError(f"{what} has category id {cid!r}, which is not among the file's categories "
                            f"({', '.join(map(str, category_ids)) or 'none'})")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bbox)):
            raise UserError(f"{what} needs a 'bbox' of four numbers [x, y, width, height]; got {bbox!r}")
        x, y, w, h = bbox
        img = images[iid]
        if w <= 0 or h <= 0:
            raise UserError(f"{what} has a box of width {w:g} and height {h:g}; both must be positive")
        if x < -1 or y < -1 or x + w > img["width"] + 1 or y + h > img["height"] + 1:
            raise UserError(f"{what} has a box [{x:g}, {y:g}, {w:g}, {h:g}] outside its "
                            f"{img['width']}x{img['height']} image {img['file_name']!r}")
        x1, y1 = max(x, 0.0), max(y, 0.0)
        x2, y2 = min(x + w, img["width"]), min(y + h, img["height"])
        if x2 <= x1 or y2 <= y1:
            raise UserError(f"{what} has a box [{x:g}, {y:g}, {w:g}, {h:g}] with nothing inside its image")
        crowd = ann.get("iscrowd", 0)
        if crowd not in (0, 1):
            raise UserError(f"{what} has iscrowd {crowd!r}; it must be 0 or 1")
        img["boxes"].append([x1, y1, x2, y2])
        img["labels"].append(label_of[cid])
        img["crowd"].append(bool(crowd))

    out = []
    for iid, img in images.items():
        b, lab, diff, crowd = _objects(img["boxes"], img["labels"], [False] * len(img["boxes"]), img["crowd"])
        out.append(ImageAnnotation(img["file_name"], img["width"], img["height"], b, lab, diff, crowd, id=iid))
    return AnnotatedImages([categories[c] for c in category_ids], Path(image_dir) if image_dir else path.parent,
                           out, category_ids)
