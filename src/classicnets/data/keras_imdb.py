"""Keras's own IMDB files, read without running anything their pickles name.

`keras.datasets.imdb` (Keras 2) downloads two files: `imdb.npz`, the 25,000 training and 25,000
test reviews already turned into word ranks (x_train, x_test: one list of ranks per review; y_train,
y_test: 0/1), and `imdb_word_index.json` (word -> rank, 1 = most frequent). Keras's preprocessing
of the reviews is not published, so these files are the only way to get Keras's exact word ids;
`data.imdb.load_data(source="keras")` applies Keras's `load_data` rules to them.

x_train and x_test are numpy arrays of Python objects, which .npy stores as a pickle. A pickle can
name any importable callable and have it called while loading, so we never unpickle it freely:
`_ArrayUnpickler` answers the few names such a pickle uses with stand-ins that only record values,
refuses every other name, and the array is then built from the recorded, checked list (see its
docstring for why that is safe). Everything else in the files is plain numbers and JSON.
"""
from __future__ import annotations

import io
import itertools
import json
import os
import pickle
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from ..errors import UserError
from .download import fetch
from .sources import KERAS_NPZ, KERAS_WORD_INDEX

# The only globals a pickled 1-D object array refers to (`pickletools.dis` of one saved by np.save,
# under numpy 1 and 2): `_reconstruct` (module numpy.core.multiarray, or numpy._core.multiarray),
# `ndarray` and `dtype`; `scalar` where the lists hold numpy integers rather than Python ints; and
# `_codecs.encode`, which Python 3's protocol 2 uses to spell bytes. None of them is handed out:
# each name gets a stand-in that only records what the pickle says (see `_ArrayUnpickler`).


class _Refused(pickle.UnpicklingError):
    pass


class _Recorded:
    """A stand-in for a numpy array or dtype in a pickle: it keeps its arguments and its state and
    does nothing with them. The real array is built afterwards, by `_array`, from checked values."""

    def __init__(self, kind: str, *args):
        self.kind, self.args, self.state = kind, args, None

    def __setstate__(self, state):  # the BUILD opcode
        self.state = state


_NDARRAY = _Recorded("ndarray")  # the class numpy names; not callable


def _reconstruct(subtype, shape, typecode):
    return _Recorded("array", subtype, shape)


def _dtype(code, align=False, copy=False):
    return _Recorded("dtype", code.decode("ascii") if isinstance(code, bytes) else code)


def _scalar(dtype, data=None):
    """A numpy integer (dtype and raw bytes) as a Python int, computed without numpy."""
    code = dtype.args[0] if isinstance(dtype, _Recorded) and dtype.kind == "dtype" and dtype.args else None
    order = dtype.state[1] if isinstance(dtype, _Recorded) and isinstance(dtype.state, tuple) \
        and len(dtype.state) > 1 else "<"
    if not (isinstance(code, str) and len(code) == 2 and code[0] in "iu" and code[1] in "1248"
            and isinstance(data, bytes) and len(data) == int(code[1]) and order in "<>|="):
        raise _Refused(f"numpy scalar of type {code!r}")
    return int.from_bytes(data, "big" if order == ">" else sys.byteorder if order == "=" else "little",
                          signed=code[0] == "i")


def _latin1_bytes(text, encoding="utf-8"):
    """`_codecs.encode` as Python 3's pickle protocol 2 uses it, `encode(text, 'latin1')` to spell
    bytes; any other codec is refused, so no codec is ever looked up."""
    if encoding != "latin1" or not isinstance(text, str):
        raise _Refused(f"_codecs.encode with {encoding!r}")
    return text.encode("latin1")


_STAND_INS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1_bytes,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles a 1-D numpy array of Python objects without running anything the pickle names.

    Why this is safe: a pickle runs code only by calling what it obtains, and every opcode that
    obtains a global (GLOBAL, STACK_GLOBAL, INST, and the copyreg EXT codes) goes through
    `find_class`; no persistent ids are accepted. `find_class` returns only the stand-ins of
    `_STAND_INS`, never a real function or class, and refuses every other name (os.system,
    builtins.eval, numpy.load...) before it is looked up. The stand-ins record their arguments in
    `_Recorded` objects, whose only method the pickle can reach, `__setstate__`, stores a value;
    `_scalar` and `_latin1_bytes` turn checked bytes and text into an int or bytes. So unpickling
    calls no numpy code at all: numpy's own constructors are not safe on forged arguments (it will
    build an object array over raw bytes, whose "pointers" then crash the interpreter). The array
    is built by `_array` from the recorded values, once they are checked to be a list.
    """

    def find_class(self, module: str, name: str):
        try:
            return _STAND_INS[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None

    def persistent_load(self, pid):
        raise _Refused(f"persistent id {pid!r}")


def _array(rec, shape: tuple, where: str) -> np.ndarray:
    """The 1-D object array a recorded `_reconstruct` + BUILD describe, or `UserError`."""
    state = rec.state if isinstance(rec, _Recorded) and rec.kind == "array" and rec.args[:1] == (_NDARRAY,) else None
    # numpy's ndarray state: (version, shape, dtype, is_fortran, list of items for object arrays)
    if not (isinstance(state, tuple) and len(state) == 5):
        raise UserError(f"{where} does not hold a pickled numpy array")
    _, pickled_shape, dtype, _, items = state
    code = dtype.args[0] if isinstance(dtype, _Recorded) and dtype.kind == "dtype" and dtype.args else None
    if code not in ("O", "O4", "O8") or len(shape) != 1 or tuple(pickled_shape) != tuple(shape) \
            or not isinstance(items, list) or len(items) != shape[0]:
        raise UserError(f"{where} does not hold a 1-D array of Python objects matching its header {shape}")
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def read_npy(data: bytes, where: str) -> np.ndarray:
    """The array of one .npy file's bytes; an object array is read with `_ArrayUnpickler`."""
    f = io.BytesIO(data)
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(f)
        else:
            raise ValueError(f".npy format version {version[0]}.{version[1]} (classicnets reads 1.0 and 2.0)")
        if not dtype.hasobject:
            f.seek(0)
            return npy_format.read_array(f, allow_pickle=False)
    except (ValueError, EOFError, SyntaxError, OverflowError) as e:
        raise UserError(f"{where} is not a readable .npy array ({e})") from None
    try:
        # numpy's np.load(allow_pickle=True) unpickles with these settings (Python 2 strings as ASCII)
        recorded = _ArrayUnpickler(f, fix_imports=True, encoding="ASCII").load()
    except _Refused as e:
        raise UserError(f"{where} asks to run {e} while loading, which no array needs; "
                        f"refusing to read it (it is not Keras's file, or it was tampered with)") from None
    except Exception as e:  # noqa: BLE001 - a damaged pickle can fail in many ways; none of them is a bug here
        raise UserError(f"{where} holds a damaged pickled array ({type(e).__name__}: {e})") from None
    return _array(recorded, shape, where)


def _reviews(x: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(flat ranks int64, offsets int64) of a 1-D object array of rank lists."""
    if x.ndim != 1 or not all(isinstance(r, list) for r in x):
        raise UserError(f"{where} is not a list of reviews (one list of word ranks each)")
    lengths = np.fromiter((len(r) for r in x), dtype=np.int64, count=len(x))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    try:
        ranks = np.fromiter(itertools.chain.from_iterable(x), dtype=np.int64, count=int(offsets[-1]))
    except (TypeError, ValueError, OverflowError) as e:
        raise UserError(f"{where} holds something other than whole-number word ranks ({e})") from None
    return ranks, offsets


def read_keras_npz(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{'train': (flat ranks, offsets, labels), 'test': ...} from Keras's imdb.npz, in file order."""
    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            members = set(z.namelist())
            for split in ("train", "test"):
                arrays = []
                for key in (f"x_{split}", f"y_{split}"):
                    if f"{key}.npy" not in members:
                        raise UserError(f"{path} has no {key} array; it is not Keras's imdb.npz")
                    arrays.append(read_npy(z.read(f"{key}.npy"), f"{path}:{key}"))
                x, y = arrays
                ranks, offsets = _reviews(x, f"{path}:x_{split}")
                if y.shape != (len(x),) or y.dtype.kind not in "iub":
                    raise UserError(f"{path}: y_{split} is not one whole-number label per review of x_{split}")
                out[split] = (ranks, offsets, y.astype(np.int64))
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise UserError(f"cannot read {path} as a .npz file: {e}") from None
    return out


def read_word_index(path: Path) -> dict[str, int]:
    """word -> rank from Keras's imdb_word_index.json."""
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path} as JSON: {e}") from None
    if not isinstance(index, dict) or not all(isinstance(r, int) and not isinstance(r, bool) and r >= 1
                                              for r in index.values()):
        raise UserError(f"{path} is not a word index (an object of words and ranks from 1)")
    return index


def words_by_rank(index: dict[str, int]) -> list[str]:
    """The index as `Vocabulary.words`: words[r - 1] is the word of rank r ('' for a rank no word
    has; the first word listed where two share one)."""
    words = [""] * max(index.values(), default=0)
    for w, r in index.items():
        if not words[r - 1]:
            words[r - 1] = w
    return words


def keras_ranks(data_dir: str | os.PathLike | None = None, base_url: str | None = None):
    """Keras's reviews as {split: (flat ranks, offsets, labels)}, downloading imdb.npz if needed."""
    return read_keras_npz(fetch(KERAS_NPZ, "imdb", data_dir=data_dir, base_url=base_url))


def keras_word_index(data_dir: str | os.PathLike | None = None, base_url: str | None = None) -> dict[str, int]:
    """Keras's `imdb.get_word_index()`, downloading imdb_word_index.json if needed."""
    return read_word_index(fetch(KERAS_WORD_INDEX, "imdb", data_dir=data_dir, base_url=base_url))
