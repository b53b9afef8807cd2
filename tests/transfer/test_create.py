"""`cn.create(name, weights=...)` builds and loads in one call, with `--weights`'s rules and refusals and
the weights' own preprocessing on the model; `cn.load_weights(model, path)` loads into a model already
built. No file is downloaded: torchvision state dicts from formula weights, Keras files as
tests/transfer/keras_writers.py writes them."""
from __future__ import annotations

import gzip
import json

import pytest
import torch
from keras_writers import FIXTURES, formula, write_keras2

import classicnets as cn
from classicnets.errors import UserError
from classicnets.transfer.keras import HALF_NORMALIZATION, IMAGENET_NORMALIZATION
from classicnets.zoo import create as zoo_create

TV_KEYS = json.loads(gzip.decompress((FIXTURES / "torchvision_keys.json.gz").read_bytes()))


@pytest.fixture(scope="module")
def resnet18_pth(tmp_path_factory):
    """A torchvision-format resnet18 state dict (torchvision's names and shapes) from formula weights."""
    path = tmp_path_factory.mktemp("tv") / "resnet18.pth"
    torch.save(formula.torchvision_state(dict(TV_KEYS["resnet18"])), path)
    return path


def same_state(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_create_with_weights_builds_and_loads_in_one_call(resnet18_pth):
    model = cn.create("resnet18", weights=resnet18_pth)
    expected = zoo_create("resnet18")
    report, norm = cn.load_weights(expected, resnet18_pth, model_name="resnet18")
    assert same_state(model, expected)
    assert model.preprocessing == norm == IMAGENET_NORMALIZATION  # the weights' own, on the model
    assert model.weights_report.format == "torchvision" and model.weights_report.missing == []
    assert (model.zoo_name, model.zoo_args) == ("resnet18", {})
    # the attributes are plain ones: the state dict is the zoo model's, nothing added
    assert model.state_dict().keys() == zoo_create("resnet18").state_dict().keys()


def test_create_without_weights_is_the_zoos_create():
    assert same_state(cn.create("lenet", seed=3), zoo_create("lenet", seed=3))
    assert same_state(cn.create("lenet", 3), zoo_create("lenet", seed=3))  # seed stays the second argument
    assert not hasattr(cn.create("lenet", seed=0), "preprocessing")
    with pytest.raises(UserError, match=r"model 'lenet' has no option 'colour'"):
        cn.create("lenet", colour=1)


def test_load_weights_into_a_created_model_needs_no_name(resnet18_pth):
    model = cn.create("resnet18", seed=0)
    report, norm = cn.load_weights(model, resnet18_pth)
    assert report.format == "torchvision" and norm == IMAGENET_NORMALIZATION and model.preprocessing == norm
    assert same_state(model, cn.create("resnet18", weights=resnet18_pth))
    with pytest.raises(UserError, match=r"needs model_name=, the zoo name the model was built as"):
        cn.load_weights(zoo_create("resnet18"), resnet18_pth)  # built elsewhere: its name is not known


def test_create_refuses_as_the_weights_option_does(resnet18_pth, tmp_path):
    with pytest.raises(UserError) as e:
        cn.create("vgg11", weights=resnet18_pth)  # another architecture: refused, nothing loaded
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match=r"^weights 'nothing.pth' not found"):
        cn.create("resnet18", weights="nothing.pth")
    with pytest.raises(UserError, match=r"^faster_rcnn is a detector; its weights start from a classifier's"):
        cn.create("faster_rcnn", weights=resnet18_pth)


def test_a_new_number_of_classes_keeps_a_fresh_head_and_says_so(resnet18_pth):
    with pytest.warns(UserWarning, match=r"^Weights: loaded \d+ tensors from resnet18.pth .*fc"):
        model = cn.create("resnet18", weights=resnet18_pth, num_classes=10, seed=0)
    assert model.weights_report.skipped and model.preprocessing == IMAGENET_NORMALIZATION
    fresh = zoo_create("resnet18", num_classes=10, seed=0)
    assert torch.equal(model.head[-1].weight, fresh.head[-1].weight)  # the head as the seed drew it


def test_imagenet_picks_the_published_file_the_model_uses(tmp_path, monkeypatch):
    """"imagenet" reads $CLASSICNETS_WEIGHTS (no download here): the file with the top for a model of
    ImageNet's 1,000 classes, the `_no_top` file for another head; the input size picks MobileNet's file."""
    monkeypatch.setenv("CLASSICNETS_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    write_keras2(tmp_path / "mobilenet_2_5_128_tf.h5", "mobilenet")
    write_keras2(tmp_path / "mobilenet_2_5_128_tf_no_top.h5", "mobilenet", drop=("conv_preds",))
    with pytest.warns(UserWarning, match="conv_preds"):  # the fixture's top has 10 classes, not 1,000
        full = cn.create("mobilenet", weights="imagenet", alpha=0.25, input_shape=(3, 128, 128))
    assert full.weights_report.path.name == "mobilenet_2_5_128_tf.h5" and full.preprocessing == HALF_NORMALIZATION
    with pytest.warns(UserWarning, match="freshly initialised"):
        two = cn.create("mobilenet", weights="imagenet", alpha=0.25, num_classes=2, input_shape=(3, 128, 128))
    assert two.weights_report.path.name == "mobilenet_2_5_128_tf_no_top.h5"
    with pytest.raises(UserError, match=r"mobilenet_2_5_224_tf.h5 are not here"):  # 224: MobileNet's default size
        cn.create("mobilenet", weights="imagenet", alpha=0.25)


def test_a_run_directory_gives_the_runs_model_head_and_normalisation(tmp_path):
    from classicnets.data.core import Normalization
    from classicnets.record import ModelCard, write_card
    from classicnets.train.checkpoint import save_weights
    from classicnets.transfer import with_head

    source = with_head(zoo_create("lenet", seed=1), "flatten,dense:16:relu,dense", 3, (1, 8, 8))
    save_weights(tmp_path / "model.safetensors", source)
    norm = Normalization(16.0, [0.3], [0.2])
    write_card(tmp_path, ModelCard("lenet", {}, [1, 8, 8], ["a", "b", "c"], norm.to_dict(), "digits",
                                   head="flatten,dense:16:relu,dense"))
    model = cn.create("lenet", weights=tmp_path)
    assert same_state(model, source) and model.preprocessing == norm and model.weights_report.missing == []
    with pytest.raises(UserError, match=r"is a run of lenet, not of mlp; name lenet$"):
        cn.create("mlp", weights=tmp_path)
