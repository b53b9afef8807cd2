"""Test-time augmentation by mirroring: what evaluate and predict see through `TTA`."""
import math

import pytest
import torch
from torch import nn

from classicnets.train.evaluation import evaluate, predict
from classicnets.train.tta import TTA, flip_logits, with_tta


class LeftHalf(nn.Module):
    """Logits that depend on which side of the image is bright: a mirror swaps them."""

    def forward(self, x):
        w = x.shape[3]
        left, right = x[..., : w // 2].mean((1, 2, 3)), x[..., w // 2:].mean((1, 2, 3))
        return torch.stack([left, right], 1)


def test_flip_averages_the_logits_of_the_image_and_its_mirror():
    x = torch.zeros(3, 1, 4, 4)
    x[:, :, :, :2] = 1.0                                   # bright left half
    plain = LeftHalf()(x)
    assert torch.allclose(plain, torch.tensor([[1.0, 0.0]] * 3))
    assert torch.allclose(flip_logits(LeftHalf(), x), torch.tensor([[0.5, 0.5]] * 3))
    lin = nn.Sequential(nn.Flatten(), nn.Linear(16, 5))
    expected = (lin(x) + lin(x.flip(3))) / 2
    assert torch.allclose(TTA(lin).eval()(x), expected)


def test_training_mode_and_none_are_the_model_itself():
    lin = nn.Sequential(nn.Flatten(), nn.Linear(16, 5))
    x = torch.randn(2, 1, 4, 4)
    assert torch.equal(TTA(lin).train()(x), lin(x))        # augmentation while training is the loader's
    assert with_tta(lin, "none") is lin
    assert isinstance(with_tta(lin, "flip"), TTA)
    with pytest.raises(ValueError, match="unknown test-time augmentation"):
        TTA(lin, "rotate")


def test_evaluate_and_predict_take_the_wrapped_model():
    # the mirror undoes what the model sees: with TTA every pair of logits ties, so the loss is ln 2
    x = torch.zeros(4, 1, 4, 4)
    x[:2, :, :, :2] = 1.0                                  # two images bright on the left ...
    x[2:, :, :, 2:] = 1.0                                  # ... two bright on the right
    y = torch.tensor([0, 0, 1, 1])
    model = LeftHalf()
    model.register_parameter("p", nn.Parameter(torch.zeros(1)))  # evaluate reads the device from a parameter
    assert evaluate(model, (x, y), batch_size=3)["acc"] == 1.0
    tta = evaluate(TTA(model), (x, y), batch_size=3)
    assert tta["loss"] == pytest.approx(math.log(2))
    assert tta["acc"] == 0.5                               # a tie goes to the first class: right on two of four
    probs = predict(TTA(model), x)
    assert torch.allclose(probs, torch.full((4, 2), 0.5))


def test_flip_translate_is_airbenchs_level_two():
    # airbench94.py's infer_mirror_translate: half the mirror logits, half their mean over the image
    # shifted one pixel up-left and down-right, edges reflected
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(20, 3))
    x = torch.randn(2, 1, 4, 5)
    mirror = lambda v: (lin(v) + lin(v.flip(3))) / 2  # noqa: E731
    p = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    expected = 0.5 * mirror(x) + 0.25 * (mirror(p[:, :, 0:4, 0:5]) + mirror(p[:, :, 2:6, 2:7]))
    assert torch.allclose(TTA(lin, "flip_translate").eval()(x), expected, atol=1e-6)
