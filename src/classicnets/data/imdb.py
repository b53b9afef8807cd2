"""IMDB movie reviews (Maas et al. 2011): the raw text, and the course's word-index form.

The course's form follows Keras 2's `keras.datasets.imdb.load_data`: reviews as lists of word ids
ranked by frequency, with `num_words`, `skip_top`, `maxlen`, `start_char=1`, `oov_char=2`,
`index_from=3` and the same seeded shuffle (seed 113). Its word ranks come from one of two sources:

- `source="aclimdb"` (the default): the original archive, aclImdb_v1.tar.gz (80 MiB: 25,000
  training and 25,000 test reviews, half positive), read member by member without extracting it.
  The ranking is ours, computed on the *training* reviews only with `data.text.tokenize`, so a
  word's id can differ from Keras's; the reviews, splits and settings are the same. Words never seen
  in training become `oov_char`, and `num_words=None` keeps every word.
- `source="keras"`: Keras's own pre-tokenised imdb.npz and imdb_word_index.json (`data.keras_imdb`,
  whose pickled lists are read without running anything the pickle names), so every id is
  Keras's. Here `num_words=None` is Keras's rule too: the largest id in the data, which itself then
  becomes `oov_char`.

Both go through the same steps (`_keras_steps`). `get_word_index` gives the ranks, to decode
reviews back to text. The tokenised archive is cached as a .npz of integer arrays and a word list
(no pickle), keyed by the archive's checksum.
"""
from __future__ import annotations

import os
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
import torch

from ..errors import UserError
from . import keras_imdb
from .core import Dataset, Split, option_int
from .download import data_home, fetch, keep_in_cache, move_aside
from .registry import dataset_info
from .sources import ACLIMDB
from .text import Vocabulary, pad_sequences, tokenize

SOURCES = ("aclimdb", "keras")  # where the word ranks come from (see the module docstring)

CLASSES = ["negative", "positive"]
SPLITS = ("train", "test")


def read_reviews(archive: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """{'train': (texts, labels), 'test': ...} from an aclImdb archive, in file-name order; labels
    1 for pos/, 0 for neg/. The unlabelled train/unsup/ reviews are skipped."""
    found: dict[str, list[tuple[str, int, str]]] = {s: [] for s in SPLITS}
    try:
        with tarfile.open(archive, "r|*") as tar:  # streaming: one pass, nothing written to disk
            for m in tar:
                parts = PurePosixPath(m.name).parts
                if not m.isfile() or len(parts) != 4 or parts[0] != "aclImdb" or parts[1] not in found \
                        or parts[2] not in ("pos", "neg") or not parts[3].endswith(".txt"):
                    continue
                text = tar.extractfile(m).read().decode("utf-8", errors="replace")
                found[parts[1]].append((parts[3], int(parts[2] == "pos"), text))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise UserError(f"cannot read archive {archive}: {e}") from None
    out = {}
    for split, items in found.items():
        if not items:
            raise UserError(f"archive {archive} has no aclImdb/{split}/pos or neg reviews; "
                            f"it is not the IMDB archive (aclImdb_v1.tar.gz)")
        items.sort(key=lambda t: (t[1], t[0]))
        out[split] = ([t[2] for t in items], np.array([t[1] for t in items], dtype=np.int64))
    return out


def load_imdb_text(data_dir: str | os.PathLike | None = None, base_url: str | None = None
                   ) -> dict[str, tuple[list[str], np.ndarray]]:
    """The raw reviews: {'train': (texts, labels), 'test': (texts, labels)}."""
    return read_reviews(fetch(ACLIMDB, "imdb", data_dir=data_dir, base_url=base_url))


def _tokenized(data_dir, base_url) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """(words by training rank, {split: (flat ranks int32, offsets int64, labels)}), cached."""
    archive = fetch(ACLIMDB, "imdb", data_dir=data_dir, base_url=base_url)  # verified against ACLIMDB.md5
    cache = data_home() / "imdb" / f"tokens-{ACLIMDB.md5[:12]}.npz"
    if cache.is_dir():
        raise UserError(f"{cache} is a folder where classicnets caches the tokenised reviews; move or rename it")
    if cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as z:
                return list(z["words"]), {s: (z[f"{s}_ranks"], z[f"{s}_offsets"], z[f"{s}_labels"])
                                          for s in SPLITS}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            move_aside(cache, f"the IMDB token cache {cache} is damaged ({type(e).__name__}), so it is rebuilt")
    reviews = read_reviews(archive)
    tokens = {s: [tokenize(t) for t in reviews[s][0]] for s in SPLITS}
    vocab = Vocabulary.build(tokens["train"])
    index = vocab.word_index
    parts = {}
    for s in SPLITS:
        lengths = np.array([len(t) for t in tokens[s]], dtype=np.int64)
        ranks = np.fromiter((index.get(w, 0) for t in tokens[s] for w in t), dtype=np.int32,
                            count=int(lengths.sum()))
        parts[s] = (ranks, np.concatenate([[0], np.cumsum(lengths)]), reviews[s][1])
    arrays = {"words": np.array(vocab.words, dtype=str)}
    for s, (r, o, y) in parts.items():
        arrays.update({f"{s}_ranks": r, f"{s}_offsets": o, f"{s}_labels": y})
    keep_in_cache(cache, lambda f: np.savez(f, **arrays))
    return vocab.words, parts


def _shuffled(n: int, rng: np.random.RandomState) -> np.ndarray:
    idx = np.arange(n)
    rng.shuffle(idx)
    return idx


def _settings(what: str, *, padding: str = "pre", truncating: str = "pre", source: str = "aclimdb", **ints) -> dict:
    """The integer settings `ints` checked (None where allowed) and converted, before anything is read."""
    low = {"num_words": 1, "maxlen": 1, "skip_top": 0, "index_from": 0, "start_char": 0, "oov_char": 0, "seed": 0}
    out = {k: v if v is None and k in ("num_words", "maxlen", "start_char", "oov_char")
           else option_int(what, k, v, low[k], 2**32 - 1) for k, v in ints.items()}
    for name, v in (("padding", padding), ("truncating", truncating)):
        if v not in ("pre", "post"):
            raise UserError(f"option {name} of {what} must be 'pre' or 'post'; got {v!r}")
    _check_source(what, source)
    return out


def _check_source(what: str, source: str) -> None:
    if source not in SOURCES:
        raise UserError(f"option source of {what} must be 'aclimdb' (the original archive) or 'keras' "
                        f"(Keras's own imdb.npz); got {source!r}")


def _read(source: str, data_dir, base_url, *, words: bool):
    """(words by rank, or None unless `words`; {split: (flat ranks, offsets, labels)}) of `source`."""
    if source == "keras":  # Keras's load_data needs only imdb.npz; the word index is a second file
        parts = keras_imdb.keras_ranks(data_dir, base_url)
        return (keras_imdb.words_by_rank(keras_imdb.keras_word_index(data_dir, base_url)) if words else None), parts
    return _tokenized(data_dir, base_url)


def load_data(num_words: int | None = None, skip_top: int = 0, maxlen: int | None = None,
              seed: int = 113, start_char: int | None = 1, oov_char: int | None = 2,
              index_from: int = 3, data_dir: str | os.PathLike | None = None,
              base_url: str | None = None, source: Literal["aclimdb", "keras"] = "aclimdb"):
    """((x_train, y_train), (x_test, y_test)) as `keras.datasets.imdb.load_data`: x are lists of
    word-id lists, y 0/1 arrays. `maxlen` drops reviews of `maxlen` ids or more, as Keras does.
    `source="keras"` reads Keras's own imdb.npz, so the ids are exactly Keras's."""
    v = _settings("imdb.load_data", num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
                  start_char=start_char, oov_char=oov_char, index_from=index_from, source=source)
    _, parts = _read(source, data_dir, base_url, words=False)
    splits, _ = _keras_steps(parts, source, **v)
    return splits


def _keras_steps(parts, source: str, *, num_words: int | None, skip_top: int, maxlen: int | None, seed: int,
                 start_char: int | None, oov_char: int | None, index_from: int):
    """Keras 2's `imdb.load_data` after reading, step for step and in its order, on word ranks
    {split: (flat ranks, offsets, labels)}: shuffle train, then test, with one RandomState(seed);
    id = rank + index_from, after start_char; drop reviews of maxlen ids or more (counted before
    any OOV word is dropped); ids outside [skip_top, num_words) become oov_char, or are dropped when
    it is None. Returns (((x_train, y_train), (x_test, y_test)), the num_words applied).

    The aclImdb ranks differ in two documented ways: rank 0 is a word unseen in training (made OOV;
    in Keras's file a 0 is an id like any other), and num_words=None keeps every word."""
    rng = np.random.RandomState(seed)
    head = np.array([] if start_char is None else [start_char], dtype=np.int64)
    kept = []
    for s in SPLITS:
        ranks, offsets, labels = parts[s]
        ids = ranks.astype(np.int64) + index_from
        if source == "aclimdb":
            ids[ranks == 0] = -1  # below every skip_top, so out of range: OOV
        order = _shuffled(len(labels), rng)
        xs = [np.concatenate([head, ids[offsets[i]:offsets[i + 1]]]) for i in order]
        ys = labels[order]
        if maxlen is not None:  # Keras's _remove_long_seq
            keep = [i for i, x in enumerate(xs) if len(x) < maxlen]
            if not keep:
                raise UserError(f"no {s} review is shorter than maxlen={maxlen}; raise maxlen")
            xs, ys = [xs[i] for i in keep], ys[keep]
        kept.append((xs, ys))
    if num_words is None and source == "keras":
        # Keras: `if not num_words: num_words = max(max(x) for x in xs)` over both splits, so the
        # largest id itself is out of range and becomes oov_char
        num_words = max((int(x.max()) for xs, _ in kept for x in xs if len(x)), default=0)
    out = []
    for xs, ys in kept:
        encoded = []
        for x in xs:
            ok = x >= skip_top if num_words is None else (x >= skip_top) & (x < num_words)
            encoded.append((np.where(ok, x, oov_char) if oov_char is not None else x[ok]).tolist())
        out.append((encoded, ys))
    return tuple(out), num_words


def get_word_index(data_dir: str | os.PathLike | None = None, base_url: str | None = None,
                   source: Literal["aclimdb", "keras"] = "aclimdb") -> dict[str, int]:
    """word -> frequency rank (1 = most frequent), as Keras's: for "aclimdb" our ranks in the
    training reviews, for "keras" Keras's own imdb_word_index.json."""
    _check_source("imdb.get_word_index", source)
    if source == "keras":
        return keras_imdb.keras_word_index(data_dir, base_url)
    words, _ = _tokenized(data_dir, base_url)
    return {w: i + 1 for i, w in enumerate(words)}


def load_imdb(num_words: int = 10000, maxlen: int = 500, skip_top: int = 0, start_char: int | None = 1,
              oov_char: int | None = 2, index_from: int = 3, padding: str = "pre", truncating: str = "pre",
              seed: int = 113, source: Literal["aclimdb", "keras"] = "aclimdb",
              data_dir: str | os.PathLike | None = None, base_url: str | None = None) -> Dataset:
    """The course's IMDB set: `load_data(num_words=...)` then `pad_sequences(maxlen=...)` on both
    splits, as (25,000, maxlen) int32 id tensors with 0/1 labels. Here `maxlen` pads and truncates
    (the course's use), it does not drop long reviews. `source="keras"` (`--data-arg source=keras`)
    gives Keras's exact word ids, and `predict --text` then encodes with Keras's word index."""
    v = _settings("data set 'imdb'", num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
                  start_char=start_char, oov_char=oov_char, index_from=index_from, padding=padding,
                  truncating=truncating, source=source)
    maxlen = v.pop("maxlen")
    words, parts = _read(source, data_dir, base_url, words=True)
    splits, used = _keras_steps(parts, source, maxlen=None, **v)  # maxlen pads here, it drops nothing
    (xtr, ytr), (xte, yte) = splits
    vocab = Vocabulary(words, num_words=used, skip_top=v["skip_top"], start_char=v["start_char"],
                       oov_char=v["oov_char"], index_from=v["index_from"], maxlen=maxlen, padding=padding,
                       truncating=truncating)
    split = lambda x, y: Split(torch.from_numpy(pad_sequences(x, maxlen, padding=padding,  # noqa: E731
                                                              truncating=truncating)),
                               torch.from_numpy(y.astype(np.int64)))
    return Dataset("imdb", list(CLASSES), train=split(xtr, ytr), test=split(xte, yte),
                   description=(info := dataset_info("imdb")).description, citation=info.citation, task="binary", vocab=vocab,
                   meta={"num_words": vocab.size})


