import pytest
import torch
from torch import nn

from classicnets.errors import UserError
from classicnets.inspect import check_layer, summarize
from classicnets.zoo import create


def test_the_courses_invalid_example_is_reported_with_numbers_and_a_fix():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU())
    s = summarize(model, (3, 10, 10))
    assert s.warnings == ["layer '0' (Conv2d): (W - F + 2P)/S + 1 = (10 - 3 + 0)/2 + 1 = 4.5 is not an "
                          "integer; the last 1 input rows and columns are never seen (PyTorch floors to 4); "
                          "use stride 1 or padding 1"]
    assert "Warning: layer '0' (Conv2d)" in str(s)
    with pytest.raises(UserError, match="invalid architecture.*4.5 is not an integer"):
        summarize(model, (3, 10, 10), strict=True)
    assert summarize(nn.Conv2d(3, 8, 3, stride=1), (3, 10, 10), strict=True).warnings == []


@pytest.mark.parametrize("layer,size,ok", [
    (nn.Conv2d(3, 8, 7, 2, 3), 224, True),        # ResNet stem: 112.5, but only padding is unread
    (nn.Conv2d(3, 8, 1, 2), 56, True),            # 1x1/2 projection subsamples by design
    (nn.MaxPool2d(3, 2, ceil_mode=True), 112, True),
    (nn.MaxPool2d(3, 2), 110, False),             # ZFNet without padding would drop a row
    (nn.MaxPool2d(2), 5, False),
    (nn.Conv2d(3, 8, 3, 2, padding=1), 10, True),
    (nn.ConvTranspose2d(8, 8, 2, 2), 7, True),    # upsampling (Mask R-CNN's 2x2/2 deconvolution) reads every input
])
def test_which_layers_lose_input(layer, size, ok):
    assert (check_layer("l", layer, (size, size)) == []) == ok


def test_receptive_field_and_effective_stride_follow_the_recurrence():
    rows = summarize(create("vgg16"), (3, 224, 224)).rows
    convs = [r for r in rows if r.kind in ("Conv2d", "MaxPool2d")]
    assert [c.receptive_field[0] for c in convs[:4]] == [3, 5, 6, 10]   # 3, +2, pool +1, +2*2
    assert [c.jump[0] for c in convs[:4]] == [1, 1, 2, 2]
    assert convs[-1].receptive_field == (212, 212) and convs[-1].jump == (32, 32)
    # branches: a residual unit's output sees what its widest branch sees
    res = summarize(create("resnet18"), (3, 224, 224), fold_blocks=True).rows
    assert [r.receptive_field[0] for r in res if r.kind == "BasicBlock"][:2] == [27, 43]


def test_folding_blocks_and_depth_keep_the_totals():
    model = create("resnet18")
    full = summarize(model, (3, 64, 64))
    blocks = summarize(model, (3, 64, 64), fold_blocks=True)
    top = summarize(model, (3, 64, 64), depth=1)
    assert len(top.rows) < len(blocks.rows) < len(full.rows)
    for s in (blocks, top):
        assert (s.macs, s.activation_bytes, s.total_params) == (full.macs, full.activation_bytes, full.total_params)
    assert [r.name for r in top.rows] == ["stem", "conv2", "conv3", "conv4", "conv5", "post", "head"]
    assert sum(r.params for r in top.rows) == full.total_params
    unit = next(r for r in blocks.rows if r.name == "conv3.0")
    assert unit.kind == "BasicBlock" and unit.output_shape == (1, 128, 8, 8)


def test_vgg16_exercise_parameters_and_activation_memory():
    """The course's VGG16 exercise: every CONV/POOL/FC output (and the input) at 4 bytes each."""
    with torch.device("meta"):
        s = summarize(create("vgg16"), (3, 224, 224))
    values = (224 * 224 * 3 + 2 * 224 * 224 * 64 + 112 * 112 * 64 + 2 * 112 * 112 * 128 + 56 * 56 * 128
              + 3 * 56 * 56 * 256 + 28 * 28 * 256 + 3 * 28 * 28 * 512 + 14 * 14 * 512 + 3 * 14 * 14 * 512
              + 7 * 7 * 512 + 4096 + 4096 + 1000)
    assert s.total_params == 138_357_544
    assert s.activation_bytes == 4 * values  # 15.2M values, 58.1 MB per image, forward only


def test_too_small_input_names_the_layer_where_the_size_reaches_zero():
    with pytest.raises(UserError, match=r"layer 'features.30' \(MaxPool2d\) received \(1, 512, 1, 1\)"):
        summarize(create("vgg16", input_size=32), (3, 16, 16))
