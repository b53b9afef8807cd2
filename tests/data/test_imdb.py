"""IMDB from a small archive in the aclImdb layout, downloaded from a local server."""
import hashlib
import io
import json
import random
import tarfile

import pytest
import torch

from classicnets.data import imdb, load_dataset
from classicnets.data.download import RemoteFile
from classicnets.errors import UserError

REVIEWS = {  # (split, label folder, file name): text
    ("train", "pos", "0_9.txt"): "A wonderful film. Wonderful acting!<br /><br />The best.",
    ("train", "pos", "1_8.txt"): "Great film, great story, the best.",
    ("train", "neg", "0_2.txt"): "A terrible film. The plot is terrible.",
    ("train", "neg", "1_1.txt"): "Boring and terrible, the worst film.",
    ("test", "pos", "0_10.txt"): "Wonderful! A great film, simply superb.",
    ("test", "neg", "0_3.txt"): "The worst plot; boring.",
    ("train", "unsup", "0_0.txt"): "unlabelled reviews are skipped",
}


def archive_bytes(reviews=REVIEWS, extra=()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for (split, label, name), text in [*reviews.items(), *extra]:
            data = text.encode()
            info = tarfile.TarInfo(f"aclImdb/{split}/{label}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        readme = tarfile.TarInfo("aclImdb/README")
        readme.size = 2
        tar.addfile(readme, io.BytesIO(b"hi"))
    return buf.getvalue()


@pytest.fixture
def served_imdb(server, monkeypatch):
    root, base = server
    data = archive_bytes()
    (root / "aclImdb_v1.tar.gz").write_bytes(data)
    monkeypatch.setattr(imdb, "ACLIMDB", RemoteFile("aclImdb_v1.tar.gz", f"{base}/aclImdb_v1.tar.gz",
                                                   hashlib.md5(data).hexdigest()))
    return root


def test_raw_text_is_read_from_the_archive_with_labels(served_imdb):
    text = imdb.load_imdb_text()
    texts, labels = text["train"]
    assert len(texts) == 4 and labels.tolist() == [0, 0, 1, 1]  # neg first, then pos; unsup skipped
    assert texts[2].startswith("A wonderful film") and len(text["test"][0]) == 2


def test_word_index_is_built_on_the_training_split_only(served_imdb):
    index = imdb.get_word_index()
    assert index["film"] == 1 and index["the"] == 2 and index["terrible"] == 3  # 4, 4 and 3 uses
    assert "superb" not in index and "simply" not in index  # only in test reviews


def test_load_data_follows_keras_semantics(served_imdb):
    (xtr, ytr), (xte, yte) = imdb.load_data()
    assert len(xtr) == 4 and len(xte) == 2 and sorted(ytr.tolist()) == [0, 0, 1, 1]
    index = imdb.get_word_index()
    words = {i + 3: w for w, i in index.items()}
    for x in xtr:
        assert x[0] == 1 and all(v >= 4 for v in x[1:])  # start char, then ranks + 3
    # a test review: words never seen in training become the OOV id 2
    superb = next(x for x in xte if len(x) == 7)
    assert [words.get(v, "?") for v in superb[1:]] == ["wonderful", "a", "great", "film", "?", "?"]
    assert superb.count(2) == 2
    # the shuffle is Keras's: seeded (113 by default), so another seed gives another order
    (again, yagain), _ = imdb.load_data()
    assert again == xtr and (yagain == ytr).all()
    others = [imdb.load_data(seed=s)[0][0] for s in range(1, 6)]
    assert all(sorted(map(tuple, o)) == sorted(map(tuple, xtr)) for o in others)
    assert any(o != xtr for o in others)
    # num_words caps ids with the OOV id; maxlen drops reviews of maxlen ids or more
    (capped, _), _ = imdb.load_data(num_words=6)
    assert all(v < 6 for x in capped for v in x) and any(2 in x for x in capped)
    (short, yshort), _ = imdb.load_data(maxlen=8)
    assert all(len(x) < 8 for x in short) and len(short) == len(yshort) == 2


def test_the_course_form_is_padded_and_knows_its_vocabulary(served_imdb):
    d = load_dataset("imdb", num_words=8, maxlen=6)
    assert d.task == "binary" and d.kind == "tokens" and d.num_outputs == 1 and d.classes == ["negative", "positive"]
    assert d.train.x.shape == (4, 6) and d.train.x.dtype == torch.int32 and d.test.x.shape == (2, 6)
    assert d.meta["num_words"] == 8 and int(d.train.x.max()) < 8
    # pre-truncation keeps the end of a long review, as pad_sequences does by default
    encoded = d.vocab.encode(["Great film, great story, the best."])[0]
    assert encoded[-6:] in d.train.x.tolist()
    assert d.normalization() is None


def test_the_tokenised_cache_is_reused_without_the_archive(served_imdb, monkeypatch):
    imdb.load_data()
    cached = list((imdb.data_home() / "imdb").glob("tokens-*.npz"))
    assert len(cached) == 1
    monkeypatch.setattr(imdb, "read_reviews", lambda *a: pytest.fail("re-read the archive"))
    (xtr, _), _ = imdb.load_data()
    assert len(xtr) == 4


def test_an_archive_without_reviews_is_named(server, monkeypatch):
    root, base = server
    data = archive_bytes(reviews={("train", "pos", "0_9.txt"): "only training reviews"})
    (root / "aclImdb_v1.tar.gz").write_bytes(data)
    monkeypatch.setattr(imdb, "ACLIMDB", RemoteFile("aclImdb_v1.tar.gz", f"{base}/aclImdb_v1.tar.gz",
                                                   hashlib.md5(data).hexdigest()))
    with pytest.raises(UserError, match="no aclImdb/test/pos or neg reviews"):
        imdb.load_imdb_text()


def test_offline_without_the_archive_is_one_sentence(server, monkeypatch):
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    with pytest.raises(UserError, match=r"imdb needs aclImdb_v1.tar.gz.*ai.stanford.edu.*put it in"):
        load_dataset("imdb")


def test_train_evaluate_and_predict_text_from_the_command_line(cli, tmp_path, monkeypatch):
    have = tmp_path / "have"
    have.mkdir()
    rng = random.Random(0)
    good, bad, neutral = ["wonderful", "great", "best", "superb"], ["terrible", "boring", "worst", "awful"], \
        ["a", "the", "film", "plot", "actor", "story"]
    review = lambda words: " ".join(rng.sample(words, 2) + rng.sample(neutral, 3))  # noqa: E731
    many = {("train", "pos" if i % 2 else "neg", f"{i}_{9 if i % 2 else 2}.txt"): review(good if i % 2 else bad)
            for i in range(60)}
    many.update({("test", "pos", "0_9.txt"): "Wonderful, great: the film, a story",
                 ("test", "neg", "0_1.txt"): "Terrible, boring: the plot, an actor"})
    data = archive_bytes(reviews=many)
    (have / "aclImdb_v1.tar.gz").write_bytes(data)
    monkeypatch.setattr(imdb, "ACLIMDB", RemoteFile("aclImdb_v1.tar.gz", "https://example.org/aclImdb_v1.tar.gz",
                                                   hashlib.md5(data).hexdigest()))
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    run = tmp_path / "run"
    code, out, err = cli("train", "--model", "imdb_simple_rnn", "--data", "imdb", "--data-dir", have,
                         "--data-arg", "num_words=40", "--data-arg", "maxlen=12", "--arg", "units=8",
                         "--epochs", "20", "--lr", "0.01", "--out", run, "--progress", "none")
    assert code == 0, err
    assert "Test: loss" in out and "acc 1.0000" in out
    card = json.loads((run / "model.json").read_text())
    # 14 training words + ids 0-3 (padding, start, OOV, unused): fewer than num_words=40
    assert card["task"] == "binary" and card["args"]["num_words"] == 18 and card["vocab"]["maxlen"] == 12
    assert card["normalization"] is None and len(card["vocab"]["words"]) == 14
    code, out, err = cli("predict", run, "--text", "wonderful great film story", "--text", "awful, boring plot")
    assert code == 0, err
    rows = [line for line in out.splitlines() if "wonderful" in line or "boring" in line]
    assert "positive" in rows[0] and "negative" in rows[1] and "P(positive)" in out
    code, out, err = cli("evaluate", run)
    assert code == 0 and "test: loss" in out and "negative" in out
    code, out, err = cli("predict", run, "some.png")
    assert code == 2 and "reads text; pass it with --text" in err
