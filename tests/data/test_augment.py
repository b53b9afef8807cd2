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


def _centre_of_mass(x):
    x = x.float()[:, 0]
    h, w = x.shape[1:]
    ys = torch.arange(h).view(1, h, 1).float()
    xs = torch.arange(w).view(1, 1, w).float()
    m = x.sum((1, 2))
    return (x * ys).sum((1, 2)) / m, (x * xs).sum((1, 2)) / m


def test_affine_rotates_and_shifts_a_known_image():
    from classicnets.data.augment import affine
    x = torch.zeros(1, 1, 9, 9, dtype=torch.uint8)
    x[0, 0, 1, 4] = 200                                   # a dot above the centre (4, 4)
    turn = affine(x, torch.tensor([90.0]), torch.zeros(1), torch.zeros(1))
    assert turn[0, 0].argmax() == 4 * 9 + 1               # anticlockwise: the dot goes to the left
    moved = affine(x, torch.zeros(1), torch.tensor([2.0]), torch.tensor([3.0]))
    assert moved[0, 0].argmax() == 4 * 9 + 6 and moved.dtype == torch.uint8   # 2 right, 3 down


def test_shift_and_rotation_ranges_stay_within_keras_bounds():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(256, 1, 20, 20, dtype=torch.uint8)
    x[:, 0, 9:11, 9:11] = 255
    out = Augmenter(AugmentConfig(width_shift_range=0.2, height_shift_range=0.1))(x, g)
    cy, cx = _centre_of_mass(out)
    assert (cx - 9.5).abs().max() <= 4.01 and (cy - 9.5).abs().max() <= 2.01   # 0.2*20, 0.1*20
    assert (cx - 9.5).abs().max() > 3 and (cx - 9.5).std() > 1                 # and they do vary
    bar = torch.zeros(64, 1, 21, 21, dtype=torch.uint8)
    bar[:, 0, 10, 2:19] = 255                                                  # a horizontal bar
    rot = Augmenter(AugmentConfig(rotation_range=30))(bar, g).float()[:, 0]
    ys = torch.arange(21).view(1, 21, 1).float()
    xs = torch.arange(21).view(1, 1, 21).float()
    slope = ((rot * (ys - 10) * (xs - 10)).sum((1, 2)) / (rot * (xs - 10) ** 2).sum((1, 2)))
    angles = torch.rad2deg(torch.atan(slope)).abs()
    assert angles.max() <= 31 and angles.max() > 20


def test_cutout_blanks_one_square_per_image():
    g = torch.Generator().manual_seed(0)
    x = torch.full((50, 3, 16, 16), 9, dtype=torch.uint8)
    out = Augmenter(AugmentConfig(cutout=4))(x, g)
    zeros = (out == 0).all(1).sum((1, 2))                 # blanked pixels, same in every channel
    assert zeros.max() == 16 and zeros.min() >= 4 and (zeros < 16).any()  # clipped at the border sometimes
    assert set(out.unique().tolist()) == {0, 9}


def test_augmentation_is_applied_to_training_batches_only(digits):
    from classicnets.train import TrainConfig
    from classicnets.train.engine import Trainer
    from classicnets.zoo import create
    trainer = Trainer(create("lenet"), digits.train, digits.val, TrainConfig(epochs=1),
                      digits.normalization(), AugmentConfig(cutout=4), [])
    assert isinstance(trainer.train_loader.augment, Augmenter) and trainer.val_loader.augment is None
    xb, _ = next(iter(trainer.train_loader))
    raw = digits.normalization()(torch.zeros(1, 1, 1, 1, dtype=torch.uint8)).item()
    assert ((xb == raw).flatten(1).sum(1) >= 4).all()  # every training image has its blank square


def test_random_erasing_fills_one_rectangle_of_the_papers_sizes_with_noise():
    from classicnets.data.augment import random_erasing
    g = torch.Generator().manual_seed(0)
    x = torch.full((400, 1, 28, 28), 9, dtype=torch.uint8)
    out = random_erasing(x, 0.5, g)
    changed = out[:, 0] != 9                                # (N, H, W); noise equals 9 once in 256 draws
    erased = changed.flatten(1).any(1)
    assert 150 < int(erased.sum()) < 250                    # about half of the images, p = 0.5
    for m in changed[erased]:
        rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
        h, w = int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
        assert m[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].float().mean() > 0.9  # one filled rectangle
        assert 0.02 * 784 * 0.8 <= h * w <= 0.4 * 784 * 1.1  # 2%-40% of the image (rounded sides)
        assert 0.3 * 0.6 <= h / w <= 1 / 0.3 / 0.6          # aspect 0.3-3.3 (rounded sides)
    assert len(out[:, 0][changed].unique()) > 200           # filled with noise, not a constant
    again = random_erasing(x, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)                          # the seed decides everything


def test_random_erasing_is_an_option_with_a_probability():
    import pytest

    from classicnets.errors import UserError
    assert AugmentConfig(random_erasing=0.5).enabled and not AugmentConfig().enabled
    with pytest.raises(UserError, match="random"):
        AugmentConfig(random_erasing=1.5).validate()
    x = torch.full((8, 1, 10, 10), 9, dtype=torch.uint8)
    assert torch.equal(Augmenter(AugmentConfig(random_erasing=0.0, translate=0))(x, None), x)
    assert not torch.equal(Augmenter(AugmentConfig(random_erasing=1.0))(x, torch.Generator().manual_seed(1)), x)
