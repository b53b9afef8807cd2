"""Model registry: name -> builder, with the metadata the docs and tests read.

Builders are registered with `@register_model(...)`; `create(name, seed=None, **kwargs)` builds one,
dropping `None` options (as the CLI passes them) so that the builder's own defaults stand, and
`parameter_count(name)` counts one's parameters without building its weights.
"""
from __future__ import annotations

import contextlib
import fnmatch
import functools
import inspect
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import UserError, unknown_name
from ..inspect.summary import count_params


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


FAMILIES = ("lenet", "course", "alexnet", "vgg", "googlenet", "resnet", "highway", "densenet", "mobilenet", "airbench",
            "rnn", "text")
DETECTION_FAMILIES = ("rcnn", "fast_rcnn", "faster_rcnn", "mask_rcnn")  # modules of classicnets.detection


def _ensure_loaded() -> None:
    import importlib
    for family in FAMILIES:  # importing a family module registers its models
        importlib.import_module(f"{__package__}.{family}")
    for family in DETECTION_FAMILIES:
        importlib.import_module(f"classicnets.detection.{family}")


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


@functools.lru_cache(maxsize=None)
def parameter_count(name: str) -> int:
    """Total parameters of `name` with its default options, counted as `num_params` is (Keras
    convention: BatchNorm statistics included; recurrent layers with PyTorch's two biases, as in
    docs/models.md), so it equals `num_params` where the registry declares one.

    Built on the meta device: no memory, no initialisation, all 53 models in about two seconds."""
    with torch.device("meta"):
        return sum(count_params(create(name)))


def _check_option(name: str, key: str, value: Any, param: inspect.Parameter) -> None:
    """Refuse sizes torch would fail on with a message about tensors: every integer option in the zoo
    counts something (classes, channels, units, layers), so it is a whole number, at least 1 (0 is
    allowed for `layers` and `depth`: no hidden layer, as in the course's softmax regression); `width`
    and `alpha` multiply channel counts, so they are positive."""
    kind = param.annotation if isinstance(param.annotation, str) else getattr(param.annotation, "__name__", "")
    counts = "int" in kind and "float" not in kind  # int, int | None, int | tuple[int, int], tuple[int, ...]
    least = 0 if key in ("layers", "depth") else 1
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    whole = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= least for v in values)
    pair = "tuple[int, int]" in kind  # a size given as one number or (height, width)
    if counts and (not whole or pair and isinstance(value, (list, tuple)) and len(value) != 2):
        some = " or a pair of them" if pair else ""
        raise UserError(f"option {key!r} of model {name!r} must be a whole number of at least {least}{some}; "
                        f"got {value!r}.")
    if kind == "float" and key in ("width", "alpha") and not (
            isinstance(value, numbers.Real) and not isinstance(value, bool) and value > 0):
        raise UserError(f"option {key!r} of model {name!r} must be a positive number; got {value!r}.")


@contextlib.contextmanager
def _seeded(seed: int):
    """Draw from generators seeded with `seed`, then put every generator back as it was. Only the
    CPU generator (and CUDA's current one once CUDA is in use) is touched: `torch.manual_seed` would
    also leave a seed queued for CUDA's first use."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**64:
        raise UserError(f"seed must be a whole number from 0 to 2**64 - 1; got {seed!r}.")
    cuda = [torch.cuda.current_device()] if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(int(seed))
        if cuda:
            torch.cuda.manual_seed(int(seed))
        yield


def create(name: str, seed: int | None = None, **kwargs: Any) -> nn.Module:
    """Build the registered model `name`; `None`-valued kwargs are dropped.

    With `seed`, the initial weights are those of `torch.manual_seed(seed)` followed by
    `create(name)` (on the CPU), but the global random state is left as it was: the same seed gives
    the same model whatever ran before, and drawing it changes nothing after. Without `seed` the
    weights come from the global generator, as in any `torch.nn` constructor.
    Bad options (unknown names, impossible sizes, anything the builder refuses) raise `UserError`.
    """
    info = model_info(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    params = info.arguments()
    has_var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for key, value in kwargs.items():
        if key not in params and not has_var_kw:
            valid = ", ".join(k for k, p in params.items() if p.kind is not p.VAR_KEYWORD)
            raise UserError(f"model {name!r} has no option {key!r}; its options are: {valid}.")
        if key in params:
            _check_option(name, key, value, params[key])
    try:
        with _seeded(seed) if seed is not None else contextlib.nullcontext():
            return info.builder(**kwargs)
    except (TypeError, ValueError, RuntimeError) as e:
        if not kwargs:
            raise  # the defaults failing is a bug, not the user's doing: keep the traceback
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot build {name!r} with {kwargs}: {detail.rstrip('.')}.") from None
