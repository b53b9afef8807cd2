"""`classicnets export RUN --format onnx|torchscript`: a run's model as one file other tools serve, checked
against PyTorch, with its preprocessing, classes and input shape in FILE.json beside it."""
from __future__ import annotations

import argparse

from .options import finite


def add_parser(sub) -> None:
    x = sub.add_parser("export", help="write a run's model as an ONNX or TorchScript file, checked against "
                       "PyTorch, with its preprocessing beside it (FILE.json)")
    x.add_argument("run", help="run directory")
    x.add_argument("--format", required=True, choices=("onnx", "torchscript"),
                   help="onnx (needs pip install 'classicnets[export]') or torchscript (torch.jit)")
    x.add_argument("--out", metavar="FILE", help="the file to write (default: RUN/model.onnx or RUN/model.pt)")
    x.add_argument("--dynamic-batch", action="store_true",
                   help="ONNX: any batch size (TorchScript files take any batch size always; a detector one image)")
    x.add_argument("--overwrite", action="store_true", help="replace FILE and FILE.json if they exist")
    x.add_argument("--tolerance", type=finite, metavar="T",
                   help="largest max relative difference from PyTorch accepted (default: 1e-5; the refusal says "
                        "when a model's own float32 rounding needs more)")
    x.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    import sys

    from ..runs.export import export_run

    result = export_run(a.run, a.format, a.out, dynamic_batch=a.dynamic_batch, overwrite=a.overwrite,
                        tolerance=a.tolerance, note=lambda s: print(s, file=sys.stderr, flush=True))
    print(result.summary())
    return 0
