"""Model registry: name -> builder, with the metadata the docs and tests read.

Builders are registered with `@register_model(...)` in their family's module (one file per
architecture family); the registry is torch-free and imports the family modules by name (`FAMILIES`,
detection's too) the first time a model is looked up, so it imports none of its plugins itself.
`zoo.build.create(name, seed=None, **kwargs)` builds one, dropping `None` options (as the CLI passes
them) so that the builder's own defaults stand, and `zoo.build.parameter_count(name)` counts one's
parameters without building its weights.
"""
from __future__ import annotations

import fnmatch
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import unknown_name

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModelInfo:
    name: str
    builder: Callable[..., nn.Module]
    family: str                         # module of the zoo it lives in: "lenet", "vgg", ...
    description: str                    # one line, shown by `classicnets models`
    paper: str                          # citation of the architecture's source
    year: int
    input_shape: tuple[int, ...]        # default (C, H, W) the paper or course uses
    num_params: int | None = None       # reference total parameters (Keras convention: BN statistics included)
    trainable_params: int | None = None  # reference trainable parameters (torchvision's counts are these)
    non_trainable_params: int | None = None  # reference non-trainable parameters (BN moving mean/variance)
    approx_params: str | None = None    # a paper's rounded figure, e.g. "0.27M": checked to its last digit
    approx_macs: str | None = None      # a paper's rounded multiply-adds at `input_shape`, e.g. "569M"
    params_source: str | None = None    # where the reference figures come from
    input_dtype: str = "float"          # "long" for models fed word ids (their input_shape is (time,))
    keras_params: int | None = None     # Keras's printed total where it counts differently (one RNN bias)
    task: str = "classification"        # or "detection": the model takes (images, targets), see classicnets.detection

    def arguments(self) -> dict[str, inspect.Parameter]:
        """The builder's options; a leading underscore marks a value bound per table row (`_d=depth`),
        not an option."""
        return {k: p for k, p in inspect.signature(self.builder).parameters.items() if not k.startswith("_")}


_REGISTRY: dict[str, ModelInfo] = {}
TASKS = ("classification", "detection")


def register_model(*, description: str, paper: str, year: int, input_shape: tuple[int, ...],
                   num_params: int | None = None, trainable_params: int | None = None,
                   non_trainable_params: int | None = None, approx_params: str | None = None,
                   approx_macs: str | None = None, params_source: str | None = None,
                   input_dtype: str = "float", keras_params: int | None = None, task: str = "classification"):
    """Decorator registering a builder under its function name; refuses duplicates."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}; got {task!r}")

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = fn.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        family = fn.__module__.rsplit(".", 1)[-1]
        _REGISTRY[name] = ModelInfo(name, fn, family, description, paper, year, tuple(input_shape),
                                    num_params, trainable_params, non_trainable_params, approx_params,
                                    approx_macs, params_source, input_dtype, keras_params, task)
        return fn
    return wrap


def register_builder(name: str, build: Callable[..., nn.Module], module_globals: dict, **meta) -> None:
    """Register a builder made in a loop (one per table row) under `name`, and export it from its
    module as if written out (`from classicnets.zoo.vgg import vgg16`)."""
    build.__name__ = build.__qualname__ = name
    build.__module__ = module_globals["__name__"]
    register_model(**meta)(build)
    module_globals[name] = build


# The family modules, by name (importing one registers its models): the zoo's, then detection's.
FAMILIES = tuple(f"classicnets.zoo.{f}" for f in ("lenet", "course", "alexnet", "vgg", "googlenet", "resnet",
                                                  "highway", "densenet", "mobilenet", "airbench", "rnn",
                                                  "text")) \
    + tuple(f"classicnets.detection.{f}" for f in ("rcnn", "fast_rcnn", "faster_rcnn", "mask_rcnn"))
_loaded = False


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        for module in FAMILIES:
            importlib.import_module(module)
        _loaded = True


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style pattern, sorted."""
    _ensure_loaded()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def model_info(name: str) -> ModelInfo:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_name("model", name, _REGISTRY) from None
