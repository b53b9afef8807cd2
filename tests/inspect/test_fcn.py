import pytest
import torch

from classicnets.errors import UserError
from classicnets.inspect import to_fully_convolutional
from classicnets.zoo import create


def _check(model, native: int, big: int, stride: int, crops_exact: bool):
    """The converted model equals the original at `native`; on `big` inputs each score-map cell
    equals the original classifier on the matching window of the shared feature map, and (for
    networks without zero padding) the original network on the matching crop."""
    torch.manual_seed(0)
    model.eval()
    fcn = to_fully_convolutional(model, (3, native, native)).eval()
    x = torch.randn(1, 3, native, native)
    with torch.no_grad():
        assert torch.allclose(fcn(x).flatten(1), model(x), rtol=1e-4, atol=1e-5)
        xb = torch.randn(1, 3, big, big)
        scores = fcn(xb)                                                     # (1, classes, n, n)
        n = (big - native) // stride + 1
        assert scores.shape[2:] == (n, n)
        fmap, k = model.features(xb), model.features(x).shape[-1]
        windows = torch.cat([fmap[:, :, i:i + k, j:j + k] for i in range(n) for j in range(n)])
        expected = model.classifier(windows).T.reshape(1, -1, n, n)         # window (i, j) -> cell (i, j)
        assert torch.allclose(scores, expected, rtol=1e-4, atol=1e-5)
        if crops_exact:
            crops = torch.cat([xb[:, :, i * stride:i * stride + native, j * stride:j * stride + native]
                               for i in range(n) for j in range(n)])
            assert torch.allclose(scores, model(crops).T.reshape(1, -1, n, n), rtol=1e-4, atol=1e-5)


def test_converted_vgg16_layout_gives_a_score_map_narrow():
    # VGG16's layout at 1/8 width on 64x64 inputs: a 2x2x64 map, so the first FC becomes a 2x2 conv
    _check(create("vgg16", width=0.125, input_size=64, num_classes=10), 64, 128, 32, crops_exact=False)


def test_without_padding_each_score_equals_the_original_on_its_crop():
    # valid convolutions and 2x2 pooling twice: effective stride 4; crops at multiples of 4 align
    _check(create("small_vgg", num_classes=10), 100, 108, 4, crops_exact=True)


@pytest.mark.slow
def test_converted_vgg16_gives_a_6x6_score_map_on_384():
    _check(create("vgg16"), 224, 384, 32, crops_exact=False)


def test_alexnet_and_course_convnets_convert():
    for name, size in (("alexnet", 224), ("cifar_convnet", 32), ("small_vgg", 100)):
        model = create(name, num_classes=4).eval()
        fcn = to_fully_convolutional(model, (3, size, size)).eval()
        x = torch.randn(1, 3, size, size)
        with torch.no_grad():
            assert torch.allclose(fcn(x).flatten(1), model(x), rtol=1e-4, atol=1e-4)


def test_models_without_a_dense_head_are_refused():
    with pytest.raises(UserError, match="cannot convert AdaptiveMaxPool2d"):
        to_fully_convolutional(create("cifar_convnet_gmp"), (3, 32, 32))
    with pytest.raises(UserError, match="no `features` \\+ `classifier` layout"):
        to_fully_convolutional(create("resnet20"), (3, 32, 32))
