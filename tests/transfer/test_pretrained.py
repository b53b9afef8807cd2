"""Published weights in one call (`load_weights`) and used without training (`pretrained`): the rules of
`--weights`, ImageNet's class names, the weights' own preprocessing, and one published file for
`extract` and `train --features`. No file is downloaded: each test writes a small one in the true format
(torchvision state dicts from formula weights; Keras files as tests/transfer/keras_writers.py writes them)."""
from __future__ import annotations

import gzip
import json

import pytest
import torch
from keras_writers import FIXTURES, formula, write_keras2

from classicnets.config import TransferConfig
from classicnets.data.core import Normalization
from classicnets.errors import UserError
from classicnets.train.checkpoint import save_weights
from classicnets.transfer import weights as W
from classicnets.transfer.features import base_digest, cache_key, feature_identity
from classicnets.transfer.heads import base_of
from classicnets.transfer.imagenet import imagenet_classes
from classicnets.transfer.keras import (
    CAFFE_NORMALIZATION,
    HALF_NORMALIZATION,
    IMAGENET_NORMALIZATION,
)
from classicnets.transfer.published import (
    describe_preprocessing,
    load_weights,
    pretrained,
    resolve_weights,
)
from classicnets.transfer.setup import apply_transfer
from classicnets.zoo import create

TV_KEYS = json.loads(gzip.decompress((FIXTURES / "torchvision_keys.json.gz").read_bytes()))


def test_imagenet_classes_ship_with_the_package_in_the_standard_order():
    names = imagenet_classes()
    assert len(names) == 1000 and len(set(names)) == 998  # crane (134, 517) and maillot (638, 639) twice
    assert (names[0], names[1], names[207], names[281], names[999]) == (
        "tench", "goldfish", "golden retriever", "tabby", "toilet tissue")
    assert (names[134], names[517], names[285], names[948]) == ("crane", "crane", "Egyptian cat", "Granny Smith")


def resnet18_file(tmp_path, num_classes=1000):
    """A torchvision-format resnet18 state dict (torchvision's names and shapes) from formula weights."""
    shapes = {k: ([num_classes, *s[1:]] if k.startswith("fc.") else s) for k, s in TV_KEYS["resnet18"]}
    path = tmp_path / "resnet18.pth"
    torch.save(formula.torchvision_state(shapes), path)
    return path


def test_load_weights_follows_the_weights_option(tmp_path):
    path = resnet18_file(tmp_path)
    model = create("resnet18")
    report, norm = load_weights(model, path, model_name="resnet18")
    assert report.format == "torchvision" and report.missing == [] and norm == IMAGENET_NORMALIZATION
    assert torch.equal(model.head[2].weight, formula.torchvision_state({"fc.weight": [1000, 512]})["fc.weight"])
    with pytest.raises(UserError, match=r"^loading .*resnet18.pth needs model_name=, the zoo name"):
        load_weights(create("resnet18"), path)
    with pytest.raises(UserError, match=r"^weights 'nothing.pth' not found"):
        load_weights(create("resnet18"), "nothing.pth", model_name="resnet18")


def test_load_weights_from_a_run_needs_no_model_name_and_brings_its_normalisation(tmp_path):
    from classicnets.record import ModelCard, write_card
    source = create("lenet", seed=3, num_classes=10)
    save_weights(tmp_path / "model.safetensors", source)
    norm = Normalization(255.0, [0.2], [0.4])
    write_card(tmp_path, ModelCard("lenet", {"num_classes": 10}, [1, 8, 8], [str(i) for i in range(10)],
                                   norm.to_dict(), "digits"))
    model = create("lenet", num_classes=10)
    report, got = load_weights(model, tmp_path)
    assert got == norm and report.format == "safetensors"
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in model.state_dict().items())


def test_pretrained_gives_what_predict_needs(tmp_path):
    p = pretrained("resnet18", resnet18_file(tmp_path))
    assert not p.model.training and p.classes == list(imagenet_classes())
    assert p.input_shape == (3, 224, 224) and p.resize == 256 and p.preprocessing == IMAGENET_NORMALIZATION
    pixels = torch.from_numpy(formula.torchvision_images()[:, :, :32, :32] * 255)
    top = p.predict(pixels, top=3)
    with torch.no_grad():
        probs = torch.softmax(p.model(IMAGENET_NORMALIZATION(pixels)), dim=1)
    values, indices = probs.topk(3, dim=1)
    assert [[name for name, _ in row] for row in top] == [[imagenet_classes()[i] for i in r] for r in indices.tolist()]
    assert [v for _, v in top[0]] == pytest.approx(values[0].tolist())
    fields = p.card_fields()
    assert fields["classes"][207] == "golden retriever" and fields["normalization"] == IMAGENET_NORMALIZATION.to_dict()
    from classicnets.record import ModelCard, read_card, write_card
    (tmp_path / "run").mkdir()
    write_card(tmp_path / "run", ModelCard(**fields))
    assert read_card(tmp_path / "run").norm == IMAGENET_NORMALIZATION
    assert "1,000 classes" in p.describe() and "ImageNet mean and std" in p.describe()


def test_pretrained_refuses_weights_without_the_classifier_or_class_names(tmp_path):
    path = resnet18_file(tmp_path, num_classes=10)
    with pytest.raises(UserError, match=r"^resnet18.pth does not hold resnet18's whole classifier .*num_classes=N"):
        pretrained("resnet18", path)
    with pytest.raises(UserError, match=r"^resnet18 with resnet18.pth has 10 outputs and no class names; give its 10"):
        pretrained("resnet18", path, model_args={"num_classes": 10})
    p = pretrained("resnet18", path, model_args={"num_classes": 10}, classes=[f"c{i}" for i in range(10)])
    assert p.classes[3] == "c3" and p.data == str(path)
    keras = write_keras2(tmp_path / "mobilenet.h5", "mobilenet")
    p = pretrained("mobilenet", keras, model_args={"alpha": 0.25, "num_classes": 10}, classes=list("abcdefghij"))
    assert p.preprocessing == HALF_NORMALIZATION and p.resize is None and p.report.format == "keras"


def published_mobilenets(tmp_path, monkeypatch):
    """$CLASSICNETS_WEIGHTS with Keras's MobileNet 0.25 at 128 with and without its top (formula weights)."""
    monkeypatch.setenv("CLASSICNETS_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    write_keras2(tmp_path / "mobilenet_2_5_128_tf.h5", "mobilenet")
    write_keras2(tmp_path / "mobilenet_2_5_128_tf_no_top.h5", "mobilenet", drop=("conv_preds",))
    return {"alpha": 0.25}


def test_extract_and_train_features_read_the_same_published_file(tmp_path, monkeypatch):
    """`classicnets extract mobilenet --weights imagenet` (the base only, of a model built for the data's
    classes) and `train --features` (a new head) used to read the file with and without the top, so their
    feature caches never met: both read the file without it now, and their bases key the cache alike."""
    args = published_mobilenets(tmp_path, monkeypatch)
    shape = (3, 128, 128)
    common = {"model_name": "mobilenet", "num_outputs": 2, "input_shape": shape, "model_args": args,
              "warn": lambda s: None}
    extract, _, r1 = apply_transfer(TransferConfig(weights="imagenet"), create("mobilenet", num_classes=2, **args),
                                    base_only=True, **common)
    train, _, r2 = apply_transfer(TransferConfig(weights="imagenet", head="gap,dense", freeze="base", features=True),
                                  create("mobilenet", num_classes=2, **args), **common)
    assert r1["weights_file"] == r2["weights_file"] == str(tmp_path / "mobilenet_2_5_128_tf_no_top.h5")
    assert r1["preprocessing"] == HALF_NORMALIZATION.to_dict()
    keys = [cache_key(feature_identity(model="mobilenet", model_args=args, base=base, data="cats_dogs", data_args={},
                                       data_dir=None, normalization=HALF_NORMALIZATION, input_shape=shape))
            for base in (base_of(extract), train.base)]
    assert keys[0] == keys[1]
    # the published top is read where the model uses it (ImageNet's 1,000 classes), not for the base alone
    full = create("mobilenet", **args)
    assert resolve_weights("imagenet", model_name="mobilenet", model=full, model_args=args,
                           input_shape=shape).name == "mobilenet_2_5_128_tf.h5"
    assert resolve_weights("imagenet", model_name="mobilenet", model=full, model_args=args, input_shape=shape,
                           base_only=True).name == "mobilenet_2_5_128_tf_no_top.h5"


def test_the_base_digest_is_the_same_from_either_published_file(tmp_path, monkeypatch):
    args = published_mobilenets(tmp_path, monkeypatch)
    top, bare = create("mobilenet", **args), create("mobilenet", num_classes=2, **args)
    load_weights(top, "imagenet", model_name="mobilenet", model_args=args, input_shape=(3, 128, 128))
    load_weights(bare, "imagenet", model_name="mobilenet", model_args=args, input_shape=(3, 128, 128))
    digest = base_digest(base_of(top))  # base_of works in place: the head becomes an identity
    assert digest == base_digest(base_of(bare))
    assert base_digest(base_of(create("mobilenet", **args))) != digest


def test_the_settings_line_names_the_normalisation_used():
    assert describe_preprocessing(None, "standardize") == "normalize standardize"
    assert describe_preprocessing(HALF_NORMALIZATION, "standardize") == \
        "normalize as the weights expect: x / 127.5 - 1 (Keras's MobileNet)"
    assert "ImageNet mean and std" in describe_preprocessing(IMAGENET_NORMALIZATION)
    assert "'caffe'" in describe_preprocessing(CAFFE_NORMALIZATION)
    assert describe_preprocessing(Normalization.scale(3, 255)) == "normalize as the weights expect: x / 255"
    assert describe_preprocessing(Normalization(255.0, [0.1], [0.3])) == \
        "normalize as the weights expect: mean (0.1), std (0.3) on x / 255"


def test_keras_resnet_weights_are_published(monkeypatch):
    f = W.imagenet_file("resnet50_keras")
    assert f.name == "resnet50_weights_tf_dim_ordering_tf_kernels.h5" and f.md5 == "2cb95161c43110f7111970584f804107"
    assert f.url == "https://storage.googleapis.com/tensorflow/keras-applications/resnet/" + f.name
    assert W.imagenet_file("resnet152_keras", {"include_top": False}).name.endswith("_notop.h5")
    with pytest.raises(UserError, match="resnet50_keras"):
        W.imagenet_file("lenet")


def test_a_published_keras_file_is_checked_by_its_md5(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICNETS_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    (tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels.h5").write_bytes(b"not the file")
    with pytest.raises(UserError, match=r"is not the published resnet50_weights_tf_dim_ordering_tf_kernels.h5: its "
                                        r"MD5 .* is not the published 2cb95161c43110f7111970584f804107"):
        W.find_weights("imagenet", model_name="resnet50_keras")


def test_pretrained_from_a_run_takes_its_classes_shape_and_normalisation(tmp_path):
    from classicnets.record import ModelCard, write_card
    save_weights(tmp_path / "model.safetensors", create("lenet", seed=4, num_classes=3))
    norm = Normalization(16.0, [0.3], [0.2])
    write_card(tmp_path, ModelCard("lenet", {"num_classes": 3}, [1, 8, 8], ["a", "b", "c"], norm.to_dict(), "digits"))
    p = pretrained("lenet", tmp_path)
    assert (p.classes, p.input_shape, p.preprocessing, p.data, p.resize) == (["a", "b", "c"], (1, 8, 8), norm,
                                                                             "digits", None)
    with pytest.raises(UserError, match=r"is a run of lenet, not of mlp; name lenet$"):
        pretrained("mlp", tmp_path)
