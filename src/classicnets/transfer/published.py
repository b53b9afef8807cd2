"""Published weights in one call, and used as they are (no training).

    import classicnets as cn
    model = cn.create("resnet18", weights="resnet18-f37072fd.pth")   # built and loaded in one call;
    model.preprocessing                         # the pixels' preprocessing the weights expect
    model = cn.create("resnet18")
    report, norm = cn.load_weights(model, "resnet18-f37072fd.pth")   # into a model already built
    p = pretrained("mobilenet", "imagenet")     # the model in eval mode, ImageNet's class names,
    p.predict(pixels)                           # its input shape, the weights' own preprocessing

`load_weights` follows `--weights`'s rules: `source` is a weights file (safetensors, a PyTorch state
dict, a Keras file), a classicnets run directory, a file name in `$CLASSICNETS_WEIGHTS`, or
"imagenet" (the model's published file, found or downloaded by `weights.find_weights`). Where the
model will not use the published classifier (no head, a new head, another number of classes, or
only its base is wanted: `base_only`), the published file without it is chosen (Keras's `_no_top`
files), so `classicnets extract` and `train --features` read the same file.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.core import Normalization
from ..errors import UserError
from .heads import model_from_card
from .imagenet import NUM_CLASSES, imagenet_classes
from .keras import CAFFE_NORMALIZATION, HALF_NORMALIZATION, IMAGENET_NORMALIZATION
from .weights import LoadReport, find_weights, load_pretrained


def outputs_of(model: nn.Module) -> int | None:
    """The number of outputs of the model's classifier (its head's last Linear), None without one."""
    from .heads import head_names
    try:
        heads = [model.get_submodule(n) for n in head_names(model)]
    except UserError:
        return None
    linears = [m for h in heads for m in h.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


def uses_published_top(model: nn.Module, base_only: bool = False) -> bool:
    """Whether `model` would load a published ImageNet classifier: it has one of 1,000 outputs, and more
    than its base is wanted. Else the published file without the top will do (and is smaller)."""
    return not base_only and outputs_of(model) == NUM_CLASSES


def resolve_weights(source: str | os.PathLike, *, model_name: str | None, model: nn.Module | None = None,
                    model_args: Mapping[str, Any] | None = None, input_shape: Sequence[int] | None = None,
                    base_only: bool = False) -> Path:
    """The weights file (or run directory) `source` means, as `--weights` reads it: "imagenet" picks
    the published file of `model_name` with its options and input size, without the top where
    `model` will not use it (or `base_only`)."""
    args = dict(model_args or {})
    if str(source) == "imagenet" and (base_only or (model is not None and not uses_published_top(model))):
        args["include_top"] = False
    size = tuple(input_shape) if input_shape else None
    return Path(find_weights(source, model_name=model_name, model_args=args, input_size=size))


def _run_card(path: Path):
    """The model card of the classicnets run `path` (a run directory, or a .safetensors file in one), or None."""
    if not path.is_dir() and path.suffix != ".safetensors":
        return None
    folder = path if path.is_dir() else path.parent
    if not (folder / "model.json").is_file() or not (folder / "model.safetensors").exists():
        return None
    from ..record import read_card  # a run's own record, read through its one reader
    return read_card(folder)


def load_weights(model: nn.Module, source: str | os.PathLike, *, model_name: str | None = None,
                 model_args: Mapping[str, Any] | None = None, input_shape: Sequence[int] | None = None,
                 base_only: bool = False, strict_head: bool = False) -> tuple[LoadReport, Normalization | None]:
    """Load `source` (a weights file, a run directory, a name in `$CLASSICNETS_WEIGHTS`, or "imagenet")
    into `model`, built as the zoo's `model_name` with `model_args`, in place; same rules and refusals
    as `--weights` (see `transfer.weights.load_pretrained`: nothing is assigned unless every check
    passes). Returns the load report and the preprocessing the weights expect of pixels (the run's
    normalisation, torchvision's ImageNet mean and std, a Keras application's `preprocess_input`), or
    None where the file says nothing of it; the model keeps it as `model.preprocessing`.
    `model_name` may be left out for a model from `classicnets.create` (it keeps its name as
    `model.zoo_name`, and `model_args` its options) or for a run directory (its model card names it).
    `input_shape` (C, H, W): the inputs the model was built for (Keras files of flattening models built
    for non-square inputs need it; "imagenet" picks MobileNet's file by it)."""
    path = Path(source).expanduser()
    card = _run_card(path) if str(source) != "imagenet" and path.exists() else None
    if model_name is None and getattr(model, "zoo_name", None):
        model_name = model.zoo_name
        model_args = getattr(model, "zoo_args", None) if model_args is None else model_args
    if model_name is None:
        if card is None:
            raise UserError(f"loading {source} needs model_name=, the zoo name the model was built as (e.g. "
                            f"'resnet18'), except from a classicnets run directory")
        model_name = card.name
    path = resolve_weights(source, model_name=model_name, model=model, model_args=model_args,
                           input_shape=input_shape, base_only=base_only)
    if path.is_dir():
        if not (path / "model.safetensors").is_file():
            raise UserError(f"{path} has no model.safetensors (has the run finished?)")
        path = path / "model.safetensors"
    shape = tuple(input_shape) if input_shape else None
    report = load_pretrained(model, path, model_name=model_name, strict_head=strict_head, input_shape=shape)
    norm = report.preprocessing
    card = card or _run_card(path)
    if card is not None and card.norm is not None:
        norm = card.norm
    model.preprocessing = norm  # a plain attribute: not a tensor, not in the state dict
    return report, norm


def default_input_shape(name: str, model_args: Mapping[str, Any] | None = None) -> tuple[int, ...]:
    """The (C, H, W) inputs the zoo's `name` is built for with `model_args`: its `in_channels` and
    `input_size` where given, else the registry's input shape."""
    from ..zoo import model_info
    shape = tuple(model_info(name).input_shape)
    args = dict(model_args or {})
    if len(shape) != 3:
        return shape
    size = args.get("input_size")
    h, w = (size, size) if isinstance(size, int) else tuple(size) if isinstance(size, (list, tuple)) else shape[1:]
    return (args.get("in_channels", shape[0]), h, w)


def create(name: str, seed: int | None = None, *, weights: str | os.PathLike | None = None,
           input_shape: Sequence[int] | None = None, **kwargs: Any) -> nn.Module:
    """Build the zoo's `name` (`zoo.create`: `seed`, builder options as keyword arguments) and, with
    `weights`, load them in the same call, as `--weights` does: a weights file (safetensors, a PyTorch
    or torchvision state dict, a Keras .h5 / .weights.h5 / .keras file), a classicnets run directory,
    a file name in `$CLASSICNETS_WEIGHTS`, or "imagenet" (the model's published file, looked up, else
    downloaded). Same rules and refusals as `load_weights`; tensors the weights do not hold (a head
    for another number of classes) keep their fresh initialisation, with a warning naming them.

    The model keeps its name and options (`model.zoo_name`, `model.zoo_args`, so `load_weights(model,
    path)` needs no more), and with `weights` the preprocessing they expect of pixels in
    `model.preprocessing` (a `Normalization`: call it on pixels 0..max_value; None where the file says
    nothing) and the load report in `model.weights_report`. `input_shape` (C, H, W): the inputs the
    weights are for, where the options do not say it (MobileNet's published files differ by size).
    A run directory without options gives the run's model: its options, and its new head if it has one."""
    import warnings

    from ..zoo import create as build
    from ..zoo import model_info
    if weights is not None and model_info(name).task == "detection":
        raise UserError(f"{name} is a detector; its weights start from a classifier's for its backbone only: "
                        f"`classicnets train --model {name} --weights ...`, or load a trained run with "
                        f"classicnets.runs.rundir.load_model")
    path = Path(weights).expanduser() if weights is not None else None
    card = _run_card(path) if path is not None and str(weights) != "imagenet" and path.exists() else None
    if card is not None and card.name != name:
        raise UserError(f"{weights} is a run of {card.name}, not of {name}; name {card.name}")
    if card is not None and not kwargs:  # the run's own model: its options, and its new head if it has one
        kwargs = dict(card.args)
        model = model_from_card(card) if card.head else build(name, seed=seed, **kwargs)
    else:
        model = build(name, seed=seed, **kwargs)
    model.zoo_name, model.zoo_args = name, {k: v for k, v in kwargs.items() if v is not None}
    if weights is None:
        return model
    shape = tuple(input_shape) if input_shape else tuple(card.input_shape) if card is not None else \
        default_input_shape(name, model.zoo_args)
    report, _ = load_weights(model, weights, model_name=name, model_args=model.zoo_args, input_shape=shape)
    model.weights_report = report
    if report.skipped or report.missing:
        warnings.warn(f"Weights: {report.summary()}", UserWarning, stacklevel=2)
    return model


# ---------------------------------------------------------------------------------------------
# Using published weights as they are.

@dataclass
class Pretrained:
    """Everything `predict` needs from published weights, and a run directory's model card."""

    name: str                          # the zoo model
    model: nn.Module                   # loaded, in eval mode
    classes: list[str]                 # by output index (ImageNet's 1,000 for published ImageNet weights)
    input_shape: tuple[int, ...]       # (C, H, W) the model takes
    preprocessing: Normalization | None  # what the weights expect of pixels in [0, max_value]; None: unknown
    resize: int | None                 # resize the shorter side to this, then centre-crop `input_shape`
                                       # (torchvision's ImageNet evaluation: 256, then 224); None: resize
                                       # straight to `input_shape` (Keras's applications)
    report: LoadReport
    model_args: dict[str, Any] = field(default_factory=dict)
    data: str = "imagenet"             # what the weights were trained on, as far as the file says

    def card_fields(self) -> dict[str, Any]:
        """The fields of a run's model card (`record.ModelCard(**fields)`), torch-free."""
        return {"name": self.name, "args": dict(self.model_args), "input_shape": list(self.input_shape),
                "classes": list(self.classes), "normalization": self.preprocessing.to_dict()
                if self.preprocessing else None, "data": self.data, "data_args": {}, "task": "multiclass",
                "resize": self.resize}

    def describe(self) -> str:
        """One line: the model, the weights, the classes and the preprocessing."""
        return (f"{self.name} with {self.report.path.name} ({self.report.format}): {len(self.classes):,} classes, "
                f"inputs {'x'.join(map(str, self.input_shape))}, {describe_preprocessing(self.preprocessing)}")

    @torch.no_grad()
    def predict(self, pixels: torch.Tensor, top: int = 5) -> list[list[tuple[str, float]]]:
        """The `top` classes and probabilities for a batch of pixel images (N, C, H, W) already sized
        to `input_shape`, preprocessed the weights' way."""
        x = pixels.float()
        if self.preprocessing is not None:
            x = self.preprocessing(x)
        probs = torch.softmax(self.model(x), dim=1)
        values, indices = probs.topk(min(top, probs.shape[1]), dim=1)
        return [[(self.classes[i], float(v)) for v, i in zip(vs, ix)] for vs, ix in zip(values.tolist(),
                                                                                     indices.tolist())]


def pretrained(name: str, weights: str | os.PathLike = "imagenet", *, model_args: Mapping[str, Any] | None = None,
               input_shape: Sequence[int] | None = None, classes: Sequence[str] | None = None) -> Pretrained:
    """The zoo's `name` with `weights` loaded, ready to classify without training (see `Pretrained`).

    The classes are ImageNet's for a classifier of 1,000 outputs, a run's own for a run directory, else
    `classes` (needed then). The weights must hold the model's whole classifier: a file without it (a
    `_no_top` file, another number of classes) is refused, saying so."""
    from ..zoo import create, model_info
    info = model_info(name)
    if info.task != "classification":
        raise UserError(f"{name} is a {info.task} model; published classifier weights are used with classifiers")
    args = dict(model_args or {})
    path = Path(weights).expanduser()
    card = _run_card(path) if str(weights) != "imagenet" and path.exists() else None
    if card is not None:
        if card.name != name:
            raise UserError(f"{weights} is a run of {card.name}, not of {name}; name {card.name}")
        args = {**card.args, **args}
    shape = tuple(input_shape) if input_shape else tuple(card.input_shape) if card else default_input_shape(name, args)
    model = model_from_card(card) if card is not None and not model_args else create(name, **args)  # a run's head too
    report, norm = load_weights(model, weights, model_name=name, model_args=args, input_shape=shape)
    if report.missing:
        raise UserError(f"{report.path.name} does not hold {name}'s whole classifier ({report.summary()}); "
                        f"use a file with the top, or build the model with the number of classes the weights "
                        f"were trained for (num_classes=N)")
    n = outputs_of(model)
    names = (list(card.classes) if card is not None else list(classes) if classes is not None
             else list(imagenet_classes()) if n == NUM_CLASSES else None)
    if names is None or len(names) != n:
        got = f"{len(names)} class names" if names is not None else "no class names"
        raise UserError(f"{name} with {report.path.name} has {n} outputs and {got}; give its {n} class names")
    torchvision = report.format == "torchvision"
    resize = card.resize if card is not None else 256 if torchvision and shape[-1] == 224 else None
    return Pretrained(name, model.eval(), names, shape, norm, resize,
                      report, args, card.data if card is not None else "imagenet" if n == NUM_CLASSES
                      else str(weights))


# ---------------------------------------------------------------------------------------------
# Saying which preprocessing a run uses.

_KNOWN = {
    (HALF_NORMALIZATION.max_value, tuple(HALF_NORMALIZATION.mean), tuple(HALF_NORMALIZATION.std)):
        "x / 127.5 - 1 (Keras's MobileNet)",
    (IMAGENET_NORMALIZATION.max_value, tuple(IMAGENET_NORMALIZATION.mean), tuple(IMAGENET_NORMALIZATION.std)):
        "ImageNet mean and std on x / 255 (torchvision's, Keras's DenseNet)",
    (CAFFE_NORMALIZATION.max_value, tuple(CAFFE_NORMALIZATION.mean), tuple(CAFFE_NORMALIZATION.std)):
        "x - ImageNet's mean pixel (Keras's VGG and ResNet, 'caffe')",
}


def describe_preprocessing(normalization: Normalization | None, requested: str | None = None) -> str:
    """The settings line's words for how inputs are prepared: `normalize standardize` (the `--normalize`
    mode `requested`, fitted on the data) where `normalization` is None, else what the weights (or the
    run they come from) expect, e.g. `normalize as the weights expect: x / 127.5 - 1 (Keras's MobileNet)`."""
    if normalization is None:
        return f"normalize {requested}" if requested else "normalize: none given"
    n = normalization
    if n.shape is None:
        known = _KNOWN.get((n.max_value, tuple(n.mean), tuple(n.std)))
        if known:
            return f"normalize as the weights expect: {known}"
        if all(m == 0 for m in n.mean) and all(s == 1 for s in n.std):
            return f"normalize as the weights expect: x / {n.max_value:g}"
        mean = ", ".join(f"{v:.3g}" for v in n.mean)
        std = ", ".join(f"{v:.3g}" for v in n.std)
        return f"normalize as the weights expect: mean ({mean}), std ({std}) on x / {n.max_value:g}"
    return f"normalize as the weights expect: per-pixel mean and std on x / {n.max_value:g}"
