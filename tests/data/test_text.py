"""Tokenising, Keras's word-id encoding, and pad_sequences."""
import numpy as np
import pytest

from classicnets.data import Vocabulary, pad_sequences, tokenize
from classicnets.errors import UserError


def test_pad_sequences_pads_and_truncates_at_the_front_by_default_like_keras():
    seqs = [[1, 2, 3], [4, 5, 6, 7, 8], []]
    assert pad_sequences(seqs, maxlen=4).tolist() == [[0, 1, 2, 3], [5, 6, 7, 8], [0, 0, 0, 0]]
    assert pad_sequences(seqs, maxlen=4, padding="post", truncating="post").tolist() == \
        [[1, 2, 3, 0], [4, 5, 6, 7], [0, 0, 0, 0]]
    assert pad_sequences(seqs, maxlen=4, padding="post").tolist()[1] == [5, 6, 7, 8]
    longest = pad_sequences(seqs, value=-1)
    assert longest.shape == (3, 5) and longest.dtype == np.int32 and longest[0].tolist() == [-1, -1, 1, 2, 3]
    with pytest.raises(UserError, match="padding must be 'pre' or 'post'"):
        pad_sequences(seqs, padding="middle")


def test_tokenize_lowercases_drops_html_breaks_and_punctuation():
    assert tokenize("A <br /><br />Wonderful, wonderful film! Don't miss it.") == \
        ["a", "wonderful", "wonderful", "film", "don't", "miss", "it"]


@pytest.fixture
def vocab():
    # ranks by training frequency: the 1, film 2, good 3, bad 4, plot 5
    texts = ["the film the plot", "the film good", "good bad the film"]
    return Vocabulary.build([tokenize(t) for t in texts])


def test_word_index_ranks_training_words_by_frequency(vocab):
    assert vocab.word_index == {"the": 1, "film": 2, "good": 3, "bad": 4, "plot": 5}


def test_keras_encoding_start_oov_index_from_num_words_and_skip_top(vocab):
    # rank r -> r + 3; 1 starts every review; unseen words and ids >= num_words become 2
    assert vocab.encode(["The film, unseen plot"]) == [[1, 4, 5, 2, 8]]
    v = Vocabulary(vocab.words, num_words=7)
    assert v.encode(["the film good bad plot"]) == [[1, 4, 5, 6, 2, 2]]
    v = Vocabulary(vocab.words, num_words=7, skip_top=5)  # ids below 5 are out too (Keras's rule)
    assert v.encode(["the film good"]) == [[2, 2, 5, 6]]
    v = Vocabulary(vocab.words, num_words=7, oov_char=None, start_char=None)  # drop instead of marking
    assert v.encode(["the zzz good plot"]) == [[4, 6]]
    v = Vocabulary(vocab.words, index_from=0, start_char=None, oov_char=None)
    assert v.encode(["the plot"]) == [[1, 5]]


def test_vocabulary_decodes_ids_and_round_trips_through_a_dict(vocab):
    v = Vocabulary(vocab.words, num_words=7, maxlen=6)
    ids = v.encode_padded(["the film bad plot"])
    assert ids.tolist() == [[0, 1, 4, 5, 2, 2]]
    assert v.decode(ids[0]) == "? the film ? ?"
    again = Vocabulary.from_dict(v.truncated().to_dict())
    assert again.words == ["the", "film", "good"] and again.encode_padded(["the film bad plot"]).tolist() == ids.tolist()
    assert v.size == 7 and Vocabulary(vocab.words).size == 5 + 3 + 1
