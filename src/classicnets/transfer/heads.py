"""Bases, heads and freezing with Keras's meaning (the course's transfer-learning section, ConvNets part 1).

- Every image model of the zoo splits into a *base* (the convolutional part, Keras's
  `include_top=False`) and a *head* (pooling and classifier): `head_names(model)` names the head's
  top-level modules; `base_of(model)` swaps them for identities, so the model outputs its features.
- `with_head(model, spec, num_outputs, input_shape)` puts a new head built from a short spec on the
  base, e.g. the course's `flatten,dense:256,dropout:0.5,dense` (Flatten, Dense(256) with no
  activation, Dropout(0.5), Dense(1) for a binary task). The result is a `Transferred` module with
  children `base` and `head`, so its weights map key for key (`base.features.0.weight`, `head.1.weight`).
- `freeze(model, "base" | "PATTERN")`: parameters stop learning (`requires_grad=False`, and the
  optimizer never sees them) and every BatchNorm inside runs in inference mode, its moving statistics
  untouched, as a frozen Keras layer's do (`trainable=False` puts BatchNormalization in inference
  mode since Keras 2.1.3). `unfreeze` undoes it; `unfreeze_top(model, n)` thaws the last n blocks of
  the base for fine-tuning.
"""
from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable

import torch
from torch import nn

from ..errors import UserError

HEAD_CHILDREN = ("avgpool", "classifier", "head", "fc")  # in forward order where several exist


class Transferred(nn.Module):
    """A base (a zoo model without its head) with a new head: head(base(x))."""

    def __init__(self, base: nn.Module, head: nn.Module):
        super().__init__()
        self.base, self.head = base, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.base(x))  # (batch, features...) -> (batch, outputs)


def head_names(model: nn.Module) -> list[str]:
    """Names of the top-level modules that make the model's head (pooling and classifier)."""
    if isinstance(model, Transferred):
        return ["head"]
    children = dict(model.named_children())
    named = [n for n in HEAD_CHILDREN if n in children and not isinstance(children[n], nn.Identity)]
    if named:
        return named
    if isinstance(model, nn.Sequential):  # a plain stack: the head is its final dense layer
        linear = [n for n, m in children.items() if isinstance(m, nn.Linear)]
        if linear:
            return [linear[-1]]
    raise UserError(f"{type(model).__name__} has no head this tool can find (modules named "
                    f"{', '.join(HEAD_CHILDREN)}, or a final Linear layer)")


def base_of(model: nn.Module) -> nn.Module:
    """The model without its head (in place): its output is the base's feature map, or vector."""
    if isinstance(model, Transferred):
        return model.base
    for name in head_names(model):
        setattr(model, name, nn.Identity())
    return model


def base_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The base's blocks in forward order, for `unfreeze_top`: the stages of a ResNet, the units of
    a MobileNet, the layers of a VGG's features...: the children of the base's one big stage if it
    has one, else the base's own children (identities and parameter-free modules skipped)."""
    base = model.base if isinstance(model, Transferred) else model
    prefix = "base." if isinstance(model, Transferred) else ""
    skip = set() if isinstance(model, Transferred) else set(head_names(model))
    top = [(n, m) for n, m in base.named_children() if n not in skip and any(True for _ in m.parameters())]
    if len(top) == 1 and len(list(top[0][1].children())) > 1:
        name, module = top[0]
        return [(f"{prefix}{name}.{n}", m) for n, m in module.named_children() if any(True for _ in m.parameters())]
    return [(prefix + n, m) for n, m in top]


def _set_frozen(module: nn.Module, frozen: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(not frozen)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if frozen:
                m._classicnets_frozen = True
                m.eval()
            elif getattr(m, "_classicnets_frozen", False):
                del m._classicnets_frozen
                m.train(module.training)


def _modules_matching(model: nn.Module, what: str) -> list[tuple[str, nn.Module]]:
    if what == "base":
        if isinstance(model, Transferred):
            return [("base", model.base)]
        heads = set(head_names(model))
        return [(n, m) for n, m in model.named_children() if n not in heads]
    if what == "all":
        return [("", model)]
    found = [(n, m) for n, m in model.named_modules() if n and fnmatch.fnmatch(n, what)]
    if not found:
        close = [n for n, _ in model.named_children()]
        raise UserError(f"--freeze {what!r} matches no module of the model; use 'base', 'all' or a name "
                        f"pattern such as {close[0] + '*' if close else 'features.*'} (top-level modules: "
                        f"{', '.join(close)})")
    return found


def freeze(model: nn.Module, what: str | Iterable[str] = "base") -> nn.Module:
    """Freeze the base ('base'), everything ('all') or the modules whose names match shell-style
    patterns ('features.*', 'conv2,conv3'): no gradient, no optimizer update, BatchNorm in inference mode."""
    for part in _parts(what):
        for _, m in _modules_matching(model, part):
            _set_frozen(m, True)
    _install_train_hook(model)
    return model


def unfreeze(model: nn.Module, what: str | Iterable[str] = "all") -> nn.Module:
    for part in _parts(what):
        for _, m in _modules_matching(model, part):
            _set_frozen(m, False)
    return model


def unfreeze_top(model: nn.Module, n: int) -> list[str]:
    """Thaw the last `n` blocks of the base (Keras's fine-tuning: `layer.trainable = True` for the top
    layers); returns their names."""
    blocks = base_blocks(model)
    if not 0 < n <= len(blocks):
        raise UserError(f"--unfreeze-top must be between 1 and the base's {len(blocks)} blocks; got {n}")
    chosen = blocks[-n:]
    for _, m in chosen:
        _set_frozen(m, False)
    return [name for name, _ in chosen]


def _parts(what: str | Iterable[str]) -> list[str]:
    parts = [p.strip() for p in (what.split(",") if isinstance(what, str) else what)]
    return [p for p in parts if p]


def _install_train_hook(model: nn.Module) -> None:
    """Make `model.train()` keep frozen BatchNorm layers in inference mode (once per model)."""
    if getattr(model, "_classicnets_train_hook", False):
        return
    original = model.train

    def train(mode: bool = True):
        original(mode)
        for m in model.modules():
            if getattr(m, "_classicnets_frozen", False):
                m.training = False
        return model
    model.train = train
    model._classicnets_train_hook = True


# -- heads from a spec ----------------------------------------------------------------------------
LAYERS = "flatten, gap (global average pooling), gmp (global max pooling), dense[:UNITS[:relu|sigmoid|tanh]], dropout:RATE, relu"
MAX_UNITS = 65_536          # units of one dense layer (the classic heads use 256 to 4,096)
MAX_HEAD_PARAMS = 2 ** 28   # parameters of a whole head: 268,435,456, 1 GiB as float32 (VGG16's fc1 has 102,764,544)


def _units(text: str, token: str) -> int:
    """A dense layer's units from the spec, a whole number from 1 to MAX_UNITS."""
    try:
        units = int(text)
    except ValueError:
        units = 0
    if not 1 <= units <= MAX_UNITS or not text.strip().isdigit():
        raise UserError(f"--head: the units of {token!r} must be a whole number from 1 to {MAX_UNITS:,}; got {text!r}")
    return units


def _check_size(spec: str, params: int) -> None:
    """Refuse a head too large to allocate sensibly, before allocating it."""
    if params > MAX_HEAD_PARAMS:
        raise UserError(f"--head {spec!r} would hold {params:,} parameters ({params * 4 / 2**30:,.1f} GiB as float32), "
                        f"more than a head may ({MAX_HEAD_PARAMS:,}, 1 GiB); use fewer units, or pool first (gap)")


def build_head(spec: str, in_shape: tuple[int, ...], num_outputs: int) -> nn.Sequential:
    """A head from `spec` for base outputs of shape `in_shape` (without the batch). The last `dense`
    may leave out its units: it then has `num_outputs` (1 for a binary task, as Keras's Dense(1, sigmoid)
    whose sigmoid the loss applies). A dense layer has at most MAX_UNITS units and the head at most
    MAX_HEAD_PARAMS parameters, checked before anything is allocated."""
    layers: list[nn.Module] = []
    shape = tuple(in_shape)
    params = 0  # counted before each dense layer is allocated (MAX_HEAD_PARAMS)
    tokens = [t.strip() for t in spec.split(",") if t.strip()]
    if not tokens:
        raise UserError(f"--head is empty; write layers such as flatten,dense:256,dropout:0.5,dense ({LAYERS})")
    for i, token in enumerate(tokens):
        name, *args = token.split(":")
        last = i == len(tokens) - 1
        try:
            if name in ("flatten", "gap", "gmp"):
                if args:
                    raise ValueError
                if name == "flatten":
                    layers.append(nn.Flatten())
                    shape = (math.prod(shape),)
                else:
                    if len(shape) != 3:
                        raise UserError(f"--head {name} pools a (C, H, W) feature map; the features here have "
                                        f"shape {shape}")
                    pool = nn.AdaptiveAvgPool2d(1) if name == "gap" else nn.AdaptiveMaxPool2d(1)
                    layers += [pool, nn.Flatten()]
                    shape = (shape[0],)
            elif name == "dense":
                if len(args) > 2:
                    raise ValueError
                if args and args[0]:
                    units = _units(args[0], token)
                elif last:
                    units = num_outputs
                else:
                    raise UserError(f"--head: only the last dense layer may leave out its units ({token!r})")
                if len(shape) != 1:
                    layers.append(nn.Flatten())
                    shape = (math.prod(shape),)
                params += shape[0] * units + units
                _check_size(spec, params)
                layers.append(nn.Linear(shape[0], units))
                shape = (units,)
                if len(args) == 2:
                    layers.append({"relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh()}[args[1]])
            elif name == "dropout":
                rate = float(args[0]) if len(args) == 1 else -1.0
                if not 0.0 <= rate < 1.0:
                    raise ValueError
                layers.append(nn.Dropout(rate))
            elif name == "relu" and not args:
                layers.append(nn.ReLU())
            else:
                raise ValueError
        except (ValueError, KeyError, IndexError):
            raise UserError(f"--head: cannot read {token!r}; layers are {LAYERS}") from None
    if shape != (num_outputs,):
        raise UserError(f"--head {spec!r} ends with {shape} outputs, and the data need {num_outputs}; end it "
                        f"with `dense` (its units follow the data)")
    return nn.Sequential(*layers)


def base_output_shape(base: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The base's output shape for one input of `input_shape`, computed on the meta device."""
    import copy
    with torch.device("meta"):
        probe = copy.deepcopy(base).to("meta")
        out = probe.eval()(torch.zeros(1, *input_shape))
    return tuple(out.shape[1:])


def with_head(model: nn.Module, spec: str, num_outputs: int, input_shape: tuple[int, ...]) -> Transferred:
    """`Transferred(base, head)`: the model's base (head removed) under a new head built from `spec`."""
    base = base_of(model)
    try:
        shape = base_output_shape(base, input_shape)
    except (RuntimeError, ValueError) as e:
        raise UserError(f"the base cannot take inputs of shape {input_shape}: {str(e).splitlines()[0]}") from None
    return Transferred(base, build_head(spec, shape, num_outputs))


def model_from_card(card) -> nn.Module:
    """The model a run's card (`record.ModelCard`) describes, with fresh weights: the registry's model
    with the card's options, and the card's new head on its base if it has one."""
    from ..zoo import create

    model = create(card.name, **card.args)
    if card.head:
        outputs = 1 if card.task == "binary" else len(card.classes)
        model = with_head(model, card.head, outputs, tuple(card.input_shape))
    return model
