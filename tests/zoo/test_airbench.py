"""airbench28: airbench's layout at 28x28, its parameter count by layer, and its pooling on odd sides."""
import pytest
import torch
from torch import nn

from classicnets.errors import UserError
from classicnets.inspect import count_params, summarize
from classicnets.zoo import create


def test_parameter_count_by_layer():
    model = create("airbench28")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.weight.numel() for c in convs] == [1 * 32 * 9, 32 * 32 * 9, 32 * 64 * 9, 64 * 64 * 9,
                                                  64 * 256 * 9, 256 * 256 * 9]
    assert all(c.bias is None for c in convs)  # BatchNorm follows each: a bias would be cancelled
    trainable, non_trainable = count_params(model)
    bn = 32 + 32 + 64 + 64 + 256 + 256
    assert trainable == sum(c.weight.numel() for c in convs) + 2 * bn + 256 * 10 + 10 == 806_058
    assert non_trainable == 2 * bn  # moving mean and variance


def test_width_scales_every_block():
    assert count_params(create("airbench28", width=16))[0] < count_params(create("airbench28"))[0]
    heads = create("airbench28", width=16, num_classes=7).head
    assert heads[-1].in_features == 128 and heads[-1].out_features == 7


def test_every_pixel_is_pooled_at_odd_sides_and_the_maps_halve():
    model = create("airbench28")
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert [p.kernel_size for p in pools] == [2, 2, 3]  # 28 and 14 are even, 7 is not
    s = summarize(model, (1, 28, 28), strict=True)     # strict: raises if a row or column is never seen
    assert s.macs == 19_987_456
    with torch.no_grad():
        x = torch.randn(2, 1, 28, 28)
        assert model.blocks(x).shape == (2, 256, 3, 3)
        assert model(x).shape == (2, 10)


def test_channels_last_inside_gives_the_logits_of_the_usual_layout():
    torch.manual_seed(0)
    model = create("airbench28", seed=0).eval()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        fast = model(x)
        plain = model.head(model.to(memory_format=torch.contiguous_format).blocks(x.contiguous()))
    assert torch.allclose(fast, plain, atol=1e-4)


def test_too_small_an_image_is_refused_in_one_sentence():
    with pytest.raises(UserError, match="needs at least 8x8 pixels"):
        create("airbench28", input_size=6)
