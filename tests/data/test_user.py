import numpy as np
import pytest
import torch
from PIL import Image

from classicnets.data import load_dataset
from classicnets.errors import UserError


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """The course's cats-vs-dogs layout in miniature: train/ and test/ with a sub-folder per class."""
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path / "cache"))
    root = tmp_path / "pets"
    for split, n in (("train", 4), ("test", 2)):
        for c, colour in (("cats", (250, 10, 10)), ("dogs", (10, 10, 250))):
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (40 + i, 30), colour).save(d / f"{c}{i}.jpg")
    (root / "train" / "cats" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "train" / "dogs" / "notes.txt").write_text("not an image")
    return root


def test_image_folder_is_decoded_resized_labelled_and_bad_files_are_counted(folder):
    data = load_dataset(str(folder), size=16)
    assert data.classes == ["cats", "dogs"] and data.input_shape == (3, 16, 16)
    assert (len(data.train), len(data.test), data.val) == (8, 4, None)
    assert data.train.x.dtype == torch.uint8 and data.train.y.tolist() == [0] * 4 + [1] * 4
    assert data.train.x[0, 0].float().mean() > 200 and data.train.x[-1, 2].float().mean() > 200
    assert sorted(p.rsplit("/", 1)[1] for p in data.meta["skipped"]) == ["broken.jpg", "notes.txt"]


def test_image_folder_is_cached_and_the_cache_follows_changes(folder, tmp_path):
    first = load_dataset(str(folder), size=16)
    cached = list((tmp_path / "cache" / "folders").iterdir())
    assert len(cached) == 1
    again = load_dataset(str(folder), size=16)
    assert torch.equal(again.train.x, first.train.x) and again.meta["skipped"] == first.meta["skipped"]
    Image.new("RGB", (20, 20), (0, 255, 0)).save(folder / "train" / "dogs" / "new.png")
    assert len(load_dataset(str(folder), size=16).train) == 9


def test_folder_without_classes_is_a_clear_error(tmp_path):
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(UserError, match="one sub-folder per class"):
        load_dataset(str(tmp_path / "flat"))


def test_npz_arrays_in_keras_layout(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mine.npz", x_train=rng.integers(0, 256, (10, 12, 12, 3), dtype=np.uint8),
             y_train=np.arange(10) % 3, x_test=rng.integers(0, 256, (4, 12, 12, 3), dtype=np.uint8),
             y_test=np.array([0, 1, 2, 0]))
    data = load_dataset(str(tmp_path / "mine.npz"))
    assert data.input_shape == (3, 12, 12) and data.num_classes == 3 and len(data.test) == 4
    npy = tmp_path / "npy"
    npy.mkdir()
    np.save(npy / "x_train.npy", np.zeros((6, 8, 8), np.uint8))   # (N, H, W): one channel
    np.save(npy / "y_train.npy", np.array([0, 1] * 3))
    data = load_dataset(str(npy))
    assert data.input_shape == (1, 8, 8) and data.num_classes == 2 and data.test is None
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 4, 4)))
    with pytest.raises(UserError, match="needs arrays x_train and y_train"):
        load_dataset(str(tmp_path / "bad.npz"))


def test_train_on_an_image_folder_from_the_cli(folder, cli, tmp_path):
    code, out, err = cli("train", "--data", folder, "--epochs", 1, "--model", "cifar_convnet_gmp",
                         "--out", tmp_path / "run", "-q")
    assert code == 0, err
    assert "Skipped 2 file(s) that are not readable images" in err and "(4 samples)" in out
    code, out, _ = cli("evaluate", tmp_path / "run")
    assert code == 0 and "cats" in out


def test_the_image_size_of_a_folder_is_a_data_option(folder, cli, tmp_path):
    code, out, err = cli("train", "--data", folder, "--data-arg", "size=40", "--epochs", 1, "--model", "lenet",
                         "--out", tmp_path / "run", "-q")
    assert code == 0, err
    card = (tmp_path / "run" / "model.json").read_text()
    assert '"input_shape": [\n    3,\n    40,\n    40\n  ]' in card or '"input_shape": [3, 40, 40]' in card
