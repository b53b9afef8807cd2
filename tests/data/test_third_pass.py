"""Issue 23, the data layer: deep images, array layouts, long folder names, --invert on arrays, tiny
image sizes, validation splits that cannot be drawn, and short reprs."""
import numpy as np
import pytest
import torch
from PIL import Image

from classicnets.data import load_dataset, stratified_split
from classicnets.data.files import read_inputs
from classicnets.errors import UserError


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path / "cache"))


def gray16(path, values):
    """A real 16-bit grayscale PNG (Pillow writes mode I;16 as bit depth 16)."""
    Image.fromarray(np.asarray(values, np.uint16)).save(path)
    return path


def float_tiff(path, values):
    """A real 32-bit float TIFF (Pillow's mode F)."""
    Image.fromarray(np.asarray(values, np.float32)).save(path)
    return path


RAMP16 = np.linspace(131, 65349, 64).reshape(8, 8).round()   # the range of values
RAMP01 = np.linspace(0, 1, 64).reshape(8, 8)


# -- item 3: 16-bit and float images are read at their depth -----------------------------------------

def test_16bit_png_is_scaled_not_clipped_in_predict(tmp_path):
    _, x = read_inputs([gray16(tmp_path / "deep.png", RAMP16)], (1, 8, 8), max_value=255.0)
    assert np.allclose(x[0, 0].numpy(), RAMP16 / 257, atol=0.51)
    assert len(torch.unique(x)) > 50           # clipped, it had 2 distinct values


def test_float_tiff_in_0_to_1_is_scaled_not_black_in_predict(tmp_path):
    _, x = read_inputs([float_tiff(tmp_path / "f.tif", RAMP01)], (3, 8, 8), max_value=16.0)
    assert np.allclose(x[0, 1].numpy(), RAMP01 * 16, atol=16 / 255)


@pytest.mark.parametrize("values, match", [(RAMP01 * 300, r"from 0 to 300"), (RAMP01 - 0.5, r"from -0\.5 to 0\.5")])
def test_float_tiff_outside_0_to_1_is_refused_by_name(tmp_path, values, match):
    with pytest.raises(UserError, match=rf"f\.tif holds floating-point pixels {match}.*0\.\.1"):
        read_inputs([float_tiff(tmp_path / "f.tif", values)], (1, 8, 8), max_value=255.0)


def test_32bit_integer_tiff_is_refused_by_name(tmp_path):
    Image.fromarray(np.full((8, 8), 70000, np.int32)).save(tmp_path / "i.tif")
    with pytest.raises(UserError, match=r"i\.tif holds 32-bit integer pixels"):
        read_inputs([tmp_path / "i.tif"], (1, 8, 8), max_value=255.0)


def test_training_folder_reads_16bit_png_and_float_tiff_at_their_depth(tmp_path):
    for c in ("a", "b"):
        (tmp_path / "deep" / c).mkdir(parents=True)
    gray16(tmp_path / "deep" / "a" / "ramp.png", RAMP16)
    float_tiff(tmp_path / "deep" / "b" / "ramp.tif", RAMP01)
    data = load_dataset(str(tmp_path / "deep"), size=8)
    assert not data.meta["skipped"]
    assert np.abs(data.train.x[0, 0].numpy() - RAMP16 / 257).max() <= 0.51
    assert np.abs(data.train.x[1, 2].numpy() - RAMP01 * 255).max() <= 0.51


# -- item 4: the layout of image arrays ---------------------------------------------------------------

@pytest.mark.parametrize("shape, layout", [
    ((5, 4, 32, 32), "channels_first"), ((5, 2, 32, 32), "channels_first"), ((5, 1, 28, 28), "channels_first"),
    ((5, 32, 32, 4), "channels_last"), ((5, 32, 32, 2), "channels_last"), ((5, 28, 28, 1), "channels_last"),
    ((5, 64, 8, 8), "channels_first"), ((5, 8, 8, 64), "channels_last"),          # square images decide
    ((5, 3, 32, 48), "channels_first"), ((5, 32, 48, 3), "channels_last"),        # else the smaller axis
    ((5, 3, 32, 3), None), ((5, 32, 32, 32), None), ((5, 1, 28, 1), None),         # axes 1 and 3 equal
])
def test_the_layout_rule(shape, layout):
    from classicnets.data.files import image_layout

    assert image_layout(shape) == layout


def test_channels_first_npz_with_4_channels_is_read_channels_first_and_says_so(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (6, 4, 32, 32), dtype=np.uint8)
    np.savez(tmp_path / "four.npz", x_train=x, y_train=np.arange(6) % 2)
    data = load_dataset(str(tmp_path / "four.npz"))
    assert data.input_shape == (4, 32, 32) and torch.equal(data.train.x, torch.from_numpy(x))
    assert data.meta["layout"].startswith("channels-first (N, C, H, W)") and "(6, 4, 32, 32)" in data.meta["layout"]


def test_channels_last_npz_with_2_channels_is_transposed_and_says_so(tmp_path):
    x = np.random.default_rng(0).random((6, 32, 32, 2)).astype(np.float32)
    np.savez(tmp_path / "two.npz", x_train=x, y_train=np.arange(6) % 2)
    data = load_dataset(str(tmp_path / "two.npz"))
    assert data.input_shape == (2, 32, 32) and torch.equal(data.train.x, torch.from_numpy(x).permute(0, 3, 1, 2))
    assert data.meta["layout"].startswith("channels-last (N, H, W, C)")


def test_ambiguous_npz_is_refused_and_the_layout_option_decides(tmp_path):
    from classicnets.data.user import load_arrays

    x = np.random.default_rng(0).random((6, 3, 32, 3)).astype(np.float32)
    np.savez(tmp_path / "amb.npz", x_train=x, y_train=np.arange(6) % 2)
    with pytest.raises(UserError, match=r"x_train in .*amb\.npz has shape \(6, 3, 32, 3\).*layout=channels_first") as e:
        load_arrays(tmp_path / "amb.npz")
    assert "\n" not in str(e.value)
    assert load_arrays(tmp_path / "amb.npz", layout="channels_first").input_shape == (3, 32, 3)
    last = load_arrays(tmp_path / "amb.npz", layout="channels_last")
    assert last.input_shape == (3, 3, 32) and last.meta["layout"].startswith("channels-last")
    with pytest.raises(UserError, match="layout"):
        load_arrays(tmp_path / "amb.npz", layout="NCHW")


def test_one_channel_npz_says_its_layout(tmp_path):
    np.savez(tmp_path / "g.npz", x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.arange(4) % 2)
    assert load_dataset(str(tmp_path / "g.npz")).meta["layout"].startswith("one channel (N, H, W)")


def test_predict_reads_npy_by_the_same_rule(tmp_path):
    x = np.random.default_rng(1).random((3, 4, 32, 32)).astype(np.float32)
    np.save(tmp_path / "four.npy", x)
    _, got = read_inputs([tmp_path / "four.npy"], (4, 32, 32), max_value=1.0)
    assert torch.equal(got, torch.from_numpy(x))
    np.save(tmp_path / "two.npy", x[:, :2])                     # refused before: 2 is not 1, 3 or 4
    _, got = read_inputs([tmp_path / "two.npy"], (2, 32, 32), max_value=1.0)
    assert torch.equal(got, torch.from_numpy(x[:, :2]))
    np.save(tmp_path / "two_last.npy", x[:, :2].transpose(0, 2, 3, 1))
    _, got = read_inputs([tmp_path / "two_last.npy"], (2, 32, 32), max_value=1.0)
    assert torch.equal(got, torch.from_numpy(x[:, :2]))
    np.save(tmp_path / "one.npy", x[0, :2].transpose(1, 2, 0))   # one (H, W, C) image
    _, got = read_inputs([tmp_path / "one.npy"], (2, 32, 32), max_value=1.0)
    assert torch.equal(got, torch.from_numpy(x[:1, :2]))


def test_predict_takes_the_reading_that_fits_the_model_and_refuses_a_true_tie(tmp_path):
    a = np.random.default_rng(2).random((2, 3, 16, 3)).astype(np.float32)
    np.save(tmp_path / "amb.npy", a)
    _, got = read_inputs([tmp_path / "amb.npy"], (3, 16, 3), max_value=1.0)
    assert torch.equal(got, torch.from_numpy(a))
    _, got = read_inputs([tmp_path / "amb.npy"], (3, 3, 16), max_value=1.0)
    assert torch.equal(got, torch.from_numpy(a).permute(0, 3, 1, 2))
    with pytest.raises(UserError, match=r"amb\.npy has shape \(2, 3, 16, 3\), which reads as channels-first or "
                                        r"channels-last alike"):
        read_inputs([tmp_path / "amb.npy"], (3, 32, 32), max_value=1.0)


# -- item 9: a long folder name -------------------------------------------------------------------------

def test_image_folder_with_a_240_character_name_is_cached_under_a_short_name(tmp_path):
    root = tmp_path / ("x" * 240)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        Image.new("RGB", (8, 8), (9, 9, 9)).save(root / c / "0.png")
    data = load_dataset(str(root), size=8)
    assert len(data.train) == 2
    (cached,) = (tmp_path / "cache" / "folders").iterdir()
    assert len(cached.name.encode()) <= 100 and cached.name.startswith("x" * 40)
    assert len(load_dataset(str(root), size=8).train) == 2     # read back from that cache


def test_a_short_folder_name_stays_readable_in_the_cache(tmp_path):
    root = tmp_path / "pets"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(root / c / "0.png")
    load_dataset(str(root), size=8)
    (cached,) = (tmp_path / "cache" / "folders").iterdir()
    assert cached.name.startswith("pets-")


# -- item 23: --invert on arrays, and image sizes too small to learn from --------------------------------

def test_invert_applies_to_arrays_as_it_does_to_images(tmp_path):
    a = np.random.default_rng(3).integers(0, 17, (2, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "d.npy", a)
    _, plain = read_inputs([tmp_path / "d.npy"], (1, 8, 8), max_value=16.0)
    _, inv = read_inputs([tmp_path / "d.npy"], (1, 8, 8), max_value=16.0, invert=True)
    assert torch.equal(plain, torch.from_numpy(a)) and torch.equal(inv, 16.0 - torch.from_numpy(a))


def test_a_tiny_image_folder_size_is_refused_by_its_own_name(tmp_path, cli):
    for c in ("a", "b"):
        (tmp_path / "tiny" / c).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "tiny" / c / "0.png")
    with pytest.raises(UserError, match=r"option size of image folder .*tiny must be between 8 and"):
        load_dataset(str(tmp_path / "tiny"), size=1)
    code, _, err = cli("train", "--data", tmp_path / "tiny", "--data-arg", "size=1", "--epochs", 1,
                       "--out", tmp_path / "run")
    assert code == 2 and "option size" in err and "translate" not in err
    assert not (tmp_path / "run").exists()


# -- item 21: validation splits that cannot be drawn -------------------------------------------------------

def test_one_example_classes_get_a_short_sentence():
    with pytest.raises(UserError) as e:
        stratified_split(torch.arange(10_000), 0.1, seed=0)
    msg = str(e.value)
    assert len(msg) < 400 and "\n" not in msg
    assert "10,000 of the 10,000 classes have a single example" in msg and "0, 1, 2" in msg


def test_some_one_example_classes_are_counted_and_named():
    y = torch.tensor([0] * 30 + [1] * 30 + [7] + [9])
    with pytest.raises(UserError, match=r"2 of the 4 classes have a single example \(7, 9\)"):
        stratified_split(y, 0.2, seed=0)


@pytest.mark.parametrize("fraction, n, words", [(0.999, 100, "99.9%"), (0.001, 100, "0.1%"), (0.99999, 10, "99.999%")])
def test_split_fractions_are_worded_as_they_are(fraction, n, words):
    with pytest.raises(UserError, match=rf"hold out {words.replace('.', '[.]')} of {n} examples"):
        stratified_split(torch.arange(n) % 2, fraction, seed=0)


def test_too_few_held_out_for_every_class_is_one_sentence():
    y = torch.arange(200) % 50                                  # 50 classes of 4 examples
    with pytest.raises(UserError, match=r"hold out 10% of 200 examples .* 20 .* 50 classes"):
        stratified_split(y, 0.1, seed=0)


def test_a_split_that_can_be_drawn_still_is():
    y = torch.arange(100) % 4
    _, held = stratified_split(y, 0.2, seed=0)
    assert len(held) == 20 and np.bincount(y[held].numpy()).tolist() == [5] * 4


# -- item 25: short reprs ---------------------------------------------------------------------------------

def test_a_dataset_prints_as_a_short_summary(digits):
    text = repr(digits)
    assert "tensor(" not in text and len(text) < 500, text
    assert text.startswith("Dataset digits") and "10 classes" in text and "(1, 8, 8)" in text
    assert f"train {len(digits.train):,}" in text and f"test {len(digits.test):,}" in text
    assert digits.description in text
    assert repr(digits.train) == f"Split({len(digits.train):,} examples, x (1, 8, 8) uint8, y int64)"


def test_a_user_dataset_repr_names_its_files_and_layout(tmp_path):
    np.savez(tmp_path / "four.npz", x_train=np.zeros((6, 4, 32, 32), np.uint8), y_train=np.arange(6) % 2)
    text = repr(load_dataset(str(tmp_path / "four.npz")))
    assert str(tmp_path / "four.npz") in text and "channels-first" in text and "tensor(" not in text


def test_many_classes_are_cut_short_in_the_repr():
    from classicnets.data.core import Dataset, Split

    ds = Dataset("many", [f"class{i}" for i in range(1000)], Split(torch.zeros(1000, 1, 4, 4), torch.arange(1000)))
    text = repr(ds)
    assert len(text) < 500 and "class0" in text and "990 more" in text


def test_digit_boxes_can_share_the_repr():
    from classicnets.data.core import dataset_repr
    from classicnets.detection.data import load_digit_boxes

    text = dataset_repr(load_digit_boxes(size=32, train=8, val=4, test=4))
    assert text.startswith("Dataset digit_boxes") and "train 8 / val 4 / test 4" in text and "tensor(" not in text
