"""Text to token ids the way `keras.datasets.imdb` and `keras.preprocessing.sequence` do it.

- `tokenize`: lower case, HTML line breaks removed, words of letters and digits (with inner
  apostrophes: "don't" is one word).
- `Vocabulary`: words ranked by frequency in the *training* texts (rank 1 = most frequent, as
  Keras's `word_index`), and Keras's encoding settings: a word of rank r becomes id
  r + `index_from`; ids outside [`skip_top`, `num_words`) become `oov_char` (or are dropped when
  `oov_char` is None); each sequence starts with `start_char`. 0 is padding. Words never seen in
  training are out of vocabulary. The settings are stored with a run, so `predict --text` encodes
  new text exactly as the training data was encoded.
- `pad_sequences`: Keras's function: pre-padding and pre-truncation by default (keep the *end* of a
  long review), 'post' for either.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from typing import Literal

import numpy as np

from ..errors import UserError

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def tokenize(text: str) -> list[str]:
    """'A <br />wonderful, wonderful film!' -> ['a', 'wonderful', 'wonderful', 'film']."""
    return _WORD.findall(_BREAK.sub(" ", text).lower())


def pad_sequences(sequences: Sequence[Sequence[int]], maxlen: int | None = None, dtype=np.int32,
                  padding: Literal["pre", "post"] = "pre", truncating: Literal["pre", "post"] = "pre",
                  value: int = 0) -> np.ndarray:
    """(N, maxlen) array of `sequences`, as `keras.preprocessing.sequence.pad_sequences`.

    Shorter sequences are padded with `value` before ('pre', the default) or after ('post');
    longer ones lose their beginning ('pre', the default) or their end ('post'). `maxlen` None:
    the longest sequence's length.
    """
    for name, v in (("padding", padding), ("truncating", truncating)):
        if v not in ("pre", "post"):
            raise UserError(f"{name} must be 'pre' or 'post'; got {v!r}")
    if maxlen is None:
        maxlen = max((len(s) for s in sequences), default=0)
    if maxlen < 1:
        raise UserError(f"maxlen must be at least 1; got {maxlen}")
    out = np.full((len(sequences), maxlen), value, dtype=dtype)
    for i, s in enumerate(sequences):
        s = np.asarray(s, dtype=dtype)[-maxlen:] if truncating == "pre" else np.asarray(s, dtype=dtype)[:maxlen]
        if len(s):
            if padding == "pre":
                out[i, maxlen - len(s):] = s
            else:
                out[i, :len(s)] = s
    return out


@dataclass
class Vocabulary:
    """Training-split word ranks plus Keras's encoding settings (see the module docstring)."""

    words: list[str]                   # by rank: words[0] is rank 1, the most frequent training word
    num_words: int | None = None       # ids at or above this become oov_char (Keras num_words); None: all
    skip_top: int = 0                  # ids below this become oov_char (Keras skip_top)
    start_char: int | None = 1         # id opening every sequence (None: no marker)
    oov_char: int | None = 2           # id of out-of-vocabulary words (None: drop them)
    index_from: int = 3                # rank r -> id r + index_from; ids 1..index_from are reserved
    maxlen: int | None = None          # pad / truncate every sequence to this length (pad_sequences)
    padding: Literal["pre", "post"] = "pre"
    truncating: Literal["pre", "post"] = "pre"

    @classmethod
    def build(cls, texts: Iterable[list[str]], **settings) -> Vocabulary:
        """Rank the words of tokenised training texts by frequency (ties: alphabetical)."""
        counts = Counter()
        for tokens in texts:
            counts.update(tokens)
        words = sorted(counts, key=lambda w: (-counts[w], w))
        return cls(words, **settings)

    @cached_property
    def word_index(self) -> dict[str, int]:
        """word -> rank (1-based), as `keras.datasets.imdb.get_word_index()`."""
        return {w: i + 1 for i, w in enumerate(self.words)}

    @property
    def size(self) -> int:
        """Embedding rows a model needs: one more than the largest id this vocabulary produces."""
        top = len(self.words) + self.index_from + 1
        reserved = max(v for v in (self.start_char, self.oov_char, self.index_from, 0) if v is not None) + 1
        return max(min(top, self.num_words) if self.num_words else top, reserved)

    def ranks_to_ids(self, ranks: Iterable[int]) -> list[int]:
        """Keras's mapping of word ranks (0: unknown word) to ids, start marker included."""
        nw, lo, oov, off = self.num_words, self.skip_top, self.oov_char, self.index_from
        ids = [] if self.start_char is None else [self.start_char]
        ids += [r + off if r else -1 for r in ranks]
        keep = (lambda v: v >= 0 and lo <= v and (nw is None or v < nw))
        if oov is not None:
            return [v if keep(v) else oov for v in ids]
        return [v for v in ids if keep(v)]

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        index = self.word_index
        return [self.ranks_to_ids(index.get(w, 0) for w in tokenize(t)) for t in texts]

    def encode_padded(self, texts: Sequence[str]) -> np.ndarray:
        """(N, maxlen) int32 ids of raw texts, padded and truncated as the training data was."""
        return pad_sequences(self.encode(texts), self.maxlen, padding=self.padding,
                             truncating=self.truncating)

    def decode(self, ids: Iterable[int]) -> str:
        """Ids back to words: padding dropped, '?' for reserved and out-of-vocabulary ids (as the
        course decodes reviews)."""
        out = []
        for v in ids:
            v = int(v)
            if v == 0:
                continue
            r = v - self.index_from
            out.append(self.words[r - 1] if 1 <= r <= len(self.words) else "?")
        return " ".join(out)

    def truncated(self) -> Vocabulary:
        """A copy keeping only the words that can map to an id below num_words (what a run stores)."""
        keep = self.words if self.num_words is None else self.words[:max(0, self.num_words - self.index_from - 1)]
        d = self.to_dict()
        d["words"] = list(keep)
        return Vocabulary.from_dict(d)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Vocabulary:
        try:
            return cls(**{f.name: d[f.name] for f in fields(cls)})
        except (KeyError, TypeError) as e:
            raise UserError(f"vocabulary description is incomplete: {e}") from None
