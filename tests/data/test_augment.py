import torch

from classicnets.data.augment import AugmentConfig, Augmenter, horizontal_flip, translate


def _dot(n=64, size=5):
    x = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    x[:, 0, 2, 2] = 200  # one bright pixel in the centre
    return x


def test_translate_moves_each_image_by_its_own_offset_within_range():
    g = torch.Generator().manual_seed(0)
    out = translate(_dot(), 1, g)
    assert out.shape == (64, 1, 5, 5) and out.dtype == torch.uint8
    pos = out.view(64, -1).argmax(1)
    rows, cols = pos // 5, pos % 5
    assert ((rows - 2).abs() <= 1).all() and ((cols - 2).abs() <= 1).all()
    assert (out.view(64, -1).sum(1) == 200).all()             # the pixel moved, nothing else appeared
    assert len(set(zip(rows.tolist(), cols.tolist()))) == 9   # all 9 offsets occur across the batch


def test_translate_fills_with_zeros_at_the_border():
    g = torch.Generator().manual_seed(1)
    x = torch.full((32, 1, 4, 4), 7, dtype=torch.uint8)
    out = translate(x, 2, g)
    assert (out == 0).any() and set(out.unique().tolist()) <= {0, 7}


def test_horizontal_flip_mirrors_about_half_the_batch():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(200, 1, 3, 3, dtype=torch.uint8)
    x[:, 0, 1, 0] = 1  # a pixel at the left edge
    out = horizontal_flip(x, g)
    flipped = out[:, 0, 1, 2] == 1
    assert torch.equal(out[flipped], x[flipped].flip(3)) and torch.equal(out[~flipped], x[~flipped])
    assert 70 < int(flipped.sum()) < 130


def test_augmenter_is_reproducible_for_a_seed():
    aug = Augmenter(AugmentConfig(translate=1, horizontal_flip=True))
    a = aug(_dot(), torch.Generator().manual_seed(5))
    b = aug(_dot(), torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert not AugmentConfig().enabled and AugmentConfig(translate=1).enabled
