"""IMDB from Keras's own files (source="keras"): a small imdb.npz in the true format (object arrays
of lists of ints, pickled inside the .npz as np.savez writes them) and a word index, served from a
local server under checksums patched to match."""
import hashlib
import io
import json
import os
import pickle

import numpy as np
import pytest
import torch

from classicnets.data import imdb, keras_imdb, load_dataset, pad_sequences
from classicnets.data.download import RemoteFile, fetch
from classicnets.errors import UserError

WORD_INDEX = {"the": 1, "film": 2, "a": 3, "great": 4, "bad": 5, "plot": 6, "boring": 7, "superb": 8}
X_TRAIN = [[1, 2, 4], [3, 5, 2, 6, 7], [1, 8], [2, 2, 2, 2, 2, 2], [4, 1]]  # raw ranks, as in imdb.npz
Y_TRAIN = [1, 0, 1, 0, 1]
X_TEST = [[8, 1], [5, 7, 6, 1], [0, 3]]  # a 0 in Keras's file is just rank 0: id index_from
Y_TEST = [1, 0, 1]


def objects(lists) -> np.ndarray:
    a = np.empty(len(lists), dtype=object)
    a[:] = [list(x) for x in lists]
    return a


def npz_bytes(**replace) -> bytes:
    arrays = {"x_train": objects(X_TRAIN), "y_train": np.array(Y_TRAIN, np.int64),
              "x_test": objects(X_TEST), "y_test": np.array(Y_TEST, np.int64), **replace}
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # object arrays are pickled, as in Keras's file
    return buf.getvalue()


def serve(root, base, monkeypatch, npz: bytes, index=WORD_INDEX):
    data = json.dumps(index).encode()
    (root / "imdb.npz").write_bytes(npz)
    (root / "imdb_word_index.json").write_bytes(data)
    monkeypatch.setattr(keras_imdb, "KERAS_NPZ", RemoteFile("imdb.npz", f"{base}/imdb.npz",
                                                            sha256=hashlib.sha256(npz).hexdigest()))
    monkeypatch.setattr(keras_imdb, "KERAS_WORD_INDEX", RemoteFile(
        "imdb_word_index.json", f"{base}/imdb_word_index.json", md5=hashlib.md5(data).hexdigest()))


@pytest.fixture
def served(server, monkeypatch):
    root, base = server
    serve(root, base, monkeypatch, npz_bytes())
    return root


def keras2_load_data(num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2, index_from=3):
    """Keras 2's keras/datasets/imdb.py `load_data` after `np.load`, transcribed as the reference."""
    x_train, labels_train = objects(X_TRAIN), np.array(Y_TRAIN)
    x_test, labels_test = objects(X_TEST), np.array(Y_TEST)
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]
    if start_char is not None:
        x_train = [[start_char] + [w + index_from for w in x] for x in x_train]
        x_test = [[start_char] + [w + index_from for w in x] for x in x_test]
    elif index_from:
        x_train = [[w + index_from for w in x] for x in x_train]
        x_test = [[w + index_from for w in x] for x in x_test]
    else:
        x_train, x_test = [list(x) for x in x_train], [list(x) for x in x_test]
    if maxlen:
        keep = [i for i, x in enumerate(x_train) if len(x) < maxlen]
        x_train, labels_train = [x_train[i] for i in keep], labels_train[keep]
        keep = [i for i, x in enumerate(x_test) if len(x) < maxlen]
        x_test, labels_test = [x_test[i] for i in keep], labels_test[keep]
    xs = x_train + x_test
    labels = np.concatenate([labels_train, labels_test])
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        xs = [[w if (skip_top <= w < num_words) else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    idx = len(x_train)
    return (xs[:idx], labels[:idx]), (xs[idx:], labels[idx:])


def test_the_shuffle_is_kerass_randomstate_113_train_then_test(served):
    (xtr, ytr), (xte, yte) = imdb.load_data(source="keras")
    rng = np.random.RandomState(113)
    train_order, test_order = rng.permutation(5), rng.permutation(3)  # one generator: train, then test
    assert ytr.tolist() == [Y_TRAIN[i] for i in train_order] and yte.tolist() == [Y_TEST[i] for i in test_order]
    assert [len(x) - 1 for x in xtr] == [len(X_TRAIN[i]) for i in train_order]
    assert imdb.load_data(source="keras", seed=7)[0][1].tolist() == \
        [Y_TRAIN[i] for i in np.random.RandomState(7).permutation(5)]


def by_length(xs):
    return sorted(xs, key=lambda x: (len(x), x))


def test_ids_are_kerass_for_hand_computed_cases(served):
    # defaults: id = rank + 3 after the start id 1; num_words=None is Keras's max id (8 + 3 = 11),
    # which is then itself out of range: "superb" (rank 8) becomes the OOV id 2; the rank 0 gives id 3
    (xtr, _), (xte, _) = imdb.load_data(source="keras")
    assert by_length(xtr) == [[1, 4, 2], [1, 7, 4], [1, 4, 5, 7], [1, 6, 8, 5, 9, 10], [1, 5, 5, 5, 5, 5, 5]]
    assert by_length(xte) == [[1, 2, 4], [1, 3, 6], [1, 8, 10, 9, 4]]
    # num_words=7, skip_top=4: ids 7 and up, and below 4 (the start id 1 included), become 2
    (xtr, _), _ = imdb.load_data(source="keras", num_words=7, skip_top=4)
    assert [2, 4, 5, 2] in xtr and [2, 2, 4] in xtr and [2, 5, 5, 5, 5, 5, 5] in xtr
    # oov_char=None drops them instead
    (xtr, _), _ = imdb.load_data(source="keras", num_words=7, oov_char=None)
    assert [1, 4, 5] in xtr and [1, 6, 5] in xtr and [1, 4] in xtr
    # maxlen=4 keeps reviews of fewer than 4 ids, start id included
    (xtr, ytr), (xte, _) = imdb.load_data(source="keras", maxlen=4)
    assert by_length(xtr) == [[1, 4, 2], [1, 7, 4]] and ytr.tolist() == [1, 1] and len(xte) == 2
    # ... counted before OOV words are dropped: [1, 4, 5, 7] goes although only [1, 4] would be left
    (xtr, _), _ = imdb.load_data(source="keras", num_words=5, oov_char=None, maxlen=4)
    assert xtr == [[1, 4], [1, 4]]
    # no start id, index_from=0: the raw ranks (the 0 is kept: it is in range)
    _, (xte, _) = imdb.load_data(source="keras", start_char=None, index_from=0, num_words=100)
    assert by_length(xte) == [[0, 3], [8, 1], [5, 7, 6, 1]]


@pytest.mark.parametrize("settings", [
    {}, {"num_words": 6}, {"skip_top": 3}, {"maxlen": 5}, {"num_words": 7, "skip_top": 4, "oov_char": None},
    {"start_char": None}, {"start_char": None, "index_from": 0}, {"seed": 1, "oov_char": 9, "index_from": 2},
    {"maxlen": 6, "num_words": 5, "oov_char": None}])
def test_load_data_equals_keras2s_code(served, settings):
    (xtr, ytr), (xte, yte) = imdb.load_data(source="keras", **settings)
    (rtr, rytr), (rte, ryte) = keras2_load_data(**settings)
    assert xtr == rtr and xte == rte and ytr.tolist() == rytr.tolist() and yte.tolist() == ryte.tolist()


def test_the_word_index_is_kerass_file(served):
    assert imdb.get_word_index(source="keras") == WORD_INDEX
    assert keras_imdb.words_by_rank({"b": 2, "a": 1, "d": 4}) == ["a", "b", "", "d"]


def test_the_registered_data_set_with_source_keras(served, tmp_path):
    d = load_dataset("imdb", source="keras", num_words=8, maxlen=5, data_dir=str(served))
    assert d.train.x.shape == (5, 5) and d.train.x.dtype == torch.int32 and d.test.x.shape == (3, 5)
    (xtr, ytr), (xte, yte) = imdb.load_data(source="keras", num_words=8)
    assert torch.equal(d.train.x, torch.from_numpy(pad_sequences(xtr, 5))) and d.train.y.tolist() == ytr.tolist()
    assert torch.equal(d.test.x, torch.from_numpy(pad_sequences(xte, 5)))
    assert d.meta["num_words"] == 8 and int(d.train.x.max()) < 8
    # the vocabulary is Keras's index, so `predict --text` encodes text with Keras's ids
    assert d.vocab.words == ["the", "film", "a", "great", "bad", "plot", "boring", "superb"]
    assert d.vocab.encode(["The great film, superb!"]) == [[1, 4, 7, 5, 2]]  # superb: id 11 >= 8, OOV
    stored = d.vocab.truncated()  # what a run keeps: ids below num_words
    assert stored.words == ["the", "film", "a", "great"] and stored.encode(["great film"]) == [[1, 7, 5]]
    # num_words=None: Keras's max id (11) is applied, and the vocabulary records it for predict
    # the data's ids and `predict`'s encoding (Vocabulary.ranks_to_ids) follow the same rules
    order = np.random.RandomState(113).permutation(5)
    expected = [d.vocab.ranks_to_ids(X_TRAIN[i]) for i in order]
    assert torch.equal(d.train.x, torch.from_numpy(pad_sequences(expected, 5)))
    d = imdb.load_imdb(source="keras", num_words=None, data_dir=str(served))
    assert d.vocab.num_words == 11 and d.vocab.encode(["superb"]) == [[1, 2]]


def test_source_keras_from_the_command_line_and_predict_text(cli, served, tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    run = tmp_path / "run"
    code, out, err = cli("train", "--model", "imdb_simple_rnn", "--data", "imdb", "--data-dir", served,
                         "--data-arg", "source=keras", "--data-arg", "num_words=12", "--data-arg", "maxlen=6",
                         "--arg", "units=4", "--epochs", "1", "--out", run, "--progress", "none")
    assert code == 0, err
    card = json.loads((run / "model.json").read_text())
    assert card["data_args"]["source"] == "keras"
    assert card["vocab"]["words"][:3] == ["the", "film", "a"] and card["vocab"]["num_words"] == 12
    code, out, err = cli("predict", run, "--text", "a great film")
    assert code == 0, err
    assert "P(positive)" in out
    code, out, err = cli("evaluate", run)  # reloads the data with the stored source=keras
    assert code == 0, err
    assert "test: loss" in out
    code, out, err = cli("train", "--model", "imdb_simple_rnn", "--data", "imdb", "--data-arg", "source=tfds",
                         "--epochs", "1", "--out", tmp_path / "bad", "--progress", "none")
    assert code == 2 and "source" in err and "'keras'" in err


def test_source_is_checked(served):
    with pytest.raises(UserError, match=r"option source of imdb.load_data must be 'aclimdb' .* or 'keras'"):
        imdb.load_data(source="tfds")
    with pytest.raises(UserError, match=r"option source of data set 'imdb' must be one of 'aclimdb', 'keras'"):
        load_dataset("imdb", source="Keras")


def npy_header(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(a))
    return buf.getvalue()


class EvalCall:
    def __reduce__(self):
        return eval, ("1 + 1",)


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_would_run_code_is_refused(server, monkeypatch, tmp_path):
    root, base = server
    marker = tmp_path / "pwned"
    evil = np.empty(2, dtype=object)
    evil[0], evil[1] = [1, 2], Evil(marker)  # np.savez pickles it: unpickling would call os.system
    serve(root, base, monkeypatch, npz_bytes(x_train=evil, y_train=np.array([0, 1])))
    with pytest.raises(UserError, match=r"imdb.npz:x_train asks to run \w+\.system while loading.*refusing to read it"):
        imdb.load_data(source="keras")
    assert not marker.exists()
    # builtins too: eval is never handed out
    with pytest.raises(UserError, match=r"evil.npy asks to run builtins\.eval while loading"):
        keras_imdb.read_npy(npy_header(objects([[1]])) + pickle.dumps(EvalCall()), "evil.npy")


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_object_arrays_pickled_by_numpy_1_or_2_are_read(protocol):
    a = objects([[5, 6, 7], [8], []])
    payload = pickle.dumps(a, protocol=protocol)  # protocol 2 spells bytes with _codecs.encode
    assert [list(x) for x in keras_imdb.read_npy(npy_header(a) + payload, "a.npy")] == [[5, 6, 7], [8], []]
    if protocol <= 3:  # globals spelled "c<module>\n<name>\n": write in numpy 1's module name
        old = payload.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
        assert b"numpy.core.multiarray" in old
        assert [list(x) for x in keras_imdb.read_npy(npy_header(a) + old, "old.npy")] == [[5, 6, 7], [8], []]
    # lists of numpy integers (numpy's `scalar` global) become Python ints
    b = objects([[np.int64(3), np.int32(-4), np.uint8(200)]])
    back = keras_imdb.read_npy(npy_header(b) + pickle.dumps(b, protocol=protocol), "ints.npy")
    assert back[0] == [3, -4, 200] and all(type(v) is int for v in back[0])


class ForgedArray:
    """numpy would build an object array over these raw bytes, as pointers, and crash on reading it."""

    def __reduce__(self):
        return np.ndarray, ((2,), np.dtype(object), b"\x01" * 16)


def test_numpy_constructors_are_never_called_on_the_pickles_arguments():
    a = objects([[1]])
    forged = pickle.dumps(ForgedArray())
    with pytest.raises(UserError, match=r"forged.npy holds a damaged pickled array"):
        keras_imdb.read_npy(npy_header(a) + forged, "forged.npy")
    not_objects = np.arange(3)  # a numeric array pickled where a header promises objects
    with pytest.raises(UserError, match=r"ints.npy does not hold a 1-D array of Python objects"):
        keras_imdb.read_npy(npy_header(objects([[1], [2], [3]])) + pickle.dumps(not_objects), "ints.npy")


def test_damaged_or_foreign_files_are_one_sentence(server, monkeypatch):
    root, base = server
    serve(root, base, monkeypatch, b"not a zip file")
    with pytest.raises(UserError, match=r"cannot read .*imdb.npz as a .npz file"):
        imdb.load_data(source="keras")
    buf = io.BytesIO()
    np.savez(buf, x_train=objects([[1]]), y_train=np.array([1]))
    serve(root, base, monkeypatch, buf.getvalue())
    with pytest.raises(UserError, match=r"imdb.npz has no x_test array; it is not Keras's imdb.npz"):
        imdb.load_data(source="keras")
    serve(root, base, monkeypatch, npz_bytes(x_test=objects([[1], ["two"]]), y_test=np.array([0, 1])))
    with pytest.raises(UserError, match=r"x_test holds something other than whole-number word ranks"):
        imdb.load_data(source="keras")
    serve(root, base, monkeypatch, npz_bytes(), index=["not", "an", "index"])
    with pytest.raises(UserError, match=r"imdb_word_index.json is not a word index"):
        imdb.get_word_index(source="keras")


def test_offline_without_kerass_files_is_one_sentence(server, monkeypatch):
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    with pytest.raises(UserError, match=r"imdb needs imdb.npz, which is not here and CLASSICNETS_OFFLINE is set; "
                                        r"download it from https://storage.googleapis.com/tensorflow/"
                                        r"tf-keras-datasets/imdb.npz and put it in"):
        load_dataset("imdb", source="keras")
    with pytest.raises(UserError, match=r"imdb needs imdb_word_index.json.*tf-keras-datasets/imdb_word_index.json"):
        imdb.get_word_index(source="keras")


def test_kerass_published_checksums_are_declared():
    # Keras 2, keras/datasets/imdb.py: get_file(..., file_hash=...) for each file
    assert keras_imdb.KERAS_NPZ.checksum == \
        ("sha256", "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f")
    assert keras_imdb.KERAS_WORD_INDEX.checksum == ("md5", "bfafd718b763782e994055a2d397834f")


def test_sha256_checksums_are_checked_on_download_and_in_the_cache(server, tmp_path):
    root, base = server
    (root / "f.bin").write_bytes(b"the real content")
    good = RemoteFile("f.bin", f"{base}/f.bin", sha256=hashlib.sha256(b"the real content").hexdigest())
    assert fetch(good, "demo").read_bytes() == b"the real content"
    assert fetch(good, "demo") == tmp_path / "cache" / "demo" / "f.bin"  # the cache is checked and used
    bad = RemoteFile("g.bin", f"{base}/f.bin", sha256=hashlib.sha256(b"other").hexdigest())
    with pytest.raises(UserError, match=r"does not match its published checksum \(sha256 [0-9a-f]{64}\)"):
        fetch(bad, "demo")
    with pytest.raises(ValueError, match="declares no checksum"):
        fetch(RemoteFile("h.bin", f"{base}/f.bin"), "demo")
