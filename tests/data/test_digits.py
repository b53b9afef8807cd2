import numpy as np
import pytest
import torch

from classicnets.data import BatchLoader, Normalization, Split, load_dataset, stratified_split
from classicnets.errors import UserError


def test_digits_split_is_fixed_stratified_and_disjoint(digits):
    assert (len(digits.train), len(digits.val), len(digits.test)) == (1257, 180, 360)
    assert digits.input_shape == (1, 8, 8) and digits.train.x.dtype == torch.uint8
    assert int(digits.train.x.max()) == 16 and digits.classes == [str(i) for i in range(10)]
    again = load_dataset("digits")
    assert torch.equal(again.test.x, digits.test.x) and torch.equal(again.test.y, digits.test.y)
    # each class is ~20% of its examples in the test split
    all_y = torch.cat([digits.train.y, digits.val.y, digits.test.y])
    ratio = torch.bincount(digits.test.y, minlength=10) / torch.bincount(all_y, minlength=10)
    assert ((ratio - 0.2).abs() < 0.01).all()
    # no image is in two splits
    rows = lambda s: {bytes(v) for v in s.x.flatten(1).numpy()}  # noqa: E731
    assert not rows(digits.train) & rows(digits.test)


def test_normalization_comes_from_the_training_split_only(digits):
    norm = digits.normalization()
    train = digits.train.x.double() / 16
    assert norm.mean[0] == pytest.approx(train.mean().item())
    assert norm.std[0] == pytest.approx(train.std().item())
    z = norm(digits.train.x)
    assert z.mean().item() == pytest.approx(0, abs=1e-5) and z.std().item() == pytest.approx(1, abs=1e-3)
    assert Normalization.from_dict(norm.to_dict()) == norm


def test_loader_visits_every_example_once_per_epoch_in_a_seeded_order():
    x = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    split = Split(x, torch.arange(10))
    ident = Normalization.identity(1)

    def order(seed):
        g = torch.Generator().manual_seed(seed)
        loader = BatchLoader(split, 4, device=torch.device("cpu"), normalization=ident, shuffle=True,
                             generator=g)
        assert len(loader) == 3
        batches = list(loader)
        assert [len(b[1]) for b in batches] == [4, 4, 2]
        for xb, yb in batches:  # images stay with their labels
            assert torch.equal(xb.view(-1).long(), yb)
        return torch.cat([b[1] for b in batches])
    assert sorted(order(0).tolist()) == list(range(10))
    assert torch.equal(order(0), order(0)) and not torch.equal(order(0), order(1))


def test_stratified_split_is_seeded_and_keeps_class_ratios():
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    keep, held = stratified_split(y, 0.2, seed=3)
    assert len(held) == 20 and not set(keep) & set(held)
    assert np.bincount(y[held].numpy()).tolist() == [10, 6, 4]
    assert np.array_equal(held, stratified_split(y, 0.2, seed=3)[1])
    assert not np.array_equal(held, stratified_split(y, 0.2, seed=4)[1])
    with pytest.raises(UserError, match="between 0 and 1"):
        stratified_split(y, 1.5, 0)


def test_split_rejects_mismatched_lengths():
    with pytest.raises(UserError, match="3 inputs but 2 labels"):
        Split(torch.zeros(3, 1, 2, 2), torch.zeros(2))
