"""Keras's weight files read into the zoo's models that have a Keras counterpart.

The counterparts: Keras's applications MobileNet (`mobilenet`), VGG16 and VGG19 (`vgg16`, `vgg19`),
ResNet50/101/152 (`resnet50_keras`...: Keras's ResNet is another form than torchvision's, see
zoo/resnet.py), DenseNet121/169/201 (`densenet121`...), from keras/src/applications/*.py; and the
course's own Keras models (zoo/course.py: `mlp`, `small_vgg`, `cifar_convnet`, `cifar_convnet_gmp`,
`cifar_dropout_convnet`, `resnet_mini`), whose layer names Keras generates (`conv2d_3`), so their
layers are matched by position, class by class.

Three layouts, all HDF5 underneath (the format is told by content, never by the file's name):
- Keras 2 (`save_weights('x.h5')`, `model.save('x.h5')`, which nests them under `model_weights`,
  and the published application weights): the attribute `layer_names` lists the layers in
  `model.layers` order; each layer's group lists its `weight_names` in its variables' order.
- Keras 3 `save_weights('x.weights.h5')`: a group `layers/<class in snake case>[_N]` per layer,
  numbered per class in `model.layers` order (`layers/conv2d`, `layers/conv2d_1`...), holding
  `vars/0`, `vars/1`... in the layer's variables' order; recent Keras 3 writes the layer's name as
  the attribute `name` of `vars`.
- Keras 3 `.keras` archives: a zip of `config.json` (the architecture, checked against the zoo model
  before anything loads), `metadata.json` and `model.weights.h5` (the layout above).

A layer's variables come in Keras's order (Keras itself loads by order, not by name): Conv2D and
DepthwiseConv2D (kernel, bias), Dense (kernel, bias), BatchNormalization (gamma, beta, moving mean,
moving variance). Kernels are turned into PyTorch's layouts: Conv2D (kh, kw, in, out) -> (out, in,
kh, kw); DepthwiseConv2D (kh, kw, in, 1) -> (in, 1, kh, kw); Dense (in, out) -> (out, in); a Dense
layer after Flatten of a (H, W, C) map has its rows reordered to PyTorch's (C, H, W) flattening; a
1x1 Conv2D classifier (MobileNet's `conv_preds`) becomes the zoo's Linear.

Each application's inputs as its `preprocess_input` prepares them, as a `Normalization` on pixels
in [0, 255]: MobileNet x / 127.5 - 1; DenseNet ImageNet's mean and std on x / 255; VGG and ResNet
("caffe": BGR channel order, ImageNet's mean subtracted, no scaling) x - mean with the first
convolution's input channels reversed on loading, so the zoo's model takes RGB as every other does.
Keras's DenseNets use BatchNorm epsilon 1.001e-5 where the zoo's (torchvision's form) uses 1e-5:
the difference is added to the moving variance, which computes the same.
"""
from __future__ import annotations

import itertools
import json
import math
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.core import Normalization
from ..errors import UserError

HALF_NORMALIZATION = Normalization(255.0, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5])  # x / 127.5 - 1 ("tf")
IMAGENET_NORMALIZATION = Normalization(255.0, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])  # "torch"
# "caffe": x - [123.68, 116.779, 103.939] per RGB channel (Keras subtracts it after flipping to BGR)
CAFFE_NORMALIZATION = Normalization(255.0, [123.68 / 255, 116.779 / 255, 103.939 / 255], [1 / 255] * 3)

WEIGHTED = ("Conv2D", "DepthwiseConv2D", "Dense", "BatchNormalization")
ROLES = {"Conv2D": ("weight", "bias"), "DepthwiseConv2D": ("weight", "bias"), "Dense": ("weight", "bias"),
         "BatchNormalization": ("weight", "bias", "running_mean", "running_var")}  # Keras's variable order
COURSE = ("mlp", "small_vgg", "cifar_convnet", "cifar_convnet_gmp", "cifar_dropout_convnet", "resnet_mini")
MAX_ARCHIVE_MEMBER = 8 << 30  # a .keras member larger than this (8 GiB) is no model of this zoo


def snake(class_name: str) -> str:
    """Keras's `naming.to_snake_case`: Conv2D -> conv2d, BatchNormalization -> batch_normalization."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ---------------------------------------------------------------------------------------------
# Plans: a zoo model's Keras counterpart, layer by layer.

@dataclass(frozen=True)
class KerasLayer:
    name: str | None            # Keras's layer name; None where Keras generates it (the course's models)
    cls: str                    # Conv2D, DepthwiseConv2D, Dense or BatchNormalization
    module: str                 # the zoo module holding its weights
    flatten: tuple[int, int, int] | None = None  # Dense after Flatten of this (C, H, W) map
    conv_as_dense: bool = False  # a 1x1 Conv2D classifier that is the zoo's Linear
    bgr: bool = False           # the first convolution of a "caffe" model: input channels reversed
    eps_extra: float = 0.0      # Keras's BatchNorm epsilon minus the zoo's, added to the moving variance


@dataclass
class KerasPlan:
    family: str                 # as Keras names it: "MobileNet", "VGG16", "ResNet50", "the course's cifar_convnet"
    layers: list[KerasLayer]    # in Keras's `model.layers` order (that of its weight files)
    preprocessing: Normalization | None
    by_name: dict[str, KerasLayer] = field(init=False)

    def __post_init__(self):
        self.by_name = {layer.name: layer for layer in self.layers if layer.name}

    @property
    def named(self) -> bool:
        return bool(self.by_name)


def keras_plan(model: nn.Module, model_name: str, input_shape: tuple[int, ...] | None = None) -> KerasPlan:
    """The Keras counterpart of `model` (built as the zoo's `model_name`), or `UserError` if it has none."""
    from ..zoo import model_info
    family = model_info(model_name).family
    if model_name.startswith("mobilenet"):
        return KerasPlan("MobileNet", _mobilenet(model), HALF_NORMALIZATION)
    if family == "vgg" and not model_name.endswith("_bn"):
        return KerasPlan(model_name.upper(), _vgg(model, input_shape, model_name), CAFFE_NORMALIZATION)
    if family == "resnet" and model_name.endswith("_keras"):
        return KerasPlan(model_name.removesuffix("_keras").replace("resnet", "ResNet"), _resnet(model),
                         CAFFE_NORMALIZATION)
    if model_name in ("densenet121", "densenet169", "densenet201"):
        return KerasPlan(model_name.replace("densenet", "DenseNet"), _densenet(model), IMAGENET_NORMALIZATION)
    if model_name in COURSE:
        layers = _resnet_mini(model) if model_name == "resnet_mini" else _in_order(model, input_shape, model_name)
        return KerasPlan(f"the course's {model_name}", layers, None)
    hint = "; Keras's ResNet50 is the zoo's resnet50_keras" if model_name.startswith("resnet") else ""
    raise UserError(f"{model_name} has no Keras counterpart whose weight files this tool reads (those are "
                    f"mobilenet, vgg16, vgg19, resnet50_keras, resnet101_keras, resnet152_keras, densenet121, "
                    f"densenet169, densenet201 and the course's {', '.join(COURSE)}){hint}")


def _mobilenet(model: nn.Module) -> list[KerasLayer]:
    """keras/src/applications/mobilenet.py: conv1, conv1_bn, conv_dw_N(_bn), conv_pw_N(_bn), conv_preds."""
    out = [KerasLayer("conv1", "Conv2D", "features.0.0"), KerasLayer("conv1_bn", "BatchNormalization", "features.0.1")]
    for i in range(1, len(model.features)):
        for kind, cls in (("dw", "DepthwiseConv2D"), ("pw", "Conv2D")):
            part = "depthwise" if kind == "dw" else "pointwise"
            out += [KerasLayer(f"conv_{kind}_{i}", cls, f"features.{i}.{part}.0"),
                    KerasLayer(f"conv_{kind}_{i}_bn", "BatchNormalization", f"features.{i}.{part}.1")]
    return out + [KerasLayer("conv_preds", "Conv2D", "head.3", conv_as_dense=True)]


def _vgg(model: nn.Module, input_shape, model_name: str) -> list[KerasLayer]:
    """keras/src/applications/vgg16.py, vgg19.py: blockB_convI, then fc1, fc2, predictions after Flatten."""
    out, block, i, first = [], 1, 1, True
    for k, m in enumerate(model.features):
        if isinstance(m, nn.MaxPool2d):
            block, i = block + 1, 1
        elif isinstance(m, nn.Conv2d):
            out.append(KerasLayer(f"block{block}_conv{i}", "Conv2D", f"features.{k}", bgr=first))
            i, first = i + 1, False
    flat = _flatten_shapes(model, input_shape, model_name).get("classifier.1")
    return out + [KerasLayer("fc1", "Dense", "classifier.1", flatten=flat), KerasLayer("fc2", "Dense", "classifier.4"),
                  KerasLayer("predictions", "Dense", "classifier.7")]


def _resnet(model: nn.Module) -> list[KerasLayer]:
    """keras/src/applications/resnet.py (v1): conv1_conv, conv1_bn; convS_blockJ_{1,2,0,3}_conv and _bn in
    Keras's `model.layers` order (the shortcut's 0_conv between the 2nd and 3rd, its 0_bn after 3_conv)."""
    out = [KerasLayer("conv1_conv", "Conv2D", "stem.0", bgr=True), KerasLayer("conv1_bn", "BatchNormalization", "stem.1")]
    for s in range(2, 6):
        for j, unit in enumerate(getattr(model, f"conv{s}")):
            p, u = f"conv{s}.{j}", f"conv{s}_block{j + 1}"
            conv = {n: KerasLayer(f"{u}_{n}_conv", "Conv2D", f"{p}.conv{n}") for n in (1, 2, 3)}
            bn = {n: KerasLayer(f"{u}_{n}_bn", "BatchNormalization", f"{p}.bn{n}") for n in (1, 2, 3)}
            if isinstance(unit.shortcut, nn.Sequential):
                conv[0] = KerasLayer(f"{u}_0_conv", "Conv2D", f"{p}.shortcut.0")
                bn[0] = KerasLayer(f"{u}_0_bn", "BatchNormalization", f"{p}.shortcut.1")
                out += [conv[1], bn[1], conv[2], bn[2], conv[0], conv[3], bn[0], bn[3]]
            else:
                out += [conv[1], bn[1], conv[2], bn[2], conv[3], bn[3]]
    return out + [KerasLayer("predictions", "Dense", "head.2")]


def _densenet(model: nn.Module) -> list[KerasLayer]:
    """keras/src/applications/densenet.py: conv1_conv, conv1_bn; convB_blockJ_0_bn, _1_conv, _1_bn, _2_conv;
    transitions poolB_bn, poolB_conv; bn, predictions (Keras 2 wrote conv1/conv, conv1/bn)."""
    eps = 1.001e-5 - 1e-5
    out = [KerasLayer("conv1_conv", "Conv2D", "stem.0"),
           KerasLayer("conv1_bn", "BatchNormalization", "stem.1", eps_extra=eps)]
    for k, stage in enumerate(model.features):
        b = k // 2 + 2
        if k % 2 == 0:  # a dense block: BN-ReLU-1x1 conv-BN-ReLU-3x3 conv per layer
            for j in range(len(stage)):
                p, u = f"features.{k}.{j}.layers", f"conv{b}_block{j + 1}"
                out += [KerasLayer(f"{u}_0_bn", "BatchNormalization", f"{p}.0", eps_extra=eps),
                        KerasLayer(f"{u}_1_conv", "Conv2D", f"{p}.2"),
                        KerasLayer(f"{u}_1_bn", "BatchNormalization", f"{p}.3", eps_extra=eps),
                        KerasLayer(f"{u}_2_conv", "Conv2D", f"{p}.5")]
        else:  # a transition
            out += [KerasLayer(f"pool{b}_bn", "BatchNormalization", f"features.{k}.0", eps_extra=eps),
                    KerasLayer(f"pool{b}_conv", "Conv2D", f"features.{k}.2")]
    return out + [KerasLayer("bn", "BatchNormalization", "head.0", eps_extra=eps),
                  KerasLayer("predictions", "Dense", "head.4")]


_CLASS = {nn.Conv2d: "Conv2D", nn.Linear: "Dense", nn.BatchNorm2d: "BatchNormalization"}


def _in_order(model: nn.Module, input_shape, model_name: str) -> list[KerasLayer]:
    """A stack written as a Keras Sequential: its layers with weights in forward order, unnamed."""
    flat = _flatten_shapes(model, input_shape, model_name)
    return [KerasLayer(None, _CLASS[type(m)], n, flatten=flat.get(n)) for n, m in model.named_modules()
            if type(m) in _CLASS]


def _resnet_mini(model: nn.Module) -> list[KerasLayer]:
    """The course's MiniModel: in Keras's `model.layers` order a pooling unit's shortcut convolution comes
    after its second BatchNorm (BN, conv, BN, shortcut conv, conv), checked against Keras in the tests."""
    out = []
    for n, m in model.named_children():
        if hasattr(m, "body"):  # a MiniUnit: body = BN, ReLU, conv, BN, ReLU, conv
            body = [KerasLayer(None, c, f"{n}.body.{i}") for i, c in
                    ((0, "BatchNormalization"), (2, "Conv2D"), (3, "BatchNormalization"), (5, "Conv2D"))]
            short = [KerasLayer(None, "Conv2D", f"{n}.shortcut")] if isinstance(m.shortcut, nn.Conv2d) else []
            out += body[:3] + short + body[3:]
        elif type(m) in _CLASS:
            out.append(KerasLayer(None, _CLASS[type(m)], n))
    return out


def _flatten_shapes(model: nn.Module, input_shape, model_name: str) -> dict[str, tuple[int, int, int]]:
    """{name of a Linear fed by Flatten of a (C, H, W) map with H * W > 1: that shape}. Found by running a
    copy of the model on the meta device at `input_shape` (else the zoo's usual one for `model_name`) with
    hooks; where the model was built for another size, H = W = sqrt(in_features / C)."""
    import copy

    from ..zoo import model_info
    seen: list[tuple[str, tuple[int, ...]]] = []
    with torch.device("meta"):
        probe = copy.deepcopy(model).to("meta").eval()
    for name, m in probe.named_modules():
        if isinstance(m, (nn.Flatten, nn.Linear, nn.Conv2d)):
            m.register_forward_pre_hook(lambda mod, args, name=name: seen.append((name, tuple(args[0].shape))))
    shape = tuple(input_shape) if input_shape else tuple(model_info(model_name).input_shape)
    try:
        with torch.no_grad():
            probe(torch.zeros(1, *shape, device="meta"))
    except (RuntimeError, ValueError, TypeError):
        pass  # built for another input size: the shapes seen up to the first Linear still tell C
    linears = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    out: dict[str, tuple[int, int, int]] = {}
    for (prev, prev_shape), (name, _) in itertools.pairwise(seen):
        if name not in linears or not isinstance(probe.get_submodule(prev), nn.Flatten) or len(prev_shape) != 4:
            continue
        c, h, w = prev_shape[1:]
        n = linears[name].in_features
        if c * h * w != n:
            side = math.isqrt(n // c) if n % c == 0 else 0
            if side * side * c != n:
                raise UserError(f"{model_name} was built for another input than {shape}, and the one it was "
                                f"built for is needed to reorder Keras's flattened (H, W, C) weights; give it")
            h = w = side
        if h * w > 1:
            out[name] = (c, h, w)
    return out


# ---------------------------------------------------------------------------------------------
# Reading the three layouts into layers.

@dataclass
class FileLayer:
    name: str | None            # the layer's name in the file; None in a Keras 3 file that does not say
    cls: str | None             # Keras's class, from a Keras 3 group's name; None in Keras 2 files
    arrays: list[np.ndarray]    # the layer's variables, in Keras's order
    labels: list[str]           # each one's name in the file, for messages
    where: str = ""             # the layer's name, or its group in a Keras 3 file, for messages


_CLASSES = {snake(c): c for c in WEIGHTED}


def _h5_names(group, attr: str) -> list[str]:
    """A Keras 2 string-list attribute, which Keras splits into attr0, attr1... when it is large."""
    values = list(group.attrs[attr]) if attr in group.attrs else [
        v for i in range(100_000) if f"{attr}{i}" in group.attrs for v in group.attrs[f"{attr}{i}"]]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _keras2(root) -> list[FileLayer]:
    out = []
    for layer in _h5_names(root, "layer_names"):
        weights = _h5_names(root[layer], "weight_names") if layer in root else []
        if weights:
            out.append(FileLayer(layer, None, [np.asarray(root[layer][w]) for w in weights], weights, layer))
    return out


def _keras3(root, path: Path, names: list[tuple[str, str]] | None = None) -> list[FileLayer]:
    """Layers of a Keras 3 weights file; `names` ((class, name) of every layer in `model.layers` order,
    from an archive's config) names them where the file does not."""
    counters: dict[str, list[str]] = {}
    for cls, name in names or []:
        counters.setdefault(snake(cls), []).append(name)
    out = []
    for group in sorted(root["layers"], key=_group_order):
        g = root["layers"][group]
        if "layers" in g:
            raise UserError(f"{path.name}'s layer group 'layers/{group}' holds a whole model (a model inside a model, as "
                            f"Sequential([base, ...]) makes); save the inner model's weights on their own")
        vars_ = g.get("vars")
        if vars_ is None or not len(vars_):
            continue
        stem, index = _group_order(group)
        name = vars_.attrs.get("name")
        name = name.decode() if isinstance(name, bytes) else name
        if name is None and stem in counters and index < len(counters[stem]):
            name = counters[stem][index]
        keys = sorted(vars_, key=int)
        out.append(FileLayer(name, _CLASSES.get(stem, stem), [np.asarray(vars_[k]) for k in keys],
                             [f"layers/{group}/vars/{k}" + (f" ({name})" if name else "") for k in keys],
                             f"layers/{group}" + (f" ({name})" if name else "")))
    return out


def _group_order(group: str) -> tuple[str, int]:
    """'conv2d_12' -> ('conv2d', 12), 'conv2d' -> ('conv2d', 0): Keras 3 numbers a class's layers in order."""
    m = re.fullmatch(r"(.*?)_(\d+)", group)
    return (m[1], int(m[2])) if m else (group, 0)


def read_layers(path: Path, hdf5: bool) -> tuple[str, list[FileLayer], dict | None]:
    """(layout, layers, an archive's config) of the Keras file `path`: HDF5 (`hdf5`) or a .keras zip."""
    import h5py
    if not hdf5:
        return _read_archive(path)
    try:
        with h5py.File(path, "r") as f:
            if "layers" in f and "layer_names" not in f.attrs:
                return "Keras 3", _keras3(f, path), None
            root = f.get("model_weights", f)  # model.save('x.h5') nests them
            if "layer_names" not in root.attrs and not any(k.startswith("layer_names") for k in root.attrs):
                raise UserError(f"{path} is an HDF5 file but not Keras weights: neither Keras 2's layout "
                                f"('layer_names') nor Keras 3's (groups under 'layers')")
            return "Keras 2", _keras2(root), None
    except (OSError, KeyError, ValueError) as e:
        raise UserError(f"weights file {path} is damaged or truncated ({str(e).splitlines()[0][:160]})") from None


def _read_archive(path: Path) -> tuple[str, list[FileLayer], dict]:
    import h5py
    try:
        with zipfile.ZipFile(path) as z:
            members = {i.filename: i for i in z.infolist()}
            if "config.json" not in members or "model.weights.h5" not in members:
                raise UserError(f"{path} is a zip archive but not a Keras model (.keras): it lacks "
                                f"{'config.json' if 'config.json' not in members else 'model.weights.h5'}")
            if any(i.file_size > MAX_ARCHIVE_MEMBER for i in members.values()):
                raise UserError(f"{path} holds a member larger than {MAX_ARCHIVE_MEMBER >> 30} GiB; no model of "
                                f"this zoo is that large")
            config = json.loads(z.read("config.json"))
            with tempfile.TemporaryFile() as tmp:  # h5py reads at random: a seekable copy of the member
                with z.open("model.weights.h5") as src:
                    shutil.copyfileobj(src, tmp, 1 << 20)
                tmp.seek(0)
                with h5py.File(tmp, "r") as f:
                    layers = _keras3(f, path, _config_layers(config))
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, EOFError) as e:
        raise UserError(f"Keras archive {path} is damaged or truncated ({str(e).splitlines()[0][:160]})") from None
    return "Keras 3 archive", layers, config


def _config_layers(config: dict) -> list[tuple[str, str]]:
    """(class, name) of the model's layers in order, from an archive's config.json."""
    inner = config.get("config") if isinstance(config, dict) else None
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if not isinstance(layers, list) or not all(isinstance(lay, dict) and isinstance(lay.get("config", {}), dict)
                                               for lay in layers):
        raise ValueError("config.json describes no model with layers")
    return [(str(layer.get("class_name")), str((layer.get("config") or {}).get("name"))) for layer in layers]


# ---------------------------------------------------------------------------------------------
# Matching the file's layers to the plan's, and its arrays to the zoo's tensors.

def _class_of(layer: FileLayer) -> str:
    """A Keras 2 layer's class, told by its variables (Keras 2 files do not name classes)."""
    first = layer.arrays[0]
    if first.ndim == 4:
        return "DepthwiseConv2D" if "depthwise" in layer.labels[0] else "Conv2D"
    if first.ndim == 2:
        return "Dense"
    return "BatchNormalization" if len(layer.arrays) == 4 and all(a.ndim == 1 for a in layer.arrays) else "?"


def _pair(plan: KerasPlan, layers: list[FileLayer], path: Path) -> list[tuple[KerasLayer, FileLayer]]:
    """Each file layer with its place in the plan: by name where both have names, else by position among
    the layers of its class (Keras's `model.layers` order in every layout)."""
    if plan.named and all(layer.name for layer in layers):
        pairs = []
        for layer in layers:
            place = plan.by_name.get(layer.name.replace("/", "_"))  # Keras 2 named DenseNet's first layers conv1/conv
            if place is None:
                raise UserError(f"layer '{layer.name}' of {path.name} is not a {plan.family} layer; the file "
                                f"holds another architecture")
            pairs.append((place, layer))
        return pairs
    by_class: dict[str, list[KerasLayer]] = {}
    for place in plan.layers:
        by_class.setdefault(place.cls, []).append(place)
    seen: dict[str, int] = {}
    pairs = []
    for layer in layers:
        cls = layer.cls or _class_of(layer)
        i = seen[cls] = seen.get(cls, -1) + 1
        places = by_class.get(cls, [])
        if i >= len(places):
            count = sum((lay.cls or _class_of(lay)) == cls for lay in layers)
            raise UserError(f"{path.name} has {count} {cls} layer{'s' * (count != 1)} where {plan.family} has "
                            f"{len(places)}; the file holds another architecture")
        pairs.append((places[i], layer))
    return pairs


def _tensors(place: KerasLayer, layer: FileLayer, path: Path) -> dict[str, tuple[torch.Tensor, str]]:
    """{zoo tensor name: (tensor in PyTorch's layout, its name in the file)} for one layer."""
    cls, arrays = place.cls, layer.arrays
    counts = (4,) if cls == "BatchNormalization" else (1, 2)
    if len(arrays) not in counts:
        raise UserError(f"layer '{layer.where}' of {path.name} holds {len(arrays)} array{'s' * (len(arrays) != 1)} "
                        f"where a {cls} layer has {' or '.join(map(str, counts))}; the file holds another architecture")
    out = {}
    for role, a, label in zip(ROLES[cls], arrays, layer.labels):
        a = np.asarray(a)
        if role == "weight" and cls != "BatchNormalization":
            a = _kernel(place, a, label, path)
        elif role == "running_var" and place.eps_extra:
            a = a + np.asarray(place.eps_extra, a.dtype)
        out[f"{place.module}.{role}"] = (torch.from_numpy(np.ascontiguousarray(a)), label)
    return out


def _kernel(place: KerasLayer, a: np.ndarray, label: str, path: Path) -> np.ndarray:
    want = 2 if place.cls == "Dense" else 4
    if a.ndim != want:
        raise UserError(f"'{label}' of {path.name} has shape {tuple(a.shape)}, not that of a {place.cls} kernel; the "
                        f"file holds another architecture")
    if place.cls == "DepthwiseConv2D":
        return a.transpose(2, 3, 0, 1)                               # (kh, kw, in, 1) -> (in, 1, kh, kw)
    if place.cls == "Conv2D":
        if place.bgr:
            a = a[:, :, ::-1]                                         # Keras's BGR inputs -> RGB
        return a[0, 0].T if place.conv_as_dense else a.transpose(3, 2, 0, 1)  # -> (out, in) or (out, in, kh, kw)
    if place.flatten is not None:                                     # rows in (H, W, C) order -> (C, H, W)
        c, h, w = place.flatten
        if a.shape[0] != c * h * w:
            raise UserError(f"'{label}' of {path.name} has {a.shape[0]} inputs where the model's flattened "
                            f"{c}x{h}x{w} map has {c * h * w}; it was made for another input size")
        a = a.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(c * h * w, -1)
    return a.T                                                        # (in, out) -> (out, in)


def _check_config(config: dict, plan: KerasPlan, model: nn.Module, model_name: str, path: Path) -> None:
    """Refuse an archive whose architecture (config.json) is not `model_name`'s Keras form."""
    name = str(config["config"].get("name", "?"))  # a dict with layers: _config_layers checked it on reading
    said = f"{path.name} holds the Keras model '{name}', not {model_name}'s Keras form ({plan.family})"
    layers = [(c, n, lay.get("config") or {}) for (c, n), lay in zip(_config_layers(config), config["config"]["layers"])]
    nested = [n for c, n, _ in layers if c in ("Functional", "Sequential", "Model")]
    if nested:
        raise UserError(f"{said}: its layer '{nested[0]}' is a whole model (a model inside a model); save the "
                        f"inner model on its own")
    weighted = [(c, n, cfg) for c, n, cfg in layers if c in WEIGHTED]
    if plan.named:
        places = [plan.by_name.get(n.replace("/", "_")) for _, n, _ in weighted]
        for (c, n, _), place in zip(weighted, places):
            if place is None or place.cls != c:
                raise UserError(f"{said}: its layer '{n}' ({c}) has no counterpart there")
    else:
        mine = [p.cls for p in plan.layers]
        theirs = [c for c, _, _ in weighted]
        if sorted(mine) != sorted(theirs):
            raise UserError(f"{said}: it has {_tally(theirs)} where {model_name} has {_tally(mine)}")
        places = _pair(plan, [FileLayer(n, c, [], []) for c, n, _ in weighted], path)
        places = [p for p, _ in places]
    for (c, n, cfg), place in zip(weighted, places):
        if c in ("Conv2D", "DepthwiseConv2D") and not place.conv_as_dense:
            conv = model.get_submodule(place.module) if _has(model, place.module) else None
            theirs = (tuple(cfg.get("kernel_size") or ()), tuple(cfg.get("strides") or ()))
            if conv is not None and theirs != (tuple(conv.kernel_size), tuple(conv.stride)):
                raise UserError(f"{said}: its layer '{n}' has kernel {theirs[0]} and strides {theirs[1]} where "
                                f"{model_name} has {tuple(conv.kernel_size)} and {tuple(conv.stride)}")


def _has(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
        return True
    except AttributeError:
        return False


def _tally(classes: list[str]) -> str:
    counts = {c: classes.count(c) for c in dict.fromkeys(classes)}
    return ", ".join(f"{n} {c}" for c, n in counts.items()) or "no layers with weights"


@dataclass
class KerasSource:
    format: str                                   # "Keras 2", "Keras 3", "Keras 3 archive"
    tensors: dict[str, torch.Tensor]              # in the zoo's names and layouts
    names: dict[str, str]                         # zoo name -> the name in the file, for messages
    preprocessing: Normalization | None


def read_keras(path: Path, model: nn.Module, model_name: str, *, hdf5: bool,
               input_shape: tuple[int, ...] | None = None) -> KerasSource:
    """The Keras file `path` (HDF5 if `hdf5`, else a .keras archive) in the names and layouts of `model`,
    built as the zoo's `model_name`; its architecture checked (layer names, classes, an archive's
    config), its shapes left to the caller (transfer.weights.load_pretrained)."""
    plan = keras_plan(model, model_name, input_shape)
    layout, layers, config = read_layers(path, hdf5)
    if config is not None:
        _check_config(config, plan, model, model_name, path)
    if not layers:
        raise UserError(f"{path} holds no layer with weights")
    tensors, names = {}, {}
    for place, layer in _pair(plan, layers, path):
        for key, (t, label) in _tensors(place, layer, path).items():
            tensors[key], names[key] = t, label
    return KerasSource(layout, tensors, names, plan.preprocessing)
