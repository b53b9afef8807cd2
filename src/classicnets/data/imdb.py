"""IMDB movie reviews (Maas et al. 2011): the raw text, and the course's word-index form.

Everything is built from the original archive, aclImdb_v1.tar.gz (84 MB: 25,000 training and
25,000 test reviews, half positive), read member by member without extracting it. The course's
form follows `keras.datasets.imdb.load_data`: reviews as lists of word ids ranked by frequency,
with `num_words`, `skip_top`, `maxlen`, `start_char=1`, `oov_char=2`, `index_from=3` and the same
seeded shuffle (seed 113). The ranking is ours, computed on the *training* reviews only with
`data.text.tokenize`, so a word's id can differ from Keras's pre-built imdb.npz (whose tokeniser is
not published, and which can only be read by unpickling); the reviews, splits and settings are the
same. `get_word_index` gives the ranks, to decode reviews back to text.

The tokenised archive is cached as a .npz of integer arrays and a word list (no pickle), keyed by
the archive's checksum.
"""
from __future__ import annotations

import os
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ..errors import UserError
from ..fileio import atomic_open
from .core import Dataset, Split, option_int
from .download import RemoteFile, data_home, fetch, move_aside
from .registry import DatasetInfo, register_dataset
from .text import Vocabulary, pad_sequences, tokenize

ACLIMDB = RemoteFile("aclImdb_v1.tar.gz", "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                     "7c2ac02c03563afcf9b574c7e56c153a")
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
    with atomic_open(cache, "wb") as f:
        np.savez(f, **arrays)
    return vocab.words, parts


def _shuffled(n: int, rng: np.random.RandomState) -> np.ndarray:
    idx = np.arange(n)
    rng.shuffle(idx)
    return idx


def _settings(what: str, *, padding: str = "pre", truncating: str = "pre", **ints) -> dict:
    """The integer settings `ints` checked (None where allowed) and converted, before anything is read."""
    low = {"num_words": 1, "maxlen": 1, "skip_top": 0, "index_from": 0, "start_char": 0, "oov_char": 0, "seed": 0}
    out = {k: v if v is None and k in ("num_words", "maxlen", "start_char", "oov_char")
           else option_int(what, k, v, low[k], 2**32 - 1) for k, v in ints.items()}
    for name, v in (("padding", padding), ("truncating", truncating)):
        if v not in ("pre", "post"):
            raise UserError(f"option {name} of {what} must be 'pre' or 'post'; got {v!r}")
    return out


def load_data(num_words: int | None = None, skip_top: int = 0, maxlen: int | None = None,
              seed: int = 113, start_char: int | None = 1, oov_char: int | None = 2,
              index_from: int = 3, data_dir: str | os.PathLike | None = None,
              base_url: str | None = None):
    """((x_train, y_train), (x_test, y_test)) as `keras.datasets.imdb.load_data`: x are lists of
    word-id lists, y 0/1 arrays. `maxlen` drops reviews of `maxlen` ids or more, as Keras does."""
    v = _settings("imdb.load_data", num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
                  start_char=start_char, oov_char=oov_char, index_from=index_from)
    num_words, skip_top, maxlen, seed = v["num_words"], v["skip_top"], v["maxlen"], v["seed"]
    start_char, oov_char, index_from = v["start_char"], v["oov_char"], v["index_from"]
    words, parts = _tokenized(data_dir, base_url)
    vocab = Vocabulary(words, num_words=num_words, skip_top=skip_top, start_char=start_char,
                       oov_char=oov_char, index_from=index_from)
    return _encode(vocab, parts, maxlen, seed)


def _encode(vocab: Vocabulary, parts, maxlen: int | None, seed: int):
    rng = np.random.RandomState(seed)
    out = []
    for s in SPLITS:
        ranks, offsets, labels = parts[s]
        order = _shuffled(len(labels), rng)
        xs = [vocab.ranks_to_ids(ranks[offsets[i]:offsets[i + 1]].tolist()) for i in order]
        ys = labels[order]
        if maxlen is not None:
            keep = [i for i, x in enumerate(xs) if len(x) < maxlen]
            xs, ys = [xs[i] for i in keep], ys[keep]
            if not xs:
                raise UserError(f"no {s} review is shorter than maxlen={maxlen}; raise maxlen")
        out.append((xs, ys))
    return tuple(out)


def get_word_index(data_dir: str | os.PathLike | None = None, base_url: str | None = None) -> dict[str, int]:
    """word -> frequency rank in the training reviews (1 = most frequent), as Keras's."""
    words, _ = _tokenized(data_dir, base_url)
    return {w: i + 1 for i, w in enumerate(words)}


def load_imdb(num_words: int = 10000, maxlen: int = 500, skip_top: int = 0, start_char: int | None = 1,
              oov_char: int | None = 2, index_from: int = 3, padding: str = "pre", truncating: str = "pre",
              seed: int = 113, data_dir: str | os.PathLike | None = None,
              base_url: str | None = None) -> Dataset:
    """The course's IMDB set: `load_data(num_words=...)` then `pad_sequences(maxlen=...)` on both
    splits, as (25,000, maxlen) int32 id tensors with 0/1 labels. Here `maxlen` pads and truncates
    (the course's use), it does not drop long reviews."""
    v = _settings("data set 'imdb'", num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
                  start_char=start_char, oov_char=oov_char, index_from=index_from, padding=padding,
                  truncating=truncating)
    num_words, skip_top, maxlen, seed = v["num_words"], v["skip_top"], v["maxlen"], v["seed"]
    start_char, oov_char, index_from = v["start_char"], v["oov_char"], v["index_from"]
    words, parts = _tokenized(data_dir, base_url)
    vocab = Vocabulary(words, num_words=num_words, skip_top=skip_top, start_char=start_char,
                       oov_char=oov_char, index_from=index_from, maxlen=maxlen, padding=padding,
                       truncating=truncating)
    (xtr, ytr), (xte, yte) = _encode(vocab, parts, None, seed)  # maxlen pads here, it drops nothing
    split = lambda x, y: Split(torch.from_numpy(pad_sequences(x, maxlen, padding=padding,  # noqa: E731
                                                              truncating=truncating)),
                               torch.from_numpy(y.astype(np.int64)))
    return Dataset("imdb", list(CLASSES), train=split(xtr, ytr), test=split(xte, yte),
                   description=INFO.description, citation=INFO.citation, task="binary", vocab=vocab,
                   meta={"num_words": vocab.size})


INFO = register_dataset(DatasetInfo(
    name="imdb", loader=load_imdb,
    description="movie reviews, positive or negative, as word ids (top 10,000 words, padded to 500); "
                "from aclImdb_v1.tar.gz (84 MB)",
    classes=2, input_shape=(500,), splits="train 25,000 / test 25,000",
    license="free for research (see the dataset page)",
    citation="Maas et al. 2011, Learning Word Vectors for Sentiment Analysis, ACL", needs_download=True))
