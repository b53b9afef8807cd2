"""Model registry: name -> builder, with the metadata the docs and tests read.

Builders are registered with `@register_model(...)`; `create(name, **kwargs)` builds one, dropping
`None` options (as the CLI passes them) so that the builder's own defaults stand.
"""
from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import UserError, unknown_name


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

    def arguments(self) -> dict[str, inspect.Parameter]:
        return dict(inspect.signature(self.builder).parameters)


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(*, description: str, paper: str, year: int, input_shape: tuple[int, ...],
                   num_params: int | None = None, trainable_params: int | None = None,
                   non_trainable_params: int | None = None, approx_params: str | None = None,
                   approx_macs: str | None = None, params_source: str | None = None,
                   input_dtype: str = "float", keras_params: int | None = None):
    """Decorator registering a builder under its function name; refuses duplicates."""
    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = fn.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        family = fn.__module__.rsplit(".", 1)[-1]
        _REGISTRY[name] = ModelInfo(name, fn, family, description, paper, year, tuple(input_shape),
                                    num_params, trainable_params, non_trainable_params, approx_params,
                                    approx_macs, params_source, input_dtype, keras_params)
        return fn
    return wrap


def register_builder(name: str, build: Callable[..., nn.Module], module_globals: dict, **meta) -> None:
    """Register a builder made in a loop (one per table row) under `name`, and export it from its
    module as if written out (`from classicnets.zoo.vgg import vgg16`)."""
    build.__name__ = build.__qualname__ = name
    build.__module__ = module_globals["__name__"]
    register_model(**meta)(build)
    module_globals[name] = build


FAMILIES = ("lenet", "course", "alexnet", "vgg", "googlenet", "resnet", "highway", "densenet", "mobilenet",
            "rnn", "text")


def _ensure_loaded() -> None:
    import importlib
    for family in FAMILIES:  # importing a family module registers its models
        importlib.import_module(f"{__package__}.{family}")


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


def create(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model `name`; `None`-valued kwargs are dropped."""
    info = model_info(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    params = info.arguments()
    has_var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for key in kwargs:
        if key not in params and not has_var_kw:
            valid = ", ".join(k for k, p in params.items() if p.kind is not p.VAR_KEYWORD)
            raise UserError(f"model {name!r} has no option {key!r}; its options are: {valid}.")
    try:
        return info.builder(**kwargs)
    except (TypeError, ValueError) as e:
        raise UserError(f"cannot build {name!r} with {kwargs}: {e}") from None
