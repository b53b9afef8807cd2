"""Keras-style model summary: per-layer output shape, parameters, multiply-adds and activation memory.

Counting (`summarize`) is separate from rendering (`Summary.render`), which takes a print function
so a terminal and a log file get the same text (as Keras's `print_fn`).

Conventions, stated in the rendered footer:
- Parameters follow Keras: BatchNorm's moving mean and variance (PyTorch buffers) count as
  non-trainable parameters; frozen weights (requires_grad False) too.
- Multiply-adds (MACs) are counted for convolutions (F*F*D_in/groups per output value, the course's
  F*F*D_r * W*H * D_{r+1}) and dense layers (in_features per output value); pooling, activations and
  normalisation are not multiply-adds.
- Receptive field / stride: how many input pixels one output value sees, and how many input pixels
  apart neighbouring outputs are (see `inspect.geometry`); "-" after flattening.
- Activation memory sums the input and each layer's output, except elementwise activations and
  dropout, which run in place (as the course counts ReLU), and reshapes (views); per input example,
  at each tensor's own dtype (int64 word ids, float32 outputs...).
- Recurrent layers count gates * units * (inputs + units) multiply-adds per step and direction; the
  row of a Keras-style recurrent layer shows its output (last step, or every step with
  return_sequences), while its memory is every step's output, which training keeps.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import UserError
from ..recurrent import is_recurrent, keras_param_count
from .geometry import check_layer, propagate

IN_PLACE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
            nn.Hardswish, nn.Hardsigmoid, nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout,
            nn.Identity, nn.Flatten, nn.Unflatten)


@dataclass
class LayerRow:
    name: str                       # qualified name in the model ("features.0"), or a folded block's
    kind: str                       # class name ("Conv2d")
    output_shape: tuple[int, ...]   # with the batch dimension
    params: int                     # trainable + non-trainable (Keras convention)
    trainable: int
    macs: int                       # per example
    activation_bytes: int           # per example, 0 for in-place layers
    receptive_field: tuple[int, ...] | None = None  # input pixels one output value sees, per axis
    jump: tuple[int, ...] | None = None             # effective stride: input pixels between neighbours


@dataclass
class Summary:
    model_name: str
    input_shape: tuple[int, ...]    # with the batch dimension
    rows: list[LayerRow]
    trainable: int
    non_trainable: int
    macs: int                       # per example
    activation_bytes: int           # per example, input included
    param_bytes: int
    warnings: list[str] = field(default_factory=list)  # layer geometry the course calls invalid
    keras_params: int | None = None  # Keras's count where it differs (one bias per SimpleRNN/LSTM gate)

    @property
    def total_params(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def batch(self) -> int:
        return self.input_shape[0]

    def render(self, print_fn: Callable[[str], None] = print, width: int | None = 120) -> None:
        """The layer table `width` columns wide (None: as wide as its rows) and the totals, line by line."""
        from rich.table import Table

        from ..terminal import render_lines

        table = Table(title=f'Model: "{self.model_name}"', title_justify="left")
        for col, just in (("Layer (type)", "left"), ("Output shape", "left"), ("Param #", "right"),
                          ("MACs", "right"), ("Activations", "right"), ("RF / stride", "right")):
            table.add_column(col, justify=just)
        for r in self.rows:
            table.add_row(f"{r.name} ({r.kind})", str(tuple(r.output_shape)), f"{r.params:,}",
                          _si(r.macs) if r.macs else "0", _bytes(r.activation_bytes) if r.activation_bytes else "-",
                          _rf(r.receptive_field, r.jump))
        lines = render_lines(table, width)
        b = self.batch
        lines += [
            f"Total params: {self.total_params:,} ({_bytes(self.param_bytes)})",
            f"Trainable params: {self.trainable:,}",
            f"Non-trainable params: {self.non_trainable:,}"
            + ("  (BatchNorm moving mean/variance counted, as Keras does)" if self.non_trainable else ""),
            *([f"Keras would print {self.keras_params:,}: it has one bias per SimpleRNN/LSTM gate where "
               f"PyTorch has two (always summed, so the same function)"]
              if self.keras_params is not None and self.keras_params != self.total_params else []),
            f"Multiply-adds: {_si(self.macs)} per example" + (f", {_si(self.macs * b)} per batch of {b}" if b > 1 else ""),
            f"Forward activations: {_bytes(self.activation_bytes)} per example"
            + (f", {_bytes(self.activation_bytes * b)} per batch of {b}" if b > 1 else "")
            + " (input and layer outputs)",
        ]
        lines += [f"Warning: {w}" for w in self.warnings]
        for line in lines:
            print_fn(line)

    @property
    def dtype_bytes(self) -> int:
        return self.param_bytes // max(1, self.total_params)

    def __str__(self) -> str:
        out: list[str] = []
        self.render(out.append)
        return "\n".join(out)

    def print(self) -> None:
        self.render(print)


def _si(n: float) -> str:
    """347.39K, 1.28G, 34.74E; past the largest prefix (a batch of 10**14 and more) in powers of ten."""
    if abs(n) >= 1e21:
        return f"{n:.2e}"
    for unit, div in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def _bytes(n: float) -> str:
    if n >= 2**70:
        return f"{n:.2e} B"
    for unit, div in (("EB", 2**60), ("PB", 2**50), ("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n:.0f} B"


def count_params(model: nn.Module) -> tuple[int, int]:
    """(trainable, non_trainable) with Keras's convention (floating-point buffers are non-trainable)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    return trainable, frozen + buffers


def layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    """Multiply-adds of one layer for one example."""
    per_example = output[0].numel() if output.ndim > 0 else 1
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        # every input position meets every kernel tap: input positions * k * in_channels * out_channels / groups,
        # the input's size recovered from the output's:
        # out = (in - 1) * stride - 2 * pad + dilation * (k - 1) + output_padding + 1
        positions = 1
        for o, s, p, d, k, op in zip(output.shape[-len(module.kernel_size):], module.stride, module.padding,
                                     module.dilation, module.kernel_size, module.output_padding):
            positions *= (o + 2 * p - d * (k - 1) - op - 1) // s + 1
        taps = 1
        for k in module.kernel_size:
            taps *= k
        return positions * taps * module.in_channels * module.out_channels // module.groups
    if isinstance(module, nn.modules.conv._ConvNd):
        k = 1
        for s in module.kernel_size:
            k *= s
        return per_example * k * module.in_channels // module.groups
    if isinstance(module, nn.Linear):
        return per_example * module.in_features
    if isinstance(module, nn.Bilinear):
        return per_example * module.in1_features * module.in2_features
    if isinstance(module, nn.RNNBase):  # per step: gates * units * (inputs + units), per direction and layer
        gates = {"LSTM": 4, "GRU": 3}.get(module.mode, 1)
        steps = output.shape[1] if module.batch_first else output.shape[0]
        dirs, h, width, total = 2 if module.bidirectional else 1, module.hidden_size, module.input_size, 0
        for _ in range(module.num_layers):
            total += dirs * gates * h * (width + h)
            width = dirs * h
        return steps * total
    return 0


INPUT_FORMS = {3: "CxHxW (an image)", 2: "TxF (a sequence of feature vectors)", 1: "T (word ids)"}


def parse_input(text: str | Sequence[int], like: Sequence[int] | None = None, model: str = "the model") -> tuple[int, ...]:
    """'1x8x8' or (1, 8, 8) -> (1, 8, 8); with `like` (the model's own input shape), as many sizes as it
    has, or a `UserError` saying which form `model` takes ('3x32' is no image: not a 3x3 one)."""
    if not isinstance(text, str):
        return tuple(int(v) for v in text)
    try:
        dims = tuple(int(v) for v in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise UserError(f"cannot read input size {text!r}; write it as CxHxW, e.g. 3x224x224") from None
    if not dims or any(d < 1 for d in dims):
        raise UserError(f"input size {text!r} must be positive integers, e.g. 3x224x224")
    if like is not None and len(dims) != len(like):
        form = INPUT_FORMS.get(len(like), f"{len(like)} sizes")
        raise UserError(f"input size {text!r} has {len(dims)} size{'s' if len(dims) > 1 else ''}, but {model} takes "
                        f"{form}, e.g. {'x'.join(map(str, like))}")
    return dims


def _row_modules(model: nn.Module, depth: int | None, fold_blocks: bool) -> dict[str, nn.Module]:
    """The modules shown as rows: leaves, or folded blocks / modules at `depth` that contain them."""
    rows: dict[str, nn.Module] = {}
    for n, m in model.named_modules():
        if any(n.startswith(r + ".") for r in rows if r):
            continue  # inside a folded row
        level = n.count(".") + 1 if n else 0
        leaf = not list(m.children()) or getattr(m, "is_layer", False)  # a Keras layer made of modules
        if leaf or (fold_blocks and getattr(m, "is_block", False)) or (depth is not None and level == depth):
            rows[n] = m
    return rows


class _Counter:
    """The forward hooks that count a summary's rows: parameters, multiply-adds and activation bytes
    of each row's modules, and the receptive field and jump of each output (tagged on the tensors)."""

    def __init__(self, row_mods: dict[str, nn.Module], n_spatial: int):
        self.row_mods, self.n_spatial = row_mods, n_spatial
        self.row_of: dict[nn.Module, str] = {}
        for rn, rm in row_mods.items():
            for sub in rm.modules():
                self.row_of.setdefault(sub, rn)
        self.acc: dict[str, list[int]] = {rn: [0, 0] for rn in row_mods}  # macs, activation bytes in this call
        self.rows: list[LayerRow] = []
        self.warnings: list[str] = []
        self.current: list[tuple[str, nn.Module, tuple]] = []  # the leaf modules running, for errors
        self.seen: list[tuple[tuple[int, ...], tuple, tuple]] = []  # (spatial size, rf, jump) of tagged outputs

    def geometry_of(self, t: torch.Tensor):
        g = getattr(t, "_cn_geometry", None)
        if g is None and t.ndim == self.n_spatial + 2:  # made by a functional op (add, cat): widest branch
            same = [(rf, j) for size, rf, j in self.seen if size == tuple(t.shape[2:])]
            g = max(same, key=lambda x: sum(x[0])) if same else None
        return g

    def tag(self, t: torch.Tensor, g) -> None:
        if g is not None:
            t._cn_geometry = g
            self.seen.append((tuple(t.shape[2:]), *g))

    def pre_hook(self, n: str):
        def hook(m, args):
            self.current.append((n, m, tuple(tuple(a.shape) for a in args if isinstance(a, torch.Tensor))))
        return hook

    def leaf_hook(self, n: str):
        def hook(m, args, out):
            self.current.pop()
            t = out[0] if isinstance(out, (tuple, list)) else out
            x = next((a for a in args if isinstance(a, torch.Tensor)), None)
            if not isinstance(t, torch.Tensor):
                return
            if x is not None and x.ndim == self.n_spatial + 2 and self.n_spatial:
                self.warnings.extend(check_layer(n, m, tuple(x.shape[2:])))
                g = self.geometry_of(x)
                if g is not None:
                    self.tag(t, propagate(m, tuple(x.shape[2:]), tuple(t.shape[2:]), *g))
            a = self.acc[self.row_of[m]]
            a[0] += layer_macs(m, t)
            in_place = isinstance(m, IN_PLACE) or getattr(m, "is_view", False)
            a[1] += 0 if in_place else (t[0].numel() if t.ndim else 1) * t.element_size()
            if self.row_of[m] == n:
                self.emit(n, m, t)
        return hook

    def block_hook(self, n: str):
        def hook(m, args, out):
            t = out[0] if isinstance(out, (tuple, list)) else out
            if isinstance(t, torch.Tensor):
                if getattr(t, "_cn_geometry", None) is None:
                    self.tag(t, self.geometry_of(t))
                self.emit(n, m, t)
        return hook

    def emit(self, n: str, m: nn.Module, t: torch.Tensor) -> None:
        trainable = sum(p.numel() for p in m.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in m.parameters() if not p.requires_grad)
        buffers = sum(b.numel() for b in m.buffers() if b.is_floating_point())
        macs, act = self.acc[n]
        self.acc[n] = [0, 0]
        g = getattr(t, "_cn_geometry", None)
        self.rows.append(LayerRow(n or type(m).__name__, type(m).__name__, tuple(t.shape), trainable + frozen + buffers,
                                  trainable, macs, act, *(g if g is not None else (None, None))))

    def attach(self, model: nn.Module) -> list:
        """Hooks on every leaf module and on every folded row's module; the handles to remove them."""
        handles = []
        for n, m in model.named_modules():
            if not list(m.children()):
                handles.append(m.register_forward_pre_hook(self.pre_hook(n)))
                handles.append(m.register_forward_hook(self.leaf_hook(n)))
            elif n in self.row_mods:
                handles.append(m.register_forward_hook(self.block_hook(n)))
        return handles


def summarize(model: nn.Module, input_size: str | Sequence[int], *, batch: int = 1,
              dtype: torch.dtype = torch.float32, name: str | None = None, depth: int | None = None,
              fold_blocks: bool = False, strict: bool = False) -> Summary:
    """Run one forward pass on zeros of shape (batch, *input_size) and count per layer.

    `depth=N` folds every module N levels down into one row; `fold_blocks` shows each residual
    unit, Inception module, dense block... as one row. `strict` raises `UserError` on layer
    geometry the course calls invalid (see `inspect.geometry`); otherwise it is a warning.
    """
    shape = (batch, *parse_input(input_size))
    # images (and 1D signals) have spatial axes after (batch, channels); token ids and the
    # (batch, time, features) sequences of recurrent models have none
    recurrent = is_recurrent(model)
    n_spatial = 0 if recurrent or not dtype.is_floating_point else len(shape) - 2
    counter = _Counter(_row_modules(model, depth, fold_blocks), n_spatial)
    handles = counter.attach(model)
    was_training = model.training
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    x = torch.zeros(shape, dtype=dtype, device=device)
    counter.tag(x, ((1,) * n_spatial, (1,) * n_spatial) if n_spatial else None)
    try:
        with torch.no_grad():
            model(x)
    except (RuntimeError, ValueError, IndexError) as e:
        raise _geometry_error(model, shape, counter.current, e) from None
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    rows, warnings = counter.rows, counter.warnings
    if strict and warnings:
        raise UserError(f"invalid architecture for input {shape[1:]}: {warnings[0]}")
    trainable, non_trainable = count_params(model)
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters()) + sum(
        b.numel() * b.element_size() for b in model.buffers() if b.is_floating_point())
    input_bytes = math.prod(shape[1:]) * x.element_size()
    return Summary(name or type(model).__name__, shape, rows, trainable, non_trainable,
                   sum(r.macs for r in rows), input_bytes + sum(r.activation_bytes for r in rows),
                   param_bytes, warnings, keras_param_count(model) if recurrent else None)


def _rf(rf: tuple[int, ...] | None, jump: tuple[int, ...] | None) -> str:
    if rf is None or jump is None:
        return "-"
    show = lambda v: str(v[0]) if len(set(v)) == 1 else "x".join(map(str, v))  # noqa: E731
    return f"{show(rf)} / {show(jump)}"


def _geometry_error(model: nn.Module, shape: tuple, current: list, err: Exception) -> UserError:
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if current:
        n, m, in_shapes = current[-1]
        got = ", ".join(str(s) for s in in_shapes) or "?"
        return UserError(f"input of shape {shape} does not fit {type(model).__name__}: layer '{n}' "
                         f"({type(m).__name__}) received {got} and failed: {reason}")
    return UserError(f"input of shape {shape} does not fit {type(model).__name__}: {reason}")


def summary(model: nn.Module, input_size: str | Sequence[int], **kwargs) -> Summary:
    """Count a model's layers for an input of `input_size` (C, H, W); `.print()` shows the table."""
    return summarize(model, input_size, **kwargs)
