import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from classicnets.errors import UserError
from classicnets.inspect import parse_input, summarize
from classicnets.zoo import create


def test_lenet_table_shapes_params_and_macs():
    s = summarize(create("lenet"), "1x8x8")
    convs = [r for r in s.rows if r.kind == "Conv2d"]
    # the course's F*F*D_r * W*H * D_{r+1}: 3*3*1 * 8*8 * 32 and 3*3*32 * 4*4 * 64
    assert [r.macs for r in convs] == [3 * 3 * 1 * 8 * 8 * 32, 3 * 3 * 32 * 4 * 4 * 64]
    assert [r.output_shape for r in convs] == [(1, 32, 8, 8), (1, 64, 4, 4)]
    assert s.total_params == s.trainable == 53_002 and s.non_trainable == 0
    assert s.macs == 18_432 + 294_912 + 256 * 128 + 128 * 10


@pytest.mark.parametrize("name,shape", [("lenet", (1, 8, 8)), ("lenet5", (1, 32, 32))])
def test_macs_agree_with_torch_flop_counter(name, shape):
    model = create(name)
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *shape))
    assert 2 * summarize(model, shape).macs == counter.get_total_flops()


@pytest.mark.parametrize("layer", [nn.ConvTranspose2d(8, 4, 2, 2), nn.ConvTranspose2d(8, 6, 3, 2, 1, output_padding=1),
                                   nn.ConvTranspose2d(8, 4, 3, 1, 1, groups=2)])
def test_transposed_convolution_macs_agree_with_torch_flop_counter(layer):
    with FlopCounterMode(display=False) as counter:
        layer(torch.zeros(1, 8, 7, 7))
    assert 2 * summarize(layer, (8, 7, 7)).macs == counter.get_total_flops()


def test_activation_memory_counts_input_and_non_inplace_outputs():
    s = summarize(create("lenet"), (1, 8, 8))
    # input 64; conv 2048, pool 512, conv 1024, pool 256, dense 128, dense 10 (ReLU, dropout, flatten in place)
    assert s.activation_bytes == 4 * (64 + 2048 + 512 + 1024 + 256 + 128 + 10)
    assert summarize(create("lenet"), (1, 8, 8), batch=16).activation_bytes == s.activation_bytes


def test_batchnorm_statistics_count_as_non_trainable_like_keras():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    model(torch.zeros(1, 3, 6, 6))
    s = summarize(model, (3, 6, 6))
    assert s.non_trainable == 16  # moving mean and variance of 8 channels
    assert s.trainable == (3 * 9 * 8 + 8) + 16 + (8 * 16 * 2 + 2)
    assert "Non-trainable params: 16" in str(s) and "as Keras does" in str(s)


def test_render_is_a_keras_style_table_through_print_fn():
    lines = []
    summarize(create("lenet"), (1, 8, 8), batch=32, name="lenet").render(lines.append)
    text = "\n".join(lines)
    assert 'Model: "lenet"' in text and "features.0 (Conv2d)" in text and "(32, 32, 8, 8)" in text
    assert "Total params: 53,002" in text and "per batch of 32" in text


def test_input_that_does_not_fit_names_the_layer_and_shapes():
    with pytest.raises(UserError, match=r"layer 'features.0' \(Conv2d\) received \(1, 3, 8, 8\)"):
        summarize(create("lenet"), (3, 8, 8))
    with pytest.raises(UserError, match=r"layer 'classifier.1' \(Linear\) received \(1, 64\)"):
        summarize(create("lenet"), (1, 4, 4))


@pytest.mark.parametrize("text", ["3xax3", "0x8x8", ""])
def test_bad_input_size_text(text):
    with pytest.raises(UserError):
        parse_input(text)
