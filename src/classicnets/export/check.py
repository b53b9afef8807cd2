"""The check every export ends with: the file, run in its own runtime, against the PyTorch model.

The measure is the largest error of an output relative to that output's largest magnitude:

    relative_difference(a, b) = max_i |a_i - b_i| / max(max_i |b_i|, 1e-6)

for the exported output `a` and PyTorch's `b` (each output tensor on its own; the check reports the
worst over outputs and inputs). Per-element ratios |a_i - b_i| / |b_i| would be meaningless where
b_i is near 0 (a logit crossing zero, a box at the image's edge); scaling by the output's largest
value says how far the file is from the model in the units its outputs actually use. The floor
1e-6 keeps an all-zero output from dividing by zero: there, differences are absolute and must stay
below 1e-11. Integer outputs (a detector's labels) must be equal, and shapes (how many detections)
must agree. An export passes at `TOLERANCE` = 1e-5: float32 rounding in another runtime's kernels
gives 1e-7..1e-6, a wrong graph gives differences of order 1.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..errors import UserError

TOLERANCE = 1e-5
FLOOR = 1e-6
DEFINITION = "max |exported - pytorch| / max(max |pytorch|, 1e-6), per output tensor, worst over outputs and inputs"


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max(max |b|, FLOOR) (see the module docstring); inf for differing shapes, or for
    differing values of an integer output; NaN stays NaN, so it fails every comparison."""
    if a.shape != b.shape:
        return math.inf
    if b.numel() == 0:
        return 0.0
    if not b.is_floating_point():
        return 0.0 if torch.equal(a.to(b.dtype), b) else math.inf
    a, b = a.double(), b.double()
    return float((a - b).abs().max()) / max(float(b.abs().max()), FLOOR)


def vocabulary_size(model: nn.Module) -> int:
    """How many word ids `model` reads: the rows of its (smallest) embedding table."""
    sizes = [m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)]
    if not sizes:
        raise UserError(f"{type(model).__name__} has no embedding layer, so it cannot take word ids; "
                        f"export it with input dtype 'float'")
    return min(sizes)


def random_inputs(model: nn.Module, input_shape: Sequence[int], input_dtype: str, n: int = 3,
                  seed: int = 0) -> torch.Tensor:
    """`n` inputs the model can take, from a generator of its own (the global one is left alone):
    standard normal values for images and sequences (what normalised data looks like), uniformly
    drawn word ids below the embedding's size for text."""
    g = torch.Generator().manual_seed(seed)
    if input_dtype == "long":
        return torch.randint(0, vocabulary_size(model), (n, *input_shape), generator=g)
    return torch.randn((n, *input_shape), generator=g)


def compare(reference: Callable[[torch.Tensor], Sequence[torch.Tensor]],
            exported: Callable[[torch.Tensor], Sequence[torch.Tensor]], batches: Sequence[torch.Tensor],
            names: Sequence[str]) -> tuple[float, str, str | None, int]:
    """(worst relative difference, the output it is in, None, rows compared) over `batches`, or (inf or
    NaN, output, what differs, rows) when an output's shape or an integer output differs, or NaN
    appears. Rows: the first output's, summed over batches (examples for a classifier, detections for
    a detector)."""
    worst, where, rows = 0.0, names[0], 0
    for x in batches:
        ref, out = tuple(reference(x)), tuple(exported(x))
        rows += len(ref[0]) if ref and ref[0].ndim else 0
        if len(ref) != len(out):
            return math.inf, where, f"it gives {len(out)} outputs where PyTorch gives {len(ref)}", rows
        for name, a, b in zip(names, out, ref):
            if a.shape != b.shape:
                detail = f"its '{name}' output has shape {tuple(a.shape)} where PyTorch's has {tuple(b.shape)}"
                return math.inf, name, detail, rows
            d = relative_difference(a, b)
            if d == math.inf:
                return d, name, f"its '{name}' output differs from PyTorch's (integer values)", rows
            if math.isnan(d):
                return d, name, f"its '{name}' output or PyTorch's holds NaN", rows
            if d > worst:
                worst, where = d, name
    return worst, where, None, rows
