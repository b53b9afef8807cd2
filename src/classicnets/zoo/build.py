"""Building registered models: `create` (with a seed that leaves the global random state alone, and
one sentence for any option the builder refuses) and `parameter_count` (on the meta device)."""
from __future__ import annotations

import contextlib
import functools
import inspect
import numbers
from typing import Any

import torch
from torch import nn

from ..errors import UserError
from ..inspect.summary import count_params
from .registry import model_info


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


@functools.cache
def parameter_count(name: str) -> int:
    """Total parameters of `name` with its default options, counted as `num_params` is (Keras
    convention: BatchNorm statistics included; recurrent layers with PyTorch's two biases, as in
    docs/models.md), so it equals `num_params` where the registry declares one.

    Built on the meta device: no memory and no initialisation, so every model is counted in seconds."""
    with torch.device("meta"):
        return sum(count_params(create(name)))
