"""`classicnets extract RUN|MODEL`: a frozen base run once over a data set, its features cached
(transfer learning, method 1; `train --features` finds them)."""
from __future__ import annotations

import argparse
import time

from .options import PROG, add_data_options, parse_model_args


def add_parser(sub) -> None:
    x = sub.add_parser("extract", help="run a model's frozen base once over a data set and cache the features "
                       "(transfer learning, method 1)")
    x.add_argument("target", metavar="RUN|MODEL", help="a run directory, or a registry model name")
    add_data_options(x, data_help="data set (default: the run's, or digits)")
    x.add_argument("--weights", help="for a model name: weights file, run directory, or 'imagenet'")
    x.add_argument("--arg", action="append", metavar="KEY=VALUE", help="model builder option, repeatable")
    x.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    x.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from ..runs.run import extract_config, extract_features

    cfg = extract_config(a.target, model_args=parse_model_args(a.arg), data=a.data,
                         data_args=parse_model_args(a.data_arg, "data set"), data_dir=a.data_dir,
                         weights=a.weights, device=a.device)
    t0 = time.perf_counter()
    feats, path, reused = extract_features(cfg, log=lambda s: print(s, flush=True))
    shape = tuple(feats.train.x.shape[1:])
    n = sum(len(s) for s in (feats.train, feats.val, feats.test) if s is not None)
    if reused:
        print(f"Features of {n:,} examples, {shape} each, already cached in {path} ({time.perf_counter() - t0:.1f}s)")
    print(f"Train a head on them: {PROG} train --model {cfg.model} --data {cfg.data}"
          + (f" --weights {cfg.transfer.weights}" if cfg.transfer.weights else "")
          + " --head flatten,dense:256,dropout:0.5,dense --freeze base --features")
    return 0
