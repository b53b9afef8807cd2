"""The `classicnets` command: a thin layer over the library.

Options of `train` are generated from the `TrainConfig` and `AugmentConfig` dataclasses (types,
choices, and the unit comments as help), and options left unset stay at the dataclass defaults.
A `UserError` prints one sentence and exits with status 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import re
import sys
import typing
from pathlib import Path
from typing import Any

from .errors import UserError

PROG = "classicnets"


# -- dataclass <-> argparse ------------------------------------------------------------------------
def _field_comments(cls: type) -> dict[str, str]:
    comments: dict[str, str] = {}
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # no source shipped (frozen or zipped install): help without comments
        return comments
    for line in source.splitlines():
        m = re.match(r"\s+(\w+):[^#]*#\s*(.+)$", line)
        if m:
            comments[m.group(1)] = m.group(2).strip()
    return comments


def add_dataclass_options(parser: argparse.ArgumentParser, cls: type, title: str) -> None:
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_ = f"{comments.get(f.name, '')} (default: {default})".replace("%", "%%")
        if tp is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                               help=help_)
        elif typing.get_origin(tp) is typing.Literal:
            group.add_argument(flag, dest=f.name, choices=typing.get_args(tp), default=None, help=help_)
        elif tp in (int, float, str):
            group.add_argument(flag, dest=f.name, type=tp, default=None, metavar=tp.__name__.upper(),
                               help=help_)
        else:
            raise TypeError(f"no command-line mapping for {cls.__name__}.{f.name}: {tp}")


def dataclass_from_args(cls: type, args: argparse.Namespace, base: Any | None = None) -> Any:
    """`base` (or defaults) with the fields given on the command line replaced; None means unset."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
             if getattr(args, f.name, None) is not None}
    return dataclasses.replace(base if base is not None else cls(), **given)


def parse_model_args(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"model option {pair!r} must be written KEY=VALUE, e.g. width=64")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


# -- commands --------------------------------------------------------------------------------------
def _progress_callbacks(mode: str):
    from .train.progress import EpochLogger, ProgressBar

    if mode == "auto":
        mode = "bar" if sys.stdout.isatty() and not os.environ.get("CI") else "plain"
    if mode == "bar":
        return [ProgressBar()]
    if mode == "plain":
        return [EpochLogger(lambda s: print(s, flush=True))]
    return []


def _fill_model_args(name: str, args: dict[str, Any], input_shape: tuple[int, ...],
                     num_classes: int | None = None, *, num_words: int | None = None,
                     per_step: bool | None = None) -> dict[str, Any]:
    """Give the builder what the data decide unless the user set it: the outputs, and the input's
    channels and size (images, (C, H, W)), length and vocabulary (word ids, (T,)), or length and
    features (sequences, (T, F))."""
    from .zoo import model_info

    params = model_info(name).arguments()
    given: dict[str, Any] = {"num_classes": num_classes, "num_words": num_words, "per_step": per_step or None}
    if len(input_shape) == 3:
        h, w = input_shape[1:]
        given.update(in_channels=input_shape[0], input_size=h if h == w else [h, w])
    elif len(input_shape) == 2:
        given.update(input_size=input_shape[0], in_features=input_shape[1])
    else:
        given["input_size"] = input_shape[0]
    filled = dict(args)
    for key, value in given.items():
        if value is not None and key in params and key not in filled:
            filled[key] = value
    return filled


def cmd_train(a: argparse.Namespace) -> int:
    import torch

    from .data import AugmentConfig, load_dataset
    from .fileio import write_json
    from .inspect import summarize
    from .runs import rundir
    from .runs.plots import plot_curves
    from .train import CSVLogger, Checkpoint, TrainConfig
    from .train.engine import environment, evaluate, fit, resolve_device

    if a.resume:
        run = Path(a.resume)
        cfg = rundir.read_config(run)
        if not (run / rundir.CHECKPOINT).exists():
            raise UserError(f"{run} has no checkpoint to resume from; it stopped before finishing an epoch")
        overrides = [f.name for cls in (TrainConfig, AugmentConfig) for f in dataclasses.fields(cls)
                     if getattr(a, f.name) is not None and f.name != "epochs"]
        if overrides or a.model or a.data or a.arg or a.data_dir or a.data_arg:
            raise UserError("--resume continues a run with its own settings; only --epochs may change")
        if a.epochs is not None and a.epochs != cfg.train.epochs:
            if cfg.train.schedule in ("onecycle", "cosine"):
                raise UserError(f"the {cfg.train.schedule} schedule is fixed to {cfg.train.epochs} "
                                f"epochs; start a new run to train longer")
            cfg.train.epochs = a.epochs
    else:
        base = rundir.RunConfig()
        if a.data and (Path(a.data).is_dir() or a.data.endswith(".npz")):
            a.data = str(Path(a.data).resolve())  # the run must find it again from anywhere
        cfg = rundir.RunConfig(model=a.model or base.model, data=a.data or base.data, data_dir=a.data_dir,
                               data_args=parse_model_args(a.data_arg), model_args=parse_model_args(a.arg),
                               train=dataclass_from_args(TrainConfig, a),
                               augment=dataclass_from_args(AugmentConfig, a, base.augment))
    device = resolve_device(cfg.train.device)
    data = load_dataset(cfg.data, data_dir=cfg.data_dir, **cfg.data_args)
    skipped = data.meta.get("skipped") or []
    if skipped:
        print(f"Skipped {len(skipped)} file(s) that are not readable images: {', '.join(skipped[:3])}"
              + (", ..." if len(skipped) > 3 else ""), file=sys.stderr)
    torch.manual_seed(cfg.train.seed)
    cfg.model_args = _fill_model_args(cfg.model, cfg.model_args, data.input_shape, data.num_outputs,
                                      num_words=data.meta.get("num_words"), per_step=data.meta.get("per_step"))
    from .zoo import create
    model = create(cfg.model, **cfg.model_args)
    # a clear error now if the input does not fit the model
    summarize(model, data.input_shape, dtype=torch.long if data.kind == "tokens" else torch.float32)

    if a.resume:
        run, resume = Path(a.resume), Path(a.resume) / rundir.CHECKPOINT
    else:
        run = Path(a.out) if a.out else rundir.new_run_dir(a.runs_dir, cfg.model, data.name)
        if (run / rundir.CHECKPOINT).exists() or (run / rundir.CONFIG).exists():
            raise UserError(f"{run} already holds a run; continue it with --resume {run} or choose "
                            f"another --out")
        resume = None
    normalization = data.normalization(cfg.train.normalize)
    command = " ".join([PROG, *sys.argv[1:]])
    if a.resume:  # keep the original record; note each resumption
        record = {**rundir.read_json(run / rundir.CONFIG, "run configuration"), **cfg.to_dict()}
        record.setdefault("resumed", []).append({"command": command, "device": str(device),
                                                 "environment": environment()})
    else:
        record = {**cfg.to_dict(), "device": str(device), "environment": environment(),
                  "command": command}
    write_json(run / rundir.CONFIG, record)
    vocab = data.vocab.truncated().to_dict() if data.vocab is not None else None
    rundir.write_card(run, rundir.ModelCard(cfg.model, cfg.model_args, list(data.input_shape), data.classes,
                                            normalization.to_dict() if normalization else None, cfg.data,
                                            cfg.data_args, data.task, vocab))
    mode = "none" if a.quiet else a.progress
    callbacks = [*_progress_callbacks(mode), CSVLogger(run / rundir.METRICS),
                 Checkpoint(run / rundir.CHECKPOINT)]
    if not a.quiet:
        print(f"Training {cfg.model} on {cfg.data} ({device}); run directory {run}", flush=True)
    try:
        history = fit(model, data, cfg.train, augment=cfg.augment, normalization=normalization,
                      callbacks=callbacks, resume=str(resume) if resume else None)
    except KeyboardInterrupt:
        print(f"\nInterrupted. Continue with: {PROG} train --resume {run}", file=sys.stderr)
        return 130
    rundir.save_model(run, model)
    plot_curves(history.history, run / rundir.CURVES, title=f"{cfg.model} on {cfg.data}")
    results: dict[str, Any] = {"epochs": len(history.epoch)}
    if data.test is not None:
        test = evaluate(model, data, split="test", normalization=normalization,
                        batch_size=cfg.train.eval_batch_size)
        results.update({f"test_{k}": v for k, v in test.items()})
        print(f"Test: {_metrics(test)} ({len(data.test):,} samples)")
    write_json(run / rundir.RESULTS, results)
    if not a.quiet:
        print(f"Saved {run}")
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .data import load_dataset
    from .fileio import write_json
    from .runs import rundir
    from .runs.plots import plot_confusion
    from .train.engine import evaluate

    model, card = rundir.load_model(a.run)
    cfg = rundir.read_config(a.run)
    data = load_dataset(card.data, data_dir=cfg.data_dir, **cfg.data_args)
    out = evaluate(model, data, split=a.split, normalization=card.norm, confusion=True, task=card.task)
    n = len(data.split(a.split))
    print(f"{a.split}: {_metrics(out)} ({n:,} samples)")
    results_path = Path(a.run) / rundir.RESULTS
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results.update({f"{a.split}_{k}": v for k, v in out.items() if k != "confusion"})
    if "confusion" not in out:  # regression: no classes to confuse
        write_json(results_path, results)
        return 0
    cm = out["confusion"]
    table = Table(title="Confusion matrix (rows: true class, columns: predicted)", title_justify="left")
    table.add_column("true \\ pred")
    for c in card.classes:
        table.add_column(c, justify="right")
    for i, c in enumerate(card.classes):
        table.add_row(c, *(str(int(v)) if v else "." for v in cm[i].tolist()))
    Console().print(table)
    png = Path(a.run) / f"confusion-{a.split}.png"
    plot_confusion(cm, card.classes, png, title=f"{card.name} on {card.data} ({a.split})")
    results[f"{a.split}_confusion"] = cm.tolist()
    write_json(results_path, results)
    print(f"Saved {png}")
    return 0


def cmd_predict(a: argparse.Namespace) -> int:
    import torch
    from rich.console import Console
    from rich.table import Table

    from .data.files import read_inputs
    from .runs import rundir
    from .train.engine import predict

    model, card = rundir.load_model(a.run)
    norm = card.norm
    if a.text:
        if a.files:
            raise UserError("give either files or --text, not both")
        x = torch.from_numpy(card.vocabulary.encode_padded(a.text))
        names = [t if len(t) <= 60 else t[:57] + "..." for t in a.text]
    elif not a.files:
        raise UserError("nothing to predict: give image or .npy files, or --text \"some words\" for a text model")
    elif card.vocab is not None:
        raise UserError(f"{card.name} reads text; pass it with --text \"...\"")
    else:
        names, x = read_inputs(a.files, tuple(card.input_shape), norm.max_value if norm else 1.0,
                               invert=a.invert)
    probs = predict(model, x, normalization=norm, task=card.task)
    if card.task == "regression":
        for name, v in zip(names, probs.tolist()):
            print(f"{name}: {v}")
        return 0
    if card.task == "binary":
        table = Table()
        table.add_column("input", overflow="fold")
        table.add_column("class")
        table.add_column(f"P({card.classes[1]})", justify="right")
        for name, (_, p) in zip(names, probs.tolist()):
            table.add_row(name, card.classes[int(p > 0.5)], f"{p:.1%}")
        Console(width=max(80, Console().width)).print(table)
        return 0
    k = max(1, min(a.top_k, len(card.classes)))
    top_p, top_i = probs.topk(k, dim=1)
    table = Table()
    table.add_column("input", overflow="fold")
    table.add_column("class")
    table.add_column(f"top {k}" if k > 1 else "probability")
    for name, ps, idx in zip(names, top_p.tolist(), top_i.tolist()):
        table.add_row(name, card.classes[idx[0]],
                      ", ".join(f"{card.classes[i]} {p:.1%}" for p, i in zip(ps, idx)))
    Console(width=max(80, Console().width)).print(table)
    return 0


def cmd_summary(a: argparse.Namespace) -> int:
    import torch

    from .inspect import parse_input, summarize, to_fully_convolutional
    from .zoo import create, model_info

    info = model_info(a.model)
    shape = parse_input(a.input) if a.input else info.input_shape
    dtype = {"long": torch.long, "float": torch.float32}[a.dtype or info.input_dtype]
    native = parse_input(a.fcn) if a.fcn else shape  # a converted model is built for its native input
    args = _fill_model_args(a.model, parse_model_args(a.arg), native)
    with torch.device("meta"):  # shapes only: no memory for weights, no time for initialisation
        model = create(a.model, **args)
        if a.fcn:
            model = to_fully_convolutional(model, native)
    name = f"{a.model} (fully convolutional)" if a.fcn else a.model
    s = summarize(model, shape, batch=a.batch, name=name, depth=a.depth, fold_blocks=a.fold_blocks,
                  strict=a.strict, dtype=dtype)
    s.render(print)
    return 0


def cmd_study(a: argparse.Namespace) -> int:
    from rich.console import Console

    from .fileio import write_json
    from .studies import VanishingGradients

    for opt in ("length", "units", "train_length"):
        if getattr(a, opt) < 2:
            raise UserError(f"--{opt.replace('_', '-')} must be at least 2; got {getattr(a, opt)}")
    if a.epochs < 0:
        raise UserError(f"--epochs must be 0 or more; got {a.epochs}")
    study = VanishingGradients(length=a.length, units=a.units, epochs=a.epochs, train_length=a.train_length,
                               seed=a.seed).run(log=lambda s: print(s, flush=True))
    Console(width=max(100, Console().width)).print(study.table())
    out = Path(a.out)
    study.plot(out / "vanishing-gradients.png")
    write_json(out / "vanishing-gradients.json", study.to_dict())
    print(f"Saved {out / 'vanishing-gradients.png'} and {out / 'vanishing-gradients.json'}")
    return 0


def _metrics(out: dict[str, Any]) -> str:
    return " - ".join(f"{k} {out[k]:.4f}" for k in ("loss", "acc") if k in out)


def cmd_models(a: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .zoo import list_models, model_info

    names = list_models(a.pattern)
    if not names:
        raise UserError(f"no model matches {a.pattern!r}; `{PROG} models` lists them all")
    table = Table()
    for col in ("model", "input", "params", "description"):
        table.add_column(col, justify="right" if col == "params" else "left")
    for n in names:
        i = model_info(n)
        table.add_row(n, "x".join(map(str, i.input_shape)),
                      f"{i.num_params:,}" if i.num_params else "-", i.description)
    Console(width=max(100, Console().width)).print(table)
    return 0


def cmd_datasets(a: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .data import list_datasets

    table = Table()
    for col in ("data set", "classes", "input", "splits", "description"):
        table.add_column(col)
    for d in list_datasets():
        table.add_row(d.name, str(d.classes), "x".join(map(str, d.input_shape)), d.splits,
                      f"{d.description}\n{d.license}; {d.citation}")
    Console(width=max(100, Console().width)).print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .data import AugmentConfig
    from .train import TrainConfig

    p = argparse.ArgumentParser(prog=PROG, description="Build, inspect, train and compare the "
                                "classic convolutional and recurrent networks.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model (default: lenet on the bundled digits)",
                       description="Train a model. With no options: lenet on scikit-learn's digits.")
    t.add_argument("--model", help="registry name (default: lenet); see `classicnets models`")
    t.add_argument("--data", help="data set name (default: digits; see `classicnets datasets`), an image "
                   "folder with one sub-folder per class, or a .npz file with x_train/y_train")
    t.add_argument("--arg", action="append", metavar="KEY=VALUE", help="model builder option, repeatable")
    t.add_argument("--data-arg", action="append", metavar="KEY=VALUE",
                   help="data set option, repeatable: e.g. num_words=5000 and maxlen=100 for imdb, "
                        "length=100 for adding, size=128 for an image folder")
    t.add_argument("--data-dir", help="directory holding the data set's files if you already have them "
                   "(otherwise they are downloaded into $CLASSICNETS_DATA, default ~/.cache/classicnets)")
    t.add_argument("--out", help="run directory (default: RUNS_DIR/<time>-<model>-<data>)")
    t.add_argument("--runs-dir", default="runs", help="where new run directories go (default: runs)")
    t.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its checkpoint")
    t.add_argument("--progress", choices=("auto", "bar", "plain", "none"), default="auto",
                   help="bar on a terminal, plain epoch lines in logs (default: auto)")
    t.add_argument("-q", "--quiet", action="store_true", help="print only the test result")
    add_dataclass_options(t, TrainConfig, "training")
    add_dataclass_options(t, AugmentConfig, "augmentation (applied to training batches only)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="test loss, accuracy and confusion matrix of a run")
    e.add_argument("run", help="run directory")
    e.add_argument("--split", choices=("test", "val", "train"), default="test")
    e.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="classify images (PNG/JPEG), .npy arrays or text with a run's model")
    pr.add_argument("run", help="run directory")
    pr.add_argument("files", nargs="*", metavar="FILE")
    pr.add_argument("--text", action="append", metavar="TEXT",
                    help="text for a model trained on text (repeatable), encoded with the run's vocabulary")
    pr.add_argument("-k", "--top-k", type=int, default=3, help="classes to show per input (default: 3)")
    pr.add_argument("--invert", action="store_true",
                    help="invert image intensities (dark ink on light paper, for models trained on "
                         "light-on-dark data such as digits and MNIST)")
    pr.set_defaults(func=cmd_predict)

    s = sub.add_parser("summary", help="layer table, parameters, multiply-adds, activation memory")
    s.add_argument("model")
    s.add_argument("--input", help="input size: CxHxW for images, T for word ids, TxF for sequences "
                   "(default: the model's own)")
    s.add_argument("--dtype", choices=("float", "long"),
                   help="input type: long for word ids (default: the model's own)")
    s.add_argument("--batch", type=int, default=1, help="batch size for the memory totals (default: 1)")
    s.add_argument("--arg", action="append", metavar="KEY=VALUE", help="model builder option, repeatable")
    s.add_argument("--depth", type=int, help="fold modules this many levels down into one row each")
    s.add_argument("--fold-blocks", action="store_true",
                   help="one row per residual unit, Inception module, dense block, ...")
    s.add_argument("--strict", action="store_true",
                   help="fail (status 2) on a layer whose output size (W - F + 2P)/S + 1 drops input")
    s.add_argument("--fcn", metavar="CxHxW", help="show the fully convolutional conversion of a model "
                   "trained at this input size, applied to --input (e.g. --fcn 3x224x224 --input 3x384x384)")
    s.set_defaults(func=cmd_summary)

    m = sub.add_parser("models", help="list registered models")
    m.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'vgg*'")
    m.set_defaults(func=cmd_models)

    st = sub.add_parser("study", help="experiments that teach (vanishing-gradients)",
                        description="vanishing-gradients: ||dL/dx_t|| per time step for SimpleRNN, LSTM and "
                        "GRU, at initialisation and after training on the adding problem; a table and a PNG.")
    st.add_argument("name", choices=("vanishing-gradients",))
    st.add_argument("--length", type=int, default=100, help="steps of the measured sequences (default: 100)")
    st.add_argument("--units", type=int, default=32, help="width of each network (default: 32)")
    st.add_argument("--epochs", type=int, default=8,
                    help="training epochs on the adding problem before measuring again; 0: initialisation only "
                         "(default: 8, about a minute per network on 2 CPU cores)")
    st.add_argument("--train-length", type=int, default=50, help="steps of the training sequences (default: 50)")
    st.add_argument("--seed", type=int, default=0)
    st.add_argument("--out", default="studies", help="directory for the PNG and JSON (default: studies)")
    st.set_defaults(func=cmd_study)

    d = sub.add_parser("datasets", help="list data sets")
    d.set_defaults(func=cmd_datasets)
    return p


def run_cli(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> None:
    """Console entry point: exits with `run_cli`'s status."""
    sys.exit(run_cli(argv))


if __name__ == "__main__":
    main()
