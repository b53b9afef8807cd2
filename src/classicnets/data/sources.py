"""Where each data set's files come from: their published addresses and checksums, the known copies
of them (repackagings, and the folders system packages install them in), in one torch-free module,
so `classicnets datasets` can say where each data set's files would be found (`locate_dataset`)
without importing any loader. The loaders import their declarations from here.

Checksums are the publishers' own, as the loaders cite them; the content MD5s of the IDX files are
those of the files gunzipped, recorded independently by other code that checks them (for
Fashion-MNIST torchvision-style `FashionMNIST.raw_data` lists, for MNIST download scripts that check
the extracted files beside the published .gz MD5s) and, for Fashion-MNIST, checked here with
`zcat FILE | md5sum` on Debian's copy.
"""
from __future__ import annotations

import os

from .download import KnownCopy, RemoteFile, locate

# MNIST and Fashion-MNIST (data.idx): four gzipped IDX files each.
IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def idx_files(base: str, md5s: tuple[str, ...], content_md5s: tuple[str, ...],
              copies: tuple[tuple[KnownCopy, ...], ...] = ()) -> dict[str, RemoteFile]:
    """{name: RemoteFile} for the four IDX files, in `IDX_NAMES` order."""
    copies = copies or ((),) * len(IDX_NAMES)
    return {n: RemoteFile(n, base + n, m, copies=c, content_md5=cm)
            for n, m, cm, c in zip(IDX_NAMES, md5s, content_md5s, copies, strict=True)}


MNIST_FILES = idx_files(
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
     "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
    # gunzipped: as several download scripts record them beside the .gz MD5s above (not checked on a
    # copy here: none of MNIST is on this project's machines)
    ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
     "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"))

DEBIAN_FASHION = "Debian package dataset-fashion-mnist"
DEBIAN_FASHION_FOLDER = "/usr/share/datasets/fashion-mnist"  # `dpkg -L dataset-fashion-mnist`
FASHION_FILES = idx_files(
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
     "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
    ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
     "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"),
    # Debian re-compressed the files (no file name in the gzip header, a 2020 time stamp): their own MD5s
    tuple((KnownCopy(DEBIAN_FASHION, md5, folder=DEBIAN_FASHION_FOLDER),) for md5 in (
        "cf8536b0aa1a6ac5fa3f23001093305c", "10bea18fdb374794d4bb42e356e600c9",
        "f78720b4224f21cce2f2ccf2d7a94c9a", "0d30e22e447f3c33dab9ed536400ac01")))

# CIFAR-10 and CIFAR-100, binary versions (data.cifar).
CIFAR10 = RemoteFile("cifar-10-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                     "c32a1d4ab5d03f1284b67883e8d87530")
CIFAR100 = RemoteFile("cifar-100-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
                      "03b5dce01913d631647c71ecec9e9cb8")

# IMDB (data.imdb): the original archive, and Keras's pre-tokenised form (data.keras_imdb). Keras 2,
# keras/datasets/imdb.py: `load_data` and `get_word_index` call `get_file(..., origin=origin_folder +
# NAME, file_hash=...)` with these hashes (64 hex digits: get_file checks a SHA-256; 32: an MD5).
# Keras publishes only a SHA-256 for imdb.npz.
ACLIMDB = RemoteFile("aclImdb_v1.tar.gz", "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                     "7c2ac02c03563afcf9b574c7e56c153a")
_KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
KERAS_NPZ = RemoteFile("imdb.npz", _KERAS_ORIGIN + "imdb.npz",
                       sha256="69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f")
KERAS_WORD_INDEX = RemoteFile("imdb_word_index.json", _KERAS_ORIGIN + "imdb_word_index.json",
                              md5="bfafd718b763782e994055a2d397834f")

# Cats vs dogs (data.cats_dogs): Google publishes only the size (see that module).
CATS_DOGS_ARCHIVE = RemoteFile("cats_and_dogs_filtered.zip",
                               "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip",
                               size=68_606_236)

# PASCAL VOC 2007 (detection.annotations): the published archives and their MD5s (as in
# torchvision/datasets/voc.py, DATASET_YEAR_DICT).
VOC2007_TRAINVAL = RemoteFile("VOCtrainval_06-Nov-2007.tar",
                              "http://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtrainval_06-Nov-2007.tar",
                              "c52e279531787c972589f7e41ab4ae64")
VOC2007_TEST = RemoteFile("VOCtest_06-Nov-2007.tar",
                          "http://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtest_06-Nov-2007.tar",
                          "b6e924de25625d8de591ea690078ad9f")

# The files each registered data set reads with its default options; a data set not named here
# needs no files (it is bundled or generated). IMDB's `source="keras"` reads KERAS_NPZ and
# KERAS_WORD_INDEX instead.
FILES: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": tuple(MNIST_FILES.values()),
    "fashion-mnist": tuple(FASHION_FILES.values()),
    "cifar10": (CIFAR10,),
    "cifar100": (CIFAR100,),
    "imdb": (ACLIMDB,),
    "cats_vs_dogs": (CATS_DOGS_ARCHIVE,),
    "voc2007": (VOC2007_TRAINVAL, VOC2007_TEST),
}


def locate_dataset(name: str, data_dir: str | os.PathLike | None = None, base_url: str | None = None) -> str:
    """Where data set `name`'s files would be found, in one line (see `download.locate`): "bundled"
    for one that needs no files. Looks at the files, never reads them."""
    files = FILES.get(name)
    if not files:
        return "bundled"
    return locate(files, name, data_dir=data_dir, base_url=base_url)
