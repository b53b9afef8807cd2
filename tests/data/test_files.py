import numpy as np
import pytest
import torch
from PIL import Image

from classicnets.data.files import read_inputs
from classicnets.errors import UserError


def test_grayscale_png_is_resized_and_scaled_to_raw_units(tmp_path):
    a = np.zeros((32, 32), np.uint8)
    a[:16] = 255  # top half white
    Image.fromarray(a).save(tmp_path / "half.png")
    names, x = read_inputs([tmp_path / "half.png"], (1, 8, 8), max_value=16.0)
    assert names == [str(tmp_path / "half.png")] and x.shape == (1, 1, 8, 8)
    assert torch.allclose(x[0, 0, :4], torch.tensor(16.0)) and torch.all(x[0, 0, 4:] == 0)
    _, inv = read_inputs([tmp_path / "half.png"], (1, 8, 8), max_value=16.0, invert=True)
    assert torch.all(inv[0, 0, :4] == 0) and torch.allclose(inv[0, 0, 4:], torch.tensor(16.0))


def test_rgb_jpeg_becomes_one_channel_and_gray_becomes_three(tmp_path):
    Image.new("RGB", (10, 10), (255, 0, 0)).save(tmp_path / "red.jpg", quality=100)
    _, x = read_inputs([tmp_path / "red.jpg"], (1, 10, 10), max_value=255.0)
    assert x.shape == (1, 1, 10, 10) and abs(x.mean().item() - 0.299 * 255) < 3
    Image.new("L", (5, 5), 100).save(tmp_path / "g.png")
    _, y = read_inputs([tmp_path / "g.png"], (3, 5, 5), max_value=255.0)
    assert y.shape == (1, 3, 5, 5) and torch.all(y == 100)


@pytest.mark.parametrize("shape,n", [((8, 8), 1), ((1, 8, 8), 1), ((8, 8, 1), 1), ((5, 8, 8), 5),
                                     ((4, 1, 8, 8), 4), ((4, 8, 8, 1), 4), ((16, 16), 1)])
def test_arrays_of_common_layouts_are_accepted(tmp_path, shape, n):
    np.save(tmp_path / "a.npy", np.ones(shape, np.float32) * 3)
    names, x = read_inputs([tmp_path / "a.npy"], (1, 8, 8), max_value=16.0)
    assert x.shape == (n, 1, 8, 8) and torch.allclose(x, torch.tensor(3.0)) and len(names) == n


@pytest.mark.parametrize("content,match", [
    (b"not an image at all", "cannot read image"),
])
def test_unreadable_image_names_the_file(tmp_path, content, match):
    (tmp_path / "bad.png").write_bytes(content)
    with pytest.raises(UserError, match=f"{match}.*bad.png"):
        read_inputs([tmp_path / "bad.png"], (1, 8, 8), 16.0)


def test_impossible_inputs_are_clear_errors(tmp_path):
    np.save(tmp_path / "v.npy", np.ones(7))
    with pytest.raises(UserError, match=r"v.npy has shape \(7,\)"):
        read_inputs([tmp_path / "v.npy"], (1, 8, 8), 16.0)
    np.save(tmp_path / "two.npy", np.ones((2, 8, 8, 2)))
    with pytest.raises(UserError, match="two.npy has shape"):
        read_inputs([tmp_path / "two.npy"], (3, 8, 8), 16.0)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="obj.npy holds Python objects"):
        read_inputs([tmp_path / "obj.npy"], (1, 8, 8), 16.0)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="PNG/JPEG images or .npy arrays"):
        read_inputs([tmp_path / "notes.txt"], (1, 8, 8), 16.0)
    with pytest.raises(UserError, match="does not exist"):
        read_inputs([tmp_path / "missing.png"], (1, 8, 8), 16.0)
