"""`classicnets summary MODEL`: the layer table, parameters, multiply-adds, memory and receptive fields."""
from __future__ import annotations

import argparse

from .options import count, parse_model_args


def add_parser(sub) -> None:
    s = sub.add_parser("summary", help="layer table, parameters, multiply-adds, activation memory")
    s.add_argument("model")
    s.add_argument("--input", help="input size: CxHxW for images, T for word ids, TxF for sequences "
                   "(default: the model's own)")
    s.add_argument("--dtype", choices=("float", "long"),
                   help="input type: long for word ids (default: the model's own)")
    s.add_argument("--batch", type=count(1), default=1, help="batch size for the memory totals (default: 1)")
    s.add_argument("--arg", action="append", metavar="KEY=VALUE", help="model builder option, repeatable")
    s.add_argument("--depth", type=count(1), help="fold modules this many levels down into one row each")
    s.add_argument("--fold-blocks", action="store_true",
                   help="one row per residual unit, Inception module, dense block, ...")
    s.add_argument("--strict", action="store_true",
                   help="fail (status 2) on a layer whose output size (W - F + 2P)/S + 1 drops input")
    s.add_argument("--head", metavar="SPEC", help="a new head on the model's base, e.g. "
                   "flatten,dense:256,dropout:0.5,dense (see `train --help`)")
    s.add_argument("--outputs", type=count(1), default=1,
                   help="outputs of the --head's last dense layer (default: 1, a binary task)")
    s.add_argument("--freeze", metavar="WHAT", help="count 'base', 'all' or matching modules as frozen "
                   "(non-trainable), as Keras does")
    s.add_argument("--fcn", metavar="CxHxW", help="show the fully convolutional conversion of a model "
                   "trained at this input size, applied to --input (e.g. --fcn 3x224x224 --input 3x384x384)")
    s.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    import torch

    from ..inspect import parse_input, summarize, to_fully_convolutional
    from ..runs.tasks.base import fill_model_args
    from ..terminal import terminal_width
    from ..zoo import create, model_info

    info = model_info(a.model)
    shape = parse_input(a.input, like=info.input_shape, model=a.model) if a.input else info.input_shape
    dtype = {"long": torch.long, "float": torch.float32}[a.dtype or info.input_dtype]
    native = parse_input(a.fcn, like=info.input_shape, model=a.model) if a.fcn else shape  # a converted model is built for its native input
    args = fill_model_args(a.model, parse_model_args(a.arg), native)
    with torch.device("meta"):  # shapes only: no memory for weights, no time for initialisation
        model = create(a.model, **args)
        if a.fcn:
            model = to_fully_convolutional(model, native)
        if a.head:
            from ..transfer.heads import with_head
            model = with_head(model, a.head, a.outputs, shape)
    if a.freeze:
        from ..transfer.heads import freeze
        freeze(model, a.freeze)
    name = f"{a.model} (fully convolutional)" if a.fcn else a.model
    s = summarize(model, shape, batch=a.batch, name=name, depth=a.depth, fold_blocks=a.fold_blocks,
                  strict=a.strict, dtype=dtype)
    s.render(print, width=terminal_width())  # a pipe gets whole rows
    return 0
