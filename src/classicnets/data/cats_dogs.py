"""Cats vs dogs, the course's transfer-learning data (ConvNets part 1, L1020-1044): 2,000 training
and 1,000 validation JPEGs of cats and dogs in `train/{cats,dogs}` and `validation/{cats,dogs}`,
a subset of Kaggle's Dogs vs. Cats. The course's `cats_and_dogs_small` has this layout; Google's
`cats_and_dogs_filtered.zip` (the TensorFlow tutorials' copy) is the published download.

Google publishes no checksum for the archive, only its address; the download is checked against
its published size (68,606,236 bytes, as Keras's `get_file` prints it) and the zip's own CRC-32 of
every member. Images are decoded once, resized to `size` x `size` (160, the course's) bilinearly, as
Keras's `image_dataset_from_directory` does, and cached (see `data.user.load_image_folder`).
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ..errors import UserError
from ..fileio import atomic_open
from .core import Dataset
from .download import check_extractable, check_member, data_home, fetch
from .registry import dataset_info
from .sources import CATS_DOGS_ARCHIVE as ARCHIVE

FOLDER = "cats_and_dogs_filtered"


def safe_extract_zip(archive: Path, dest: Path) -> Path:
    """Extract a zip's regular files into `dest` (once; a marker file records completion), refusing
    members outside it; every member's CRC is checked (`ZipFile.testzip`) before anything is written."""
    done = dest / ".extracted"
    if done.is_file():
        return dest
    check_extractable(archive, dest)
    try:
        with zipfile.ZipFile(archive) as z:
            members = z.infolist()
            for m in members:
                check_member(archive, m.filename)
            bad = z.testzip()
            if bad is not None:
                raise UserError(f"archive {archive} is damaged (CRC error in {bad}); delete it and download again")
            for m in members:
                if m.is_dir():
                    continue
                with z.open(m) as src, atomic_open(dest / m.filename, "wb") as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise UserError(f"cannot read archive {archive}: {e}") from None
    done.write_text("ok\n")
    return dest


def load_cats_vs_dogs(size: int = 160, data_dir: str | os.PathLike | None = None,
                      base_url: str | None = None) -> Dataset:
    from .user import load_image_folder

    archive = fetch(ARCHIVE, "cats_vs_dogs", data_dir=data_dir, base_url=base_url)
    root = safe_extract_zip(archive, data_home() / "cats_vs_dogs" / "extracted") / FOLDER
    if not (root / "train").is_dir():
        raise UserError(f"{archive} does not hold {FOLDER}/train; is it the cats-and-dogs archive?")
    data = load_image_folder(root, size=size)
    data.name = "cats_vs_dogs"
    data.task = "binary"  # the course's Dense(1, sigmoid) with binary cross-entropy
    data.description = dataset_info("cats_vs_dogs").description
    data.citation = dataset_info("cats_vs_dogs").citation
    return data


