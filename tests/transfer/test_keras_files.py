"""Keras's weight files (Keras 2 HDF5, Keras 3 `.weights.h5`, `.keras` archives) of every zoo model with a
Keras counterpart load where they belong and give Keras's outputs to float32 rounding.

The reference is tests/fixtures/keras_applications.json.gz, made once with real Keras 3.15.1 on its PyTorch
backend by tests/fixtures/make_keras_applications.py (its docstring has the commands): for VGG16, VGG19,
ResNet50, DenseNet121/169/201 and MobileNet (Keras's applications) and the course's six Keras models, at
32x32 with 10 classes and weights from tests/fixtures/formula.py, the layouts Keras's three writers made and
Keras's outputs for formula pixel images passed through the application's own `preprocess_input`. The
files are written here in those layouts (tests/transfer/keras_writers.py), so the tests need no Keras.
The whole sweep (every model in every layout) is `-m slow`; the fast set covers each layout and each
mapping rule (Flatten's reordering, BGR, DenseNet's epsilon, the shortcut order) on the smaller models.
"""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from keras_writers import (
    CASES,
    KERAS,
    keras_output,
    pixels,
    rel_error,
    write,
    write_archive,
    write_keras2,
    write_keras3,
)

from classicnets.data.core import Normalization
from classicnets.errors import UserError
from classicnets.transfer.heads import base_of
from classicnets.transfer.keras import CAFFE_NORMALIZATION, keras_plan, snake
from classicnets.transfer.weights import load_pretrained
from classicnets.zoo import create, model_info, parameter_count

FAST = {("mobilenet", "keras3"), ("mobilenet", "keras"), ("resnet50", "keras2"), ("densenet121", "keras3"),
        ("mlp", "keras3"), ("small_vgg", "keras2"), ("cifar_convnet", "keras"), ("cifar_convnet_gmp", "keras3"),
        ("cifar_dropout_convnet", "keras3"), ("resnet_mini", "keras"), ("vgg16_no_top", "keras2")}
LAYOUTS = ("keras2", "keras3", "keras")  # "keras": a .keras archive


def zoo_model(case: str) -> torch.nn.Module:
    c = CASES[case]
    return create(c["zoo"], **c["zoo_args"]).eval()


def output(model, case: str, preprocessing: Normalization | None) -> np.ndarray:
    x = pixels(case)
    x = preprocessing(x) if preprocessing is not None else x / 255  # the course's models: x / 255, as it does
    if not CASES[case]["include_top"]:
        model = base_of(model)
    with torch.no_grad():
        out = model(x)
    return (out.permute(0, 2, 3, 1) if out.ndim == 4 else out).numpy()  # feature maps channels last, as Keras


def sweep():
    for case in CASES:
        for layout in LAYOUTS:
            if layout == "keras" and not CASES[case]["keras_files"]:
                continue  # archives recorded for some models only (their configurations are large)
            marks = () if (case, layout) in FAST else (pytest.mark.slow,)
            yield pytest.param(case, layout, marks=marks, id=f"{case}-{layout}")


@pytest.mark.parametrize("case,layout", list(sweep()))
def test_keras_files_give_keras_outputs(case, layout, tmp_path):
    c = CASES[case]
    path = write(layout, tmp_path, case)
    model = zoo_model(case)
    report = load_pretrained(model, path, model_name=c["zoo"])
    assert report.format == {"keras2": "keras", "keras3": "keras3", "keras": "keras-archive"}[layout]
    assert report.skipped == []
    head = [k for k in model.state_dict() if k.startswith(("classifier.", "head."))]
    assert report.missing == ([] if c["include_top"] else [k for k in head if not k.endswith("num_batches_tracked")])
    ref = keras_output(case)
    out = output(model, case, report.preprocessing)
    assert out.shape == ref.shape
    assert rel_error(out, ref) < 1e-5


@pytest.mark.parametrize("case", list(CASES))
def test_plans_follow_keras_layer_order_and_keras3_numbering(case):
    """The zoo's picture of each Keras model (its layers with weights, in `model.layers` order) is Keras's,
    and Keras 3 numbers a class's layers in that order: the rule the position matching relies on."""
    c = CASES[case]
    with torch.device("meta"):
        model = create(c["zoo"], **c["zoo_args"])
    plan = keras_plan(model, c["zoo"], tuple(c["input_shape"][i] for i in (3, 1, 2)))
    theirs = [(name, cls) for name, cls, _, _, _ in c["layers"]]
    mine = [(p.name, p.cls) for p in plan.layers][:len(theirs)]  # a file without top ends earlier
    if plan.named:
        assert mine == theirs
    else:
        assert [cls for _, cls in mine] == [cls for _, cls in theirs]
    seen: dict[str, int] = {}
    for _, cls, group, _, _ in c["layers"]:
        n = seen[cls] = seen.get(cls, -1) + 1
        assert group == f"layers/{snake(cls)}" + (f"_{n}" if n else "")


def test_keras_resnets_are_counted_as_keras_counts_them():
    for depth, count in ((50, 25_636_712), (101, 44_707_176), (152, 60_419_944)):
        assert KERAS["keras_counts"][f"ResNet{depth}"] == count  # count_params() of Keras's own models
        assert parameter_count(f"resnet{depth}_keras") == model_info(f"resnet{depth}_keras").num_params == count


def test_keras3_files_without_layer_names_load_by_position(tmp_path):
    """Keras 3 before it wrote layer names on `vars`: the groups' per-class numbering places them."""
    path = tmp_path / "old.weights.h5"
    write_keras3(path, "resnet50", names=False)
    model = zoo_model("resnet50")
    report = load_pretrained(model, path, model_name="resnet50_keras")
    assert rel_error(output(model, "resnet50", report.preprocessing), keras_output("resnet50")) < 1e-5
    archive = write_archive(tmp_path / "old.keras", "resnet_mini", names=False)  # named from its config.json
    model = zoo_model("resnet_mini")
    load_pretrained(model, archive, model_name="resnet_mini")
    assert rel_error(output(model, "resnet_mini", None), keras_output("resnet_mini")) < 1e-5


def test_published_densenet_names_of_keras2_load(tmp_path):
    """The published Keras 2 DenseNet files name their first layers conv1/conv and conv1/bn."""
    path = write_keras2(tmp_path / "densenet121.h5", "densenet121", rename={"conv1_conv": "conv1/conv",
                                                                             "conv1_bn": "conv1/bn"})
    model = zoo_model("densenet121")
    report = load_pretrained(model, path, model_name="densenet121")
    assert report.format == "keras" and report.missing == []
    assert rel_error(output(model, "densenet121", report.preprocessing), keras_output("densenet121")) < 1e-5


def test_each_application_brings_its_preprocessing(tmp_path):
    model = zoo_model("resnet50")
    report = load_pretrained(model, write("keras3", tmp_path, "resnet50"), model_name="resnet50_keras")
    assert report.preprocessing == CAFFE_NORMALIZATION
    x = torch.tensor([[[[10.0]], [[20.0]], [[30.0]]]])  # one RGB pixel: x minus ImageNet's mean pixel
    assert torch.allclose(report.preprocessing(x).flatten(), torch.tensor([10 - 123.68, 20 - 116.779, 30 - 103.939]))
    report = load_pretrained(zoo_model("small_vgg"), write("keras3", tmp_path, "small_vgg"), model_name="small_vgg")
    assert report.preprocessing is None  # the course's models: the run's own normalisation stands


def test_an_archive_of_another_architecture_is_refused_in_one_sentence(tmp_path):
    resnet = write_archive(tmp_path / "resnet50.keras", "resnet50")
    model = create("mobilenet", alpha=0.25, num_classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(UserError, match=r"^resnet50.keras holds the Keras model 'resnet50', not mobilenet's Keras "
                                        r"form \(MobileNet\): its layer 'conv1_conv' \(Conv2D\) has no counterpart"):
        load_pretrained(model, resnet, model_name="mobilenet")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    convnet = write_archive(tmp_path / "cifar.keras", "cifar_convnet")
    with pytest.raises(UserError, match=r"^cifar.keras holds the Keras model 'sequential', not small_vgg's Keras "
                                        r"form \(the course's small_vgg\): it has 5 Conv2D, 2 Dense where small_vgg "
                                        r"has 4 Conv2D, 2 Dense$"):
        load_pretrained(zoo_model("small_vgg"), convnet, model_name="small_vgg")
    config = json.loads(CASES["resnet50"]["keras_files"]["config.json"])
    first = next(lay for lay in config["config"]["layers"] if lay["config"]["name"] == "conv2_block1_2_conv")
    first["config"]["strides"] = [2, 2]
    strided = write_archive(tmp_path / "strided.keras", "resnet50", config=config)
    with pytest.raises(UserError, match=r"its layer 'conv2_block1_2_conv' has kernel \(3, 3\) and strides \(2, 2\) "
                                        r"where resnet50_keras has \(3, 3\) and \(1, 1\)"):
        load_pretrained(zoo_model("resnet50"), strided, model_name="resnet50_keras")


def test_damaged_or_foreign_keras_files_are_refused(tmp_path):
    good = write_archive(tmp_path / "m.keras", "mobilenet")
    cut = tmp_path / "cut.keras"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(UserError, match="damaged or truncated"):
        load_pretrained(zoo_model("mobilenet"), cut, model_name="mobilenet")
    partial = tmp_path / "partial.keras"
    with zipfile.ZipFile(partial, "w") as z:
        z.writestr("config.json", "{}")
    with pytest.raises(UserError, match=r"is a zip archive but not a Keras model \(.keras\): it lacks model.weights.h5"):
        load_pretrained(zoo_model("mobilenet"), partial, model_name="mobilenet")
    for config in ([], {"config": {"layers": [1, 2]}}):
        weird = write_archive(tmp_path / "weird.keras", "mlp", config=config)
        with pytest.raises(UserError, match=r"^Keras archive .*weird.keras is damaged or truncated \(config.json "
                                            r"describes no model with layers\)"):
            load_pretrained(zoo_model("mlp"), weird, model_name="mlp")
    nested = tmp_path / "nested.weights.h5"
    import h5py
    with h5py.File(nested, "w") as f:
        f.create_group("layers/functional/layers/conv2d/vars").create_dataset("0", data=np.zeros((3, 3, 3, 8)))
    with pytest.raises(UserError, match="'layers/functional' holds a whole model"):
        load_pretrained(zoo_model("mobilenet"), nested, model_name="mobilenet")
    vgg = write("keras2", tmp_path, "vgg16_no_top")
    with pytest.raises(UserError, match=r"^layer 'block1_conv1' of vgg16_no_top.h5 is not a MobileNet layer"):
        load_pretrained(zoo_model("mobilenet"), vgg, model_name="mobilenet")
    with pytest.raises(UserError, match=r"^vgg16_bn has no Keras counterpart"):
        load_pretrained(create("vgg16_bn", input_size=32), vgg, model_name="vgg16_bn")
    extra = write_keras2(tmp_path / "extra.h5", "cifar_convnet")
    with pytest.raises(UserError, match=r"^extra.h5 has 5 Conv2D layers where the course's small_vgg has 4"):
        load_pretrained(zoo_model("small_vgg"), extra, model_name="small_vgg")
