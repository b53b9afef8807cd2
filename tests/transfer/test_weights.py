"""Published weights: Keras MobileNet HDF5 files, torchvision state dicts, classicnets safetensors.

No file is downloaded: each test writes a small file in the true format.
- Keras: an HDF5 file in the layout Keras's own writer made (tests/fixtures/keras_mobilenet.json,
  see test_mobilenet_keras.py), written here with h5py from formula weights, in Keras 3's names and
  in Keras 2's (`conv_dw_1/depthwise_kernel:0`: the published files are Keras 2's), top-level or
  nested under `model_weights` as `model.save` nests them.
- torchvision: state dicts with torchvision's own tensor names and shapes
  (tests/fixtures/torchvision_keys.json.gz, listed by torchvision 0.29.1's model code: see
  tests/fixtures/make_torchvision_fixtures.py), saved with torch.save. Placement is checked against
  an oracle that does not use the loader's renaming: torchvision and the zoo declare their layers in
  the same forward order, so the i-th tensor of one is the i-th of the other. Logits are checked
  against torchvision's own (tests/fixtures/torchvision_logits.json).
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from classicnets.data.core import Normalization
from classicnets.errors import UserError
from classicnets.train.checkpoint import save_state, save_weights
from classicnets.transfer import weights as W
from classicnets.transfer.weights import find_weights, imagenet_file, load_pretrained
from classicnets.zoo import create

FIXTURES = Path(__file__).parents[1] / "fixtures"
_spec = importlib.util.spec_from_file_location("formula", FIXTURES / "formula.py")
formula = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(formula)

KERAS = json.loads((FIXTURES / "keras_mobilenet.json").read_text())
TV_KEYS = json.loads(gzip.decompress((FIXTURES / "torchvision_keys.json.gz").read_bytes()))
TV_LOGITS = json.loads((FIXTURES / "torchvision_logits.json").read_text())["logits"]


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def unchanged(model, before) -> bool:
    return all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


# ---- Keras MobileNet HDF5 ---------------------------------------------------------------------

def write_keras_h5(path: Path, *, style: str = "keras2", nested: bool = False, include_top: bool = True,
                   classes: int | None = None, chunked: bool = False) -> dict[str, list[np.ndarray]]:
    """A MobileNet weights file (alpha 0.25) in Keras's HDF5 layout, from formula weights; returns
    {layer: weights}. style 'keras2' names weights as the published files do ('conv1/kernel:0',
    'conv_dw_1/depthwise_kernel:0'), 'keras3' as Keras 3 does ('conv1/kernel')."""
    layout = KERAS["h5_layout"]
    layers = layout["layer_names"]
    if not include_top:  # a no_top file ends where the base does
        layers = layers[: layers.index("conv_pw_13_relu") + 1]
    weights = {}
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if nested else f
        names = np.array([n.encode() for n in layers]) if style == "keras2" else layers
        if chunked:  # Keras splits attributes too large for an HDF5 header into name0, name1...
            root.attrs["layer_names0"], root.attrs["layer_names1"] = names[:40], names[40:]
        else:
            root.attrs["layer_names"] = names
        root.attrs["backend"], root.attrs["keras_version"] = "tensorflow", "2.2.4" if style == "keras2" else "3.15.1"
        for layer in layers:
            g = root.create_group(layer)
            spec = layout["weights"].get(layer, [])
            shapes = [tuple(s) for _, s in spec]
            if layer == "conv_preds" and classes is not None:
                shapes = [(*shapes[0][:3], classes), (classes,)]
            arrays = formula.keras_layer(layer, shapes) if spec else []
            names_w = [n for n, _ in spec]
            if style == "keras2":
                if layer.startswith("conv_dw_") and not layer.endswith("_bn"):
                    names_w = [n.replace("/kernel", "/depthwise_kernel") for n in names_w]
                names_w = [n + ":0" for n in names_w]
            g.attrs["weight_names"] = np.array([n.encode() for n in names_w]) if style == "keras2" else names_w
            for n, a in zip(names_w, arrays):
                g.create_dataset(n, data=a)
            if arrays:
                weights[layer] = arrays
    return weights


def expected_from_keras(model, w) -> dict[str, torch.Tensor]:
    """What each of the zoo's MobileNet tensors should hold, mapped by hand (as test_mobilenet_keras does)."""
    out = {"features.0.0.weight": w["conv1"][0].transpose(3, 2, 0, 1)}
    bn = ("weight", "bias", "running_mean", "running_var")
    out.update({f"features.0.1.{n}": a for n, a in zip(bn, w["conv1_bn"])})
    for i in range(1, 14):
        out[f"features.{i}.depthwise.0.weight"] = w[f"conv_dw_{i}"][0].transpose(2, 3, 0, 1)
        out[f"features.{i}.pointwise.0.weight"] = w[f"conv_pw_{i}"][0].transpose(3, 2, 0, 1)
        for part, layer in (("depthwise", f"conv_dw_{i}_bn"), ("pointwise", f"conv_pw_{i}_bn")):
            out.update({f"features.{i}.{part}.1.{n}": a for n, a in zip(bn, w[layer])})
    if "conv_preds" in w:
        out["head.3.weight"], out["head.3.bias"] = w["conv_preds"][0][0, 0].T, w["conv_preds"][1]
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}


def mobilenet(**kwargs):
    return create("mobilenet", alpha=0.25, **{"num_classes": 10, **kwargs}).eval()


@pytest.mark.parametrize("style,nested,chunked", [("keras2", False, False), ("keras3", False, False),
                                                  ("keras2", True, False), ("keras2", False, True)])
def test_keras_mobilenet_file_loads_every_tensor_where_it_belongs(tmp_path, style, nested, chunked):
    path = tmp_path / "mobilenet_2_5_224_tf.h5"
    w = write_keras_h5(path, style=style, nested=nested, chunked=chunked, classes=10)
    model = mobilenet()
    report = load_pretrained(model, path, model_name="mobilenet")
    expected = expected_from_keras(model, w)
    state = model.state_dict()
    assert sorted(report.loaded) == sorted(expected)
    assert all(torch.equal(state[k], v) for k, v in expected.items())
    assert report.skipped == [] and report.missing == [] and report.format == "keras"
    assert report.preprocessing == Normalization(255.0, [0.5] * 3, [0.5] * 3)  # x / 127.5 - 1


def test_keras_file_gives_keras_outputs(tmp_path):
    path = tmp_path / "w.h5"
    write_keras_h5(path, classes=10)
    model = mobilenet()
    report = load_pretrained(model, path, model_name="mobilenet")
    case = KERAS["cases"][0]  # 64x64, with top: Keras's logits
    images = (formula.keras_inputs(64) + 1) / 2 * 255  # back to pixels; the report's preprocessing undoes it
    x = report.preprocessing(torch.from_numpy(images).permute(0, 3, 1, 2))
    with torch.no_grad():
        out = model(x).numpy().ravel()
    keras = np.array(case["output"])
    assert np.abs(out - keras).max() / np.abs(keras).max() < 1e-5


def test_keras_file_without_top_leaves_a_new_head_initialised(tmp_path):
    path = tmp_path / "mobilenet_2_5_224_tf_no_top.h5"
    write_keras_h5(path, include_top=False)
    model = mobilenet(num_classes=3)
    head = model.head[3].weight.clone()
    report = load_pretrained(model, path, model_name="mobilenet")
    assert report.missing == ["head.3.weight", "head.3.bias"] and report.skipped == []
    assert torch.equal(model.head[3].weight, head)
    assert len(report.loaded) == 27 + 27 * 4  # 27 convolution kernels, 27 BatchNorms of 4 tensors
    with pytest.raises(UserError, match="head tensor 'head.3.weight' cannot be loaded"):
        load_pretrained(mobilenet(num_classes=3), path, model_name="mobilenet", strict_head=True)


def test_keras_file_with_top_into_a_base_without_one(tmp_path):
    path = tmp_path / "w.h5"
    write_keras_h5(path, classes=10)
    report = load_pretrained(mobilenet(include_top=False), path, model_name="mobilenet")
    assert [k for k, _ in report.skipped] == ["conv_preds/bias:0", "conv_preds/kernel:0"]
    assert report.missing == []


def test_keras_head_of_another_size_is_reported_and_keeps_its_initialisation(tmp_path):
    path = tmp_path / "w.h5"
    write_keras_h5(path, classes=10)
    model = mobilenet(num_classes=4)
    head = model.head[3].weight.clone()
    report = load_pretrained(model, path, model_name="mobilenet")
    assert report.skipped == [("conv_preds/bias:0", "shape (10) in the file, (4) in the model"),
                              ("conv_preds/kernel:0", "shape (10, 256) in the file, (4, 256) in the model")]
    assert report.missing == ["head.3.weight", "head.3.bias"]
    assert torch.equal(model.head[3].weight, head)
    fresh = mobilenet(num_classes=4)
    before = snapshot(fresh)
    with pytest.raises(UserError, match="head tensor 'head.3.weight' cannot be loaded .*shape"):
        load_pretrained(fresh, path, model_name="mobilenet", strict_head=True)
    assert unchanged(fresh, before)


def test_keras_file_of_another_width_names_the_first_tensor_and_loads_nothing(tmp_path):
    path = tmp_path / "w.h5"
    write_keras_h5(path, classes=10)
    model = create("mobilenet", alpha=0.5, num_classes=10)
    before = snapshot(model)
    with pytest.raises(UserError, match=r"^tensor 'conv1/kernel:0' \(the model's 'features.0.0.weight'\) of w.h5 "
                                        r"has shape \(8, 3, 3, 3\) where mobilenet has \(16, 3, 3, 3\)"):
        load_pretrained(model, path, model_name="mobilenet")
    assert unchanged(model, before)


def test_truncated_or_foreign_keras_files_are_refused(tmp_path):
    path = tmp_path / "w.h5"
    write_keras_h5(path, classes=10)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UserError, match="damaged or truncated"):
        load_pretrained(mobilenet(), cut, model_name="mobilenet")
    vgg = tmp_path / "vgg16.h5"
    with h5py.File(vgg, "w") as f:
        f.attrs["layer_names"] = np.array([b"input_1", b"block1_conv1"])
        f.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        g = f.create_group("block1_conv1")
        g.attrs["weight_names"] = np.array([b"block1_conv1/kernel:0"])
        g.create_dataset("block1_conv1/kernel:0", data=np.zeros((3, 3, 3, 64), np.float32))
    with pytest.raises(UserError, match="layer 'block1_conv1' of vgg16.h5 is not a MobileNet layer"):
        load_pretrained(mobilenet(), vgg, model_name="mobilenet")
    keras3 = tmp_path / "model.weights.h5"  # Keras 3's layout, but a BatchNormalization with one array
    with h5py.File(keras3, "w") as f:
        f.create_group("layers/batch_normalization/vars").create_dataset("0", data=np.ones(8, np.float32))
    with pytest.raises(UserError, match=r"^layer 'layers/batch_normalization' of model.weights.h5 holds 1 array "
                                        r"where a BatchNormalization layer has 4"):
        load_pretrained(mobilenet(), keras3, model_name="mobilenet")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(UserError, match="an HDF5 file but not Keras weights"):
        load_pretrained(mobilenet(), other, model_name="mobilenet")
    with pytest.raises(UserError, match=r"^resnet18 has no Keras counterpart .*resnet50_keras"):
        load_pretrained(create("resnet18"), path, model_name="resnet18")


# ---- torchvision state dicts ------------------------------------------------------------------

FINAL = {"alexnet": ("classifier.6.",), "vgg": ("classifier.6.",), "resnet": ("fc.",), "densenet": ("classifier.",),
         "googlenet": ("fc.", "aux1.fc2.", "aux2.fc2.")}  # torchvision's layers with one output per class


def tv_shapes(name: str, num_classes: int = 1000) -> dict[str, list[int]]:
    final = next(v for k, v in FINAL.items() if name.startswith(k))
    return {k: ([num_classes, *s[1:]] if k.startswith(final) else s) for k, s in TV_KEYS[name]}


def build(name: str, **kwargs):
    """The zoo's model with uninitialised memory: allocating VGG's 140M weights is quick, drawing them is not."""
    with torch.device("meta"):
        model = create(name, **kwargs)
    return model.to_empty(device="cpu").eval()


@pytest.mark.parametrize("name", list(TV_KEYS))
def test_torchvision_names_map_onto_the_zoo_in_the_same_forward_order(name, tmp_path):
    """Each tensor of torchvision's file gets a distinct value (a 1-element storage, expanded: the file
    stays small), and must land in the zoo's tensor at the same position of the state dict."""
    shapes = TV_KEYS[name]
    state = {k: torch.tensor(float(i + 1) if not k.endswith("num_batches_tracked") else i + 1).expand(s)
             for i, (k, s) in enumerate(shapes)}
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    model = build(name, **({"aux_logits": True} if name == "googlenet" else {}))
    report = load_pretrained(model, path, model_name=name)
    zoo = model.state_dict()
    assert len(zoo) == len(shapes)
    for (tv_key, tv_shape), (zoo_key, value) in zip(shapes, zoo.items()):
        assert list(value.shape) == tv_shape, (tv_key, zoo_key)
        assert torch.all(value == state[tv_key]), (tv_key, zoo_key)
    assert report.skipped == [] and report.missing == [] and report.format == "torchvision"
    assert len(report.loaded) == sum(not k.endswith("num_batches_tracked") for k in zoo)


@pytest.mark.parametrize("name", list(TV_LOGITS))
def test_torchvision_weights_give_torchvision_logits(name, tmp_path):
    """Weights from the formula, under torchvision's names, give the logits torchvision's own model
    computed from them, through the report's preprocessing (GoogLeNet: torchvision's
    transform_input folded into mean 0.5, std 0.5); and the same as the zoo model given them directly."""
    shapes = tv_shapes(name, 10)
    state = formula.torchvision_state(shapes)
    path = tmp_path / "w.pth"
    torch.save(state, path)
    model = create(name, num_classes=10).eval()
    report = load_pretrained(model, path, model_name=name)
    x = report.preprocessing(torch.from_numpy(formula.torchvision_images()) * 255)
    with torch.no_grad():
        out = model(x).flatten()
    ref = torch.tensor(TV_LOGITS[name])
    assert (out - ref).abs().max() / ref.abs().max() < 1e-5
    direct = create(name, num_classes=10, **({"aux_logits": True} if name == "googlenet" else {})).eval()
    direct.load_state_dict(dict(zip(direct.state_dict(), state.values())))  # by position, no renaming
    with torch.no_grad():
        assert torch.equal(direct(x).flatten(), out)
    mean = [0.5] * 3 if name == "googlenet" else [0.485, 0.456, 0.406]
    assert report.preprocessing.mean == mean and report.preprocessing.max_value == 255


def test_densenet_checkpoints_with_old_names_load_as_torchvision_fixes_them(tmp_path):
    shapes = tv_shapes("densenet121")
    state = formula.torchvision_state(shapes)
    # before torchvision 0.3: 'norm.1', 'conv.2'..., and (before PyTorch 0.4.1) no num_batches_tracked
    old = {re.sub(r"(denselayer\d+\.)(norm|conv)([12])\.", r"\1\2.\3.", k): v for k, v in state.items()
           if not k.endswith("num_batches_tracked")}
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    torch.save(old, tmp_path / "old.pth")
    torch.save(state, tmp_path / "new.pth")
    a, b = build("densenet121"), build("densenet121")
    load_pretrained(a, tmp_path / "old.pth", model_name="densenet121")
    load_pretrained(b, tmp_path / "new.pth", model_name="densenet121")
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items()
               if not k.endswith("num_batches_tracked"))


def test_torchvision_head_of_another_size_keeps_its_initialisation(tmp_path):
    torch.save(formula.torchvision_state(tv_shapes("resnet18")), tmp_path / "r.pth")
    model = create("resnet18", num_classes=5)
    head = model.head[2].weight.clone()
    report = load_pretrained(model, tmp_path / "r.pth", model_name="resnet18")
    assert report.skipped == [("fc.bias", "shape (1000) in the file, (5) in the model"),
                              ("fc.weight", "shape (1000, 512) in the file, (5, 512) in the model")]
    assert report.missing == ["head.2.weight", "head.2.bias"]
    assert torch.equal(model.head[2].weight, head) and len(report.loaded) == 100
    assert "fc.weight" in report.summary() and "head.2.weight" in report.summary()


def test_googlenet_auxiliary_classifiers_load_only_where_the_model_has_them(tmp_path):
    torch.save(formula.torchvision_state(tv_shapes("googlenet")), tmp_path / "g.pth")
    report = load_pretrained(build("googlenet"), tmp_path / "g.pth", model_name="googlenet")
    assert {k.split(".")[0] for k, _ in report.skipped} == {"aux1", "aux2"}
    assert all(why == "the model has no auxiliary classifiers" for _, why in report.skipped)
    report = load_pretrained(build("googlenet", aux_logits=True), tmp_path / "g.pth", model_name="googlenet")
    assert report.skipped == [] and any(k.startswith("aux1.") for k in report.loaded)


def test_another_architecture_is_refused_naming_the_first_tensor_and_loads_nothing(tmp_path):
    torch.save(formula.torchvision_state(tv_shapes("resnet34")), tmp_path / "r34.pth")
    model = create("resnet18")
    before = snapshot(model)
    with pytest.raises(UserError, match=r"^tensor 'layer1.2.conv1.weight' of r34.pth has no place in resnet18"):
        load_pretrained(model, tmp_path / "r34.pth", model_name="resnet18")
    assert unchanged(model, before)
    torch.save(formula.torchvision_state(tv_shapes("resnet50")), tmp_path / "r50.pth")
    with pytest.raises(UserError, match=r"^tensor 'layer1.0.conv1.weight' \(the model's 'conv2.0.conv1.weight'\) "
                                        r"of r50.pth has shape \(64, 64, 1, 1\) where resnet18 has \(64, 64, 3, 3\)"):
        load_pretrained(model, tmp_path / "r50.pth", model_name="resnet18")
    state = formula.torchvision_state(tv_shapes("resnet18"))
    del state["layer4.1.bn2.running_var"]
    torch.save(state, tmp_path / "short.pth")
    with pytest.raises(UserError, match=r"^short.pth has no tensor for the model's 'conv5.1.bn2.running_var'"):
        load_pretrained(model, tmp_path / "short.pth", model_name="resnet18")
    assert unchanged(model, before)


def test_damaged_and_unsafe_pth_files_are_refused_without_unpickling(tmp_path):
    torch.save(formula.torchvision_state(tv_shapes("resnet18")), tmp_path / "r.pth")
    data = (tmp_path / "r.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="damaged or truncated"):
        load_pretrained(create("resnet18"), tmp_path / "cut.pth", model_name="resnet18")
    marker = tmp_path / "ran"
    torch.save({"fc.weight": Exploit(str(marker))}, tmp_path / "evil.pth")
    with pytest.raises(UserError, match="never unpickles"):
        load_pretrained(create("resnet18"), tmp_path / "evil.pth", model_name="resnet18")
    assert not marker.exists()
    nan = formula.torchvision_state(tv_shapes("resnet18"))
    nan["layer2.0.bn1.weight"][3] = float("nan")
    torch.save(nan, tmp_path / "nan.pth")
    with pytest.raises(UserError, match="'layer2.0.bn1.weight' .* holds NaN"):
        load_pretrained(create("resnet18"), tmp_path / "nan.pth", model_name="resnet18")
    (tmp_path / "notes.txt").write_text("not weights")
    with pytest.raises(UserError, match="not a weights file this tool reads"):
        load_pretrained(create("resnet18"), tmp_path / "notes.txt", model_name="resnet18")


class Exploit:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@pytest.mark.parametrize("zipped", [True, False])  # torch.save's format since 1.6, and the one before
def test_a_pth_in_the_zoos_own_names_loads_as_it_is(tmp_path, zipped):
    source = create("resnet18", seed=1, num_classes=10)
    torch.save({f"module.{k}": v for k, v in source.state_dict().items()}, tmp_path / "dp.pth",  # DataParallel
               _use_new_zipfile_serialization=zipped)
    model = create("resnet18", num_classes=10)
    report = load_pretrained(model, tmp_path / "dp.pth", model_name="resnet18")
    assert report.format == "pytorch" and report.preprocessing is None
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in model.state_dict().items())


# ---- classicnets safetensors ------------------------------------------------------------------

def test_a_classicnets_run_brings_its_weights_and_normalisation(tmp_path):
    from classicnets.record import ModelCard, write_card
    source = create("lenet", seed=2, num_classes=10)
    save_weights(tmp_path / "model.safetensors", source)
    norm = Normalization(255.0, [0.1], [0.3])
    write_card(tmp_path, ModelCard("lenet", {"num_classes": 10}, [1, 28, 28], [str(i) for i in range(10)],
                                   norm.to_dict(), "digits"))
    model = create("lenet", num_classes=10)
    report = load_pretrained(model, tmp_path, model_name="lenet")  # the run directory
    assert report.format == "safetensors" and report.preprocessing == norm
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in model.state_dict().items())
    five = create("lenet", num_classes=5)
    report = load_pretrained(five, tmp_path / "model.safetensors", model_name="lenet")
    assert report.missing and all(k.split(".")[0] == report.missing[0].split(".")[0] for k in report.missing)


def test_a_training_checkpoint_is_not_a_weights_file(tmp_path):
    save_state(tmp_path / "checkpoint.safetensors", {"model": create("lenet").state_dict(), "epoch": 3})
    with pytest.raises(UserError, match="training checkpoint"):
        load_pretrained(create("lenet"), tmp_path / "checkpoint.safetensors", model_name="lenet")
    with pytest.raises(UserError, match="not a finished classicnets run"):
        load_pretrained(create("lenet"), tmp_path, model_name="lenet")


# ---- finding and downloading ------------------------------------------------------------------

def test_imagenet_file_names():
    assert imagenet_file("resnet18").name == "resnet18-f37072fd.pth"
    assert imagenet_file("resnet18").sha256_prefix == "f37072fd"
    assert imagenet_file("resnet18").url == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert imagenet_file("mobilenet").name == "mobilenet_1_0_224_tf.h5"
    assert imagenet_file("mobilenet", {"alpha": 0.25, "include_top": False}, 160).name == "mobilenet_2_5_160_tf_no_top.h5"
    assert imagenet_file("mobilenet", {"alpha": 0.5}, 100).name == "mobilenet_5_0_224_tf.h5"  # as Keras: 224
    assert imagenet_file("mobilenet", {}, (3, 192, 192)).name == "mobilenet_1_0_192_tf.h5"
    assert imagenet_file("mobilenet", {}, (3, 192, 160)).name == "mobilenet_1_0_224_tf.h5"
    assert imagenet_file("mobilenet").url.startswith("https://storage.googleapis.com/tensorflow/keras-applications/")
    with pytest.raises(UserError, match="alpha 1.0, 0.75, 0.5 and 0.25 only"):
        imagenet_file("mobilenet", {"alpha": 0.3})
    with pytest.raises(UserError, match="no published ImageNet weights for 'lenet'"):
        imagenet_file("lenet")


def test_find_weights_takes_a_path_or_a_name_in_the_weights_folder(tmp_path, monkeypatch):
    f = tmp_path / "mine.pth"
    f.write_bytes(b"x")
    assert find_weights(f) == f and find_weights(tmp_path) == tmp_path
    monkeypatch.setenv("CLASSICNETS_WEIGHTS", str(tmp_path))
    assert find_weights("mine.pth") == tmp_path / "mine.pth"
    with pytest.raises(UserError, match=r"weights 'other.pth' not found.*CLASSICNETS_WEIGHTS"):
        find_weights("other.pth")
    monkeypatch.delenv("CLASSICNETS_WEIGHTS")
    with pytest.raises(UserError, match="CLASSICNETS_WEIGHTS names no folder"):
        find_weights("mine.pth")


def fake_published(monkeypatch, content: bytes, good: bool = True) -> str:
    """Point resnet18's entry at a file name carrying the first 8 hex digits of `content`'s SHA-256
    (or of something else's), as torchvision's names do."""
    digest = hashlib.sha256(content if good else b"other").hexdigest()
    name = f"resnet18-{digest[:8]}.pth"
    monkeypatch.setitem(W.TORCHVISION_FILES, "resnet18", name)
    return name


def test_imagenet_weights_offline_say_which_file_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    monkeypatch.delenv("CLASSICNETS_WEIGHTS", raising=False)
    with pytest.raises(UserError, match=r"^the ImageNet weights resnet18-f37072fd.pth are not here and "
                                        r"CLASSICNETS_OFFLINE is set; download them from "
                                        r"https://download.pytorch.org/models/resnet18-f37072fd.pth and put them "
                                        r"in a folder named by \$CLASSICNETS_WEIGHTS$"):
        find_weights("imagenet", model_name="resnet18")
    with pytest.raises(UserError, match="needs the model's name"):
        find_weights("imagenet")


def test_imagenet_weights_in_the_weights_folder_are_checked_against_their_name(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    monkeypatch.setenv("CLASSICNETS_WEIGHTS", str(tmp_path))
    content = b"pretend weights"
    name = fake_published(monkeypatch, content)
    (tmp_path / name).write_bytes(content)
    assert find_weights("imagenet", model_name="resnet18") == tmp_path / name
    (tmp_path / name).write_bytes(b"damaged")
    with pytest.raises(UserError, match=f"is not the published {name}: its SHA-256"):
        find_weights("imagenet", model_name="resnet18")


def test_imagenet_weights_are_downloaded_into_the_cache_and_checked(server, monkeypatch):
    root, url = server
    monkeypatch.setenv("CLASSICNETS_MIRROR", url)
    monkeypatch.delenv("CLASSICNETS_WEIGHTS", raising=False)
    content = b"pretend weights"
    name = fake_published(monkeypatch, content)
    (root / name).write_bytes(content)
    path = find_weights("imagenet", model_name="resnet18")
    assert path.read_bytes() == content and path.parent.name == "weights"
    assert find_weights("imagenet", model_name="resnet18") == path  # from the cache now
    bad = fake_published(monkeypatch, content, good=False)
    (root / bad).write_bytes(content)
    with pytest.raises(UserError, match=f"the download of {bad} .* does not match its published checksum"):
        find_weights("imagenet", model_name="resnet18")
    assert not (path.parent / bad).exists()
    missing = fake_published(monkeypatch, b"never served")
    with pytest.raises(UserError, match=f"cannot download the ImageNet weights {missing} .*HTTP 404"):
        find_weights("imagenet", model_name="resnet18")
