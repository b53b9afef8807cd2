"""Keras-style model summary: per-layer output shape, parameters, multiply-adds and activation memory.

Counting (`summarize`) is separate from rendering (`Summary.render`), which takes a print function
so a terminal and a log file get the same text (as Keras's `print_fn`).

Conventions, stated in the rendered footer:
- Parameters follow Keras: BatchNorm's moving mean and variance (PyTorch buffers) count as
  non-trainable parameters; frozen weights (requires_grad False) too.
- Multiply-adds (MACs) are counted for convolutions (F*F*D_in/groups per output value, the course's
  F*F*D_r * W*H * D_{r+1}) and dense layers (in_features per output value); pooling, activations and
  normalisation are not multiply-adds.
- Activation memory sums the input and each layer's output, except elementwise activations and
  dropout, which run in place (as the course counts ReLU), and reshapes (views); per input example,
  at the given dtype.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import UserError

IN_PLACE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
            nn.Hardswish, nn.Hardsigmoid, nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout,
            nn.Identity, nn.Flatten, nn.Unflatten)


@dataclass
class LayerRow:
    name: str                       # qualified name in the model ("features.0")
    kind: str                       # class name ("Conv2d")
    output_shape: tuple[int, ...]   # with the batch dimension
    params: int                     # trainable + non-trainable (Keras convention)
    trainable: int
    macs: int                       # per example
    activation_bytes: int           # per example, 0 for in-place layers


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

    @property
    def total_params(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def batch(self) -> int:
        return self.input_shape[0]

    def render(self, print_fn: Callable[[str], None] = print, width: int = 100) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f'Model: "{self.model_name}"', title_justify="left")
        table.add_column("Layer (type)")
        table.add_column("Output shape")
        table.add_column("Param #", justify="right")
        table.add_column("MACs", justify="right")
        for r in self.rows:
            table.add_row(f"{r.name} ({r.kind})", str(tuple(r.output_shape)), f"{r.params:,}",
                          _si(r.macs) if r.macs else "0")
        buf = io.StringIO()
        Console(file=buf, width=width, force_terminal=False, color_system=None).print(table)
        lines = buf.getvalue().rstrip("\n").splitlines()
        b = self.batch
        lines += [
            f"Total params: {self.total_params:,} ({_bytes(self.param_bytes)})",
            f"Trainable params: {self.trainable:,}",
            f"Non-trainable params: {self.non_trainable:,}"
            + ("  (BatchNorm moving mean/variance counted, as Keras does)" if self.non_trainable else ""),
            f"Multiply-adds: {_si(self.macs)} per example" + (f", {_si(self.macs * b)} per batch of {b}" if b > 1 else ""),
            f"Forward activations: {_bytes(self.activation_bytes)} per example"
            + (f", {_bytes(self.activation_bytes * b)} per batch of {b}" if b > 1 else "")
            + f" (input and layer outputs, {self.dtype_bytes} bytes each)",
        ]
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
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def _bytes(n: float) -> str:
    for unit, div in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
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
    if isinstance(module, nn.modules.conv._ConvNd):
        k = 1
        for s in module.kernel_size:
            k *= s
        return per_example * k * module.in_channels // module.groups
    if isinstance(module, nn.Linear):
        return per_example * module.in_features
    if isinstance(module, nn.Bilinear):
        return per_example * module.in1_features * module.in2_features
    return 0


def parse_input(text: str | Sequence[int]) -> tuple[int, ...]:
    """'1x8x8' or (1, 8, 8) -> (1, 8, 8)."""
    if not isinstance(text, str):
        return tuple(int(v) for v in text)
    try:
        dims = tuple(int(v) for v in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise UserError(f"cannot read input size {text!r}; write it as CxHxW, e.g. 3x224x224") from None
    if not dims or any(d < 1 for d in dims):
        raise UserError(f"input size {text!r} must be positive integers, e.g. 3x224x224")
    return dims


def summarize(model: nn.Module, input_size: str | Sequence[int], *, batch: int = 1,
              dtype: torch.dtype = torch.float32, name: str | None = None) -> Summary:
    """Run one forward pass on zeros of shape (batch, *input_size) and count per leaf layer."""
    shape = (batch, *parse_input(input_size))
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    rows: list[LayerRow] = []
    current: list[tuple[str, nn.Module, tuple]] = []
    elem = torch.empty((), dtype=dtype).element_size()

    def pre_hook(n: str):
        def hook(m, args):
            shapes = tuple(tuple(a.shape) for a in args if isinstance(a, torch.Tensor))
            current.append((n, m, shapes))
        return hook

    def post_hook(n: str):
        def hook(m, args, out):
            current.pop()
            t = out[0] if isinstance(out, (tuple, list)) else out
            if not isinstance(t, torch.Tensor):
                return
            trainable = sum(p.numel() for p in m.parameters(recurse=False) if p.requires_grad)
            frozen = sum(p.numel() for p in m.parameters(recurse=False) if not p.requires_grad)
            buffers = sum(b.numel() for b in m.buffers(recurse=False) if b.is_floating_point())
            act = 0 if isinstance(m, IN_PLACE) else t[0].numel() * elem if t.ndim else elem
            rows.append(LayerRow(n, type(m).__name__, tuple(t.shape), trainable + frozen + buffers,
                                 trainable, layer_macs(m, t), act))
        return hook

    handles = []
    for n, m in leaves:
        handles.append(m.register_forward_pre_hook(pre_hook(n)))
        handles.append(m.register_forward_hook(post_hook(n)))
    was_training = model.training
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    try:
        with torch.no_grad():
            model(torch.zeros(shape, dtype=dtype, device=device))
    except (RuntimeError, ValueError, IndexError) as e:
        raise _geometry_error(model, shape, current, e) from None
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    trainable, non_trainable = count_params(model)
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters()) + sum(
        b.numel() * b.element_size() for b in model.buffers() if b.is_floating_point())
    input_bytes = 1
    for d in shape[1:]:
        input_bytes *= d
    return Summary(name or type(model).__name__, shape, rows, trainable, non_trainable,
                   sum(r.macs for r in rows), input_bytes * elem + sum(r.activation_bytes for r in rows),
                   param_bytes)


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
