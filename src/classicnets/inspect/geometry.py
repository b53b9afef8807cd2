"""Layer geometry, as the course teaches it: output sizes, receptive fields, invalid architectures.

For a convolution or pooling with input size W, kernel F, padding P, stride S (and dilation D):
    W_out = (W - F + 2P) / S + 1                      (F replaced by D(F-1)+1 when dilated)
The course calls a non-integer W_out an invalid architecture; PyTorch floors it silently. When
the remainder r = (W - F + 2P) mod S is at most P, only zero padding goes unread (ResNet's 7x7/2
stem on 224x224: 112.5 -> 112), so nothing is lost and we accept it, as we accept layers
whose kernel is smaller than their stride (1x1/2 projections), which subsample by design; when r > P, the last r - P
rows or columns of the real input are never seen, and `check_layer` reports it with a fix.

Receptive field RF and effective stride J (input pixels between neighbouring outputs) propagate as
    RF_out = RF_in + (F_eff - 1) * J_in,   J_out = J_in * S.
"""
from __future__ import annotations

import math

from torch import nn

from ..blocks import PadShortcut

GEOMETRIC = (nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)
ADAPTIVE = (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
TRANSPOSED = nn.modules.conv._ConvTransposeNd  # upsampling: neither formula above applies


def _tuple(v, n: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def kernel_geometry(m: nn.Module, n: int) -> tuple[tuple, tuple, tuple, tuple]:
    """(kernel, stride, padding, dilation) per spatial axis of a conv or pooling layer."""
    k = _tuple(m.kernel_size, n)
    s = _tuple(m.stride if m.stride is not None else m.kernel_size, n)
    p = _tuple(m.padding, n) if not isinstance(m.padding, str) else tuple(
        (d * (kk - 1)) // 2 for kk, d in zip(k, _tuple(getattr(m, "dilation", 1), n)))
    d = _tuple(getattr(m, "dilation", 1), n)
    return k, s, p, d


def check_layer(name: str, m: nn.Module, in_size: tuple[int, ...]) -> list[str]:
    """Problems of a conv/pooling layer for a spatial input size: one sentence each, with a fix.
    Transposed convolutions spread every input position over the output: none to report."""
    if not isinstance(m, GEOMETRIC) or getattr(m, "ceil_mode", False) or isinstance(m, TRANSPOSED):
        return []
    k, s, p, d = kernel_geometry(m, len(in_size))
    found: dict[tuple, list[int]] = {}  # the same problem on several axes is reported once
    for axis, (w, kk, ss, pp, dd) in enumerate(zip(in_size, k, s, p, d)):
        f = dd * (kk - 1) + 1
        span = w - f + 2 * pp
        if f < ss or span < 0 or span % ss <= pp:
            continue  # subsampling by design; too small is PyTorch's own error; padding-only loss is fine
        found.setdefault((w, f, ss, pp, span), []).append(axis)
    out = []
    for (w, f, ss, pp, span), axes in found.items():
        fixes = (["stride 1"] if ss > 1 else []) + [f"padding {q}" for q in range(pp + 1, pp + f + 1)
                                                    if (w - f + 2 * q) % ss <= q][:1]
        names = ("rows", "columns", "slices") if len(in_size) > 1 else ("steps",)
        what = " and ".join(names[a] for a in axes)
        out.append(f"layer '{name}' ({type(m).__name__}): (W - F + 2P)/S + 1 = ({w} - {f} + {2 * pp})/{ss} + 1"
                   f" = {span / ss + 1:g} is not an integer; the last {span % ss - pp} input {what} are "
                   f"never seen (PyTorch floors to {span // ss + 1}); use {' or '.join(fixes)}")
    return out


def propagate(m: nn.Module, in_size: tuple[int, ...], out_size: tuple[int, ...],
              rf: tuple[int, ...], jump: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(receptive field, effective stride) after layer `m`; None once spatial structure is gone."""
    n = len(in_size)
    if isinstance(m, TRANSPOSED):  # a fractional stride: not followed
        return None
    if isinstance(m, GEOMETRIC):
        k, s, _, d = kernel_geometry(m, n)
        return (tuple(r + d_ * (kk - 1) * j for r, kk, d_, j in zip(rf, k, d, jump)),
                tuple(j * ss for j, ss in zip(jump, s)))
    if isinstance(m, ADAPTIVE):
        k = tuple(math.ceil(i / max(o, 1)) for i, o in zip(in_size, out_size))
        s = tuple(max(1, i // max(o, 1)) for i, o in zip(in_size, out_size))
        return tuple(r + (kk - 1) * j for r, kk, j in zip(rf, k, jump)), tuple(j * ss for j, ss in zip(jump, s))
    if isinstance(m, PadShortcut):
        return rf, tuple(j * m.stride for j in jump)
    if len(out_size) != n:  # flatten, dense: every output sees the whole input
        return None
    return rf, jump
