"""`classicnets pretrained NAME --weights FILE|imagenet --out RUN`: a run directory made from published
weights, without training, so evaluate, predict, report, export, compare and `--weights RUN` use it."""
from __future__ import annotations

import argparse
import sys

from .options import PROG, parse_model_args


def add_parser(sub) -> None:
    p = sub.add_parser("pretrained", help="make a run directory from published weights (no training), for "
                       "evaluate, predict, report and export")
    p.add_argument("model", metavar="NAME", help="registry name of the model the weights are for")
    p.add_argument("--weights", default="imagenet", help="a weights file (torchvision .pth, Keras .h5/.weights.h5/"
                   ".keras, safetensors), a name in $CLASSICNETS_WEIGHTS, or 'imagenet', the published file "
                   "(default: imagenet)")
    p.add_argument("--out", help="run directory (default: RUNS_DIR/<time>-<model>-<data>)")
    p.add_argument("--runs-dir", default="runs", help="where new run directories go (default: runs)")
    p.add_argument("--arg", action="append", metavar="KEY=VALUE", help="model builder option, repeatable "
                   "(e.g. alpha=0.25 for a MobileNet file of that width)")
    p.add_argument("--classes", metavar="FILE", help="the class names, one a line, for weights that are not "
                   "ImageNet's 1,000 classes")
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from ..runs.pretrained import write_pretrained_run
    from .predict import read_classes

    run_dir, p = write_pretrained_run(a.model, a.weights, a.out, runs_dir=a.runs_dir,
                                      model_args=parse_model_args(a.arg),
                                      classes=read_classes(a.classes) if a.classes else None,
                                      command=" ".join([PROG, *sys.argv[1:]]))
    print(f"{p.describe()}; saved {run_dir}")
    print(f"Use it: {PROG} predict {run_dir} IMAGE... | {PROG} export {run_dir} --format onnx | "
          f"{PROG} evaluate {run_dir} --data FOLDER")
    return 0
