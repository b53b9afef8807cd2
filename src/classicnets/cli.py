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
import math
import os
import re
import sys
import typing
from pathlib import Path
from typing import Any

from .data.augment_config import AugmentConfig
from .errors import UserError, check_range
from .train.config import TrainConfig
from .transfer.config import TransferConfig

PROG = "classicnets"


class Parser(argparse.ArgumentParser):
    """argparse, with its mistakes reported as every other user error is: one line, status 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


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
            group.add_argument(flag, dest=f.name, type=_finite if tp is float else tp, default=None,
                               metavar=tp.__name__.upper(), help=help_)
        else:
            raise TypeError(f"no command-line mapping for {cls.__name__}.{f.name}: {tp}")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)  # argparse: "invalid _finite value" -> renamed below
    return value


_finite.__name__ = "finite number"


def _depths(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated whole numbers, "20,56"."""
    return tuple(int(part) for part in text.split(","))


_depths.__name__ = "list of depths"


def _fraction(text: str) -> float:
    """argparse type: a number from 0 to 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1; got {text}")
    return value


_fraction.__name__ = "number from 0 to 1"


def _count(low: int):
    """argparse type: an integer of at least `low`."""
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}; got {value}")
        return value
    parse.__name__ = "integer"
    return parse


def dataclass_from_args(cls: type, args: argparse.Namespace, base: Any | None = None) -> Any:
    """`base` (or defaults) with the fields given on the command line replaced; None means unset."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
             if getattr(args, f.name, None) is not None}
    return dataclasses.replace(base if base is not None else cls(), **given)


def parse_model_args(pairs: list[str] | None, kind: str = "model") -> dict[str, Any]:
    """KEY=VALUE pairs (--arg, --data-arg) as a dict; values read as JSON where they can be (64, 0.5, true)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            example = "width=64" if kind == "model" else "maxlen=100"
            raise UserError(f"{kind} option {pair!r} must be written KEY=VALUE, e.g. {example}")
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


def cmd_train(a: argparse.Namespace) -> int:
    if a.nproc is not None and a.nproc > 1:
        return _launch_torchrun(a)
    if _rank():  # another process of a data parallel run: rank 0 shows the progress and says what happened
        a.quiet, a.tensorboard = True, False
    import signal

    from .train.preemption import raise_preempted
    previous = signal.signal(signal.SIGTERM, raise_preempted)  # outside the loop: unwind, cleaning up
    try:
        return _train(a)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _rank() -> int:
    """This process's rank under torchrun (0 otherwise), without importing torch."""
    if not all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR")):
        return 0
    try:
        return int(os.environ["RANK"])
    except ValueError:
        return 0


def _launch_torchrun(a: argparse.Namespace) -> int:
    """`train --nproc N ...` is `torchrun --standalone --nproc_per_node N -m classicnets.cli train ...`."""
    import signal
    import subprocess

    if _rank() or "MASTER_ADDR" in os.environ:
        raise UserError("--nproc starts torchrun itself; under torchrun leave it out")
    argv, rest = list(a.argv), []
    while argv:
        arg = argv.pop(0)
        if arg == "--nproc":
            argv.pop(0)
        elif not arg.startswith("--nproc="):
            rest.append(arg)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={a.nproc}",
           "-m", "classicnets.cli", *rest]
    proc = subprocess.Popen(cmd)
    received: list[int] = []

    def forward(signum, frame):  # SIGTERM to torchrun, which passes it on to every process
        received.append(signum)
        proc.send_signal(signum)
    previous = signal.signal(signal.SIGTERM, forward)
    # Ctrl-C reaches torchrun and its processes from the terminal already: wait for them to save and stop
    previous_int = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        code = proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    if received:  # the processes saved their position and printed how to continue
        return 128 + received[0]
    return 128 - code if code < 0 else code


def _train(a: argparse.Namespace) -> int:
    from .runs import rundir
    from .runs.run import resume_run, train_run

    command = " ".join([PROG, *sys.argv[1:]])
    mode = "none" if a.quiet else a.progress
    log = (lambda s: None) if a.quiet else (lambda s: print(s, flush=True))

    callbacks = _progress_callbacks(mode)
    tensorboard = None
    if a.tensorboard:
        from .runs.tensorboard import TENSORBOARD, TensorBoard
        tensorboard = TensorBoard()  # one sentence now, before any work, if the package is missing
        callbacks.append(tensorboard)

    def header(run: Path, p) -> None:
        from .runs.run import describe_settings
        if tensorboard is not None:
            tensorboard.log_dir = run / TENSORBOARD
        log(f"Training {p.config.model} on {p.config.data} ({p.device}); run directory {run}")
        if provenance is not None:
            changed = ", ".join(f"{k} {v['recipe']} -> {v['now']}" for k, v in provenance["overridden"].items())
            from .recipes import CourseFigure
            log(f"Recipe {provenance['name']} (course: {CourseFigure(**provenance['course']).describe()})"
                + (f"; overridden: {changed}" if changed else ""))
        log(f"Settings: {describe_settings(p.config, p.data)}")

    provenance = None
    if a.resume:
        overrides = [f.name for cls in (TrainConfig, AugmentConfig, TransferConfig) for f in dataclasses.fields(cls)
                     if getattr(a, f.name) is not None and f.name != "epochs"]
        if overrides or a.model or a.data or a.arg or a.data_dir or a.data_arg or a.out or a.recipe:
            raise UserError("--resume continues a run with its own settings; only --epochs may change")
        try:
            result = resume_run(a.resume, epochs=a.epochs, callbacks=callbacks, command=command,
                                on_start=header, log=print, note=log, warn=_warn())
        except KeyboardInterrupt as e:
            return _interrupted(Path(a.resume), e)
        if result.finished_before:
            print(f"{result.run} has already finished its {result.resumed_from} epochs; nothing to resume "
                  f"(`{PROG} evaluate {result.run}` uses it)", file=sys.stderr)
            return 0
    else:
        base = rundir.RunConfig()
        if a.data and (Path(a.data).is_dir() or a.data.endswith(".npz")):
            a.data = str(Path(a.data).resolve())  # the run must find it again from anywhere
        if a.recipe:  # the course's settings, with the options given here on top
            from .recipes import apply_overrides, get_recipe
            given = lambda cls: {f.name: getattr(a, f.name) for f in dataclasses.fields(cls)  # noqa: E731
                                 if getattr(a, f.name) is not None}
            cfg, provenance = apply_overrides(
                get_recipe(a.recipe), model=a.model, data=a.data, model_args=parse_model_args(a.arg),
                data_args=parse_model_args(a.data_arg, "data set"), train=given(TrainConfig),
                augment=given(AugmentConfig), transfer=given(TransferConfig))
            cfg.data_dir = a.data_dir
        else:
            cfg = rundir.RunConfig(model=a.model or base.model, data=a.data or base.data, data_dir=a.data_dir,
                                   data_args=parse_model_args(a.data_arg, "data set"),
                                   model_args=parse_model_args(a.arg),
                                   train=dataclass_from_args(TrainConfig, a),
                                   augment=dataclass_from_args(AugmentConfig, a, base.augment),
                                   transfer=dataclass_from_args(TransferConfig, a))
        claimed: list[Path] = []

        def start(run: Path, p) -> None:
            claimed.append(run)
            header(run, p)
        try:
            result = train_run(cfg, out=a.out, runs_dir=a.runs_dir, callbacks=callbacks, warn=_warn(),
                               command=command, on_start=start, log=print, recipe=provenance, note=log)
        except KeyboardInterrupt as e:
            return _interrupted(claimed[0] if claimed else None, e)
    return 0


def _warn():
    """Where notes go: stderr, on rank 0 only under torchrun."""
    return (lambda s: None) if _rank() else (lambda s: print(s, file=sys.stderr, flush=True))


def _interrupted(run: Path | None, e: KeyboardInterrupt) -> int:
    """Say where training stopped and how to go on; the status is 128 + the signal (130 Ctrl-C, 143 SIGTERM)."""
    from .runs import rundir
    status = getattr(e, "status", 130)  # preemption.Preempted carries its signal
    if _rank():
        return status
    what = "Stopped by SIGTERM" if status == 143 else "Interrupted"
    epoch, step = getattr(e, "epoch", None), getattr(e, "step", None)
    if epoch is not None:
        what += f" in epoch {epoch + 1} after step {step} (saved)" if step else f" after epoch {epoch} (saved)"
    if run is not None and rundir.run_state(run) == "interrupted":
        print(f"\n{what}. Continue with: {PROG} train --resume {run}", file=sys.stderr)
    else:
        print(f"\n{what} before the first checkpoint; nothing was kept.", file=sys.stderr)
    return status


def cmd_evaluate(a: argparse.Namespace) -> int:
    from .data import load_dataset
    from .fileio import write_json
    from .runs import rundir
    from .runs.confusion import TABLE_MAX_CLASSES, render_confusions
    from .runs.run import format_metrics
    from .train.engine import evaluate

    model, card = rundir.load_model(a.run)
    cfg = rundir.read_config(a.run)
    results = rundir.read_results(a.run)  # a damaged file is refused before any work
    data = load_dataset(card.data, data_dir=cfg.data_dir, **cfg.data_args)
    if card.task == "detection":
        return _evaluate_detection(a, model, card, cfg, data, results)
    out = evaluate(model, data, split=a.split, normalization=card.norm, confusion=True, task=card.task)
    n = len(data.split(a.split))
    print(f"{a.split}: {format_metrics(out)} ({n:,} samples)")
    if isinstance(results.get("course"), dict):
        _print_course(results["course"], a.split, out)
    results.update({f"{a.split}_{k}": v for k, v in out.items() if k != "confusion"})
    if "confusion" in out:  # regression has no classes to confuse
        cm = out["confusion"]
        if len(card.classes) <= TABLE_MAX_CLASSES:
            _print_confusion(cm, card.classes)
        else:  # a table of 100 columns reads as nothing: the largest confusions instead
            render_confusions(cm, card.classes, print)
        png = Path(a.run) / f"confusion-{a.split}.png"
        from .runs.plots import plot_confusion
        plot_confusion(cm, card.classes, png, title=f"{card.name} on {card.data} ({a.split})")
        results[f"{a.split}_confusion"] = cm.tolist()
        print(f"Saved {png}")
    write_json(Path(a.run) / rundir.RESULTS, results)
    return 0


def _evaluate_detection(a: argparse.Namespace, model, card, cfg, data, results: dict[str, Any]) -> int:
    """`evaluate` for a detector: VOC AP@0.5 per class, its mean and COCO mAP@[.5:.95], into results.json."""
    from .detection.evaluate import evaluate_detector, render_scores
    from .detection.train import EVAL_BATCH_CAP
    from .fileio import write_json
    from .runs import rundir

    if getattr(data, "kind", None) != "detection":
        raise UserError(f"{card.data} is no longer a detection data set; {a.run} holds a detector")
    scores = evaluate_detector(model, data.split(a.split), normalization=card.norm, classes=card.classes,
                               batch_size=min(cfg.train.eval_batch_size, EVAL_BATCH_CAP))
    render_scores(scores, a.split, print)
    results.update(scores.to_dict(f"{a.split}_"))
    write_json(Path(a.run) / rundir.RESULTS, results)
    return 0


def _print_course(course: dict[str, Any], split: str, out: dict[str, Any]) -> None:
    from .recipes import CourseFigure
    try:
        fig = CourseFigure(**{k: v for k, v in course.items() if k != "run_value"})
    except TypeError:
        return  # not a figure this version wrote
    mine = f"{out['acc']:.2%} {split}" if "acc" in out else f"{split}_loss {out['loss']:.4f}"
    print(f"course: {fig.describe()} ({fig.metric}) · this evaluation: {mine}")


def _print_confusion(cm, classes: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Confusion matrix (rows: true class, columns: predicted)", title_justify="left")
    table.add_column("true \\ pred")
    for c in classes:
        table.add_column(c, justify="right")
    for i, c in enumerate(classes):
        table.add_row(c, *(str(int(v)) if v else "." for v in cm[i].tolist()))
    Console().print(table)


def cmd_predict(a: argparse.Namespace) -> int:
    import torch

    from .data.files import read_inputs, read_sequences
    from .runs import rundir
    from .train.engine import predict

    model, card = rundir.load_model(a.run)
    if card.task == "detection":
        return _predict_detection(a, model, card)
    if a.out is not None or a.score_threshold is not None:
        raise UserError(f"--out and --score-threshold are for detection runs; {a.run} holds a classifier "
                        f"({card.name}), whose predictions are printed")
    norm = card.norm
    shape = tuple(card.input_shape)
    if a.text:
        if a.files:
            raise UserError("give either files or --text, not both")
        x = torch.from_numpy(card.vocabulary.encode_padded(a.text))
        names = [t if len(t) <= 60 else t[:57] + "..." for t in a.text]
    elif not a.files:
        what = ("--text \"some words\"" if card.vocab is not None
                else ".npy arrays of sequences" if len(shape) < 3 else "image or .npy files")
        raise UserError(f"nothing to predict: give {what}")
    elif card.vocab is not None:
        raise UserError(f"{card.name} reads text; pass it with --text \"...\"")
    elif len(shape) < 3:  # word ids (T,) or sequences (T, F)
        names, x = read_sequences(a.files, shape)
    else:
        names, x = read_inputs(a.files, shape, norm.max_value if norm else 1.0, invert=a.invert)
    probs = predict(model, x, normalization=norm, task=card.task)
    if card.task != "regression" and probs.shape[-1] != max(len(card.classes), 2 if card.task == "binary" else 0):
        raise UserError(f"model description {Path(a.run) / rundir.CARD} is damaged: it names "
                        f"{len(card.classes)} classes for a model with {probs.shape[-1]} outputs")
    _print_predictions(names, probs, card, a.top_k)
    return 0


def _predict_detection(a: argparse.Namespace, model, card) -> int:
    """`predict` for a detector: each image with its detections drawn (boxes, class names, scores, masks),
    written as a PNG, and the detections printed in the image's own pixel coordinates."""
    import io

    import torch
    import torch.nn.functional as F

    from .data.files import IMAGE_SUFFIXES, decode_image, read_image
    from .detection.draw import draw_detections
    from .fileio import write_bytes

    if a.text:
        raise UserError(f"{card.name} detects objects in images; give image files, not --text")
    if not a.files:
        raise UserError("nothing to predict: give image files (PNG/JPEG)")
    files = [Path(f) for f in a.files]
    for f in files:
        if f.suffix.lower() not in IMAGE_SUFFIXES:
            raise UserError(f"cannot detect objects in {f}: give PNG/JPEG images")
    out = Path(a.out) if a.out is not None else None
    if out is not None and len(files) > 1 and out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; with several images --out names a directory for their pictures")
    threshold = 0.5 if a.score_threshold is None else a.score_threshold
    c, h, w = card.input_shape
    norm = card.norm
    model.eval()
    for f in files:
        original = decode_image(f, "RGB")                                # what the picture is drawn on
        x = read_image(f, (c, h, w), norm.max_value if norm else 255.0, a.invert)  # (1, C, H, W) raw units
        xn = norm(x) if norm is not None else x
        with torch.no_grad():
            if getattr(model, "needs_proposals", False):
                from .detection.proposals import proposals_for
                raw = (x * (255.0 / (norm.max_value if norm else 255.0))).round().clamp(0, 255).to(torch.uint8)
                det = model(xn, [{"proposals": proposals_for(raw)[0]}])[0]
            else:
                det = model(xn)[0]
        keep = det["scores"] >= threshold
        w0, h0 = original.size
        scale = torch.tensor([w0 / w, h0 / h, w0 / w, h0 / h])
        boxes = det["boxes"][keep].float().cpu() * scale                # in the image's own pixels
        labels, scores = det["labels"][keep].cpu(), det["scores"][keep].float().cpu()
        masks = None
        if "masks" in det and keep.any():
            masks = F.interpolate(det["masks"][keep].float().cpu()[:, None], size=(h0, w0), mode="bilinear",
                                  align_corners=False)[:, 0].numpy()
        picture = draw_detections(original, boxes.numpy(), labels.numpy(), scores.numpy(), card.classes, masks)
        if out is None:
            target = f.with_name(f"{f.stem}-detections.png")
        elif len(files) > 1 or out.is_dir():
            target = out / f"{f.stem}-detections.png"
        else:
            target = out
        buf = io.BytesIO()
        picture.save(buf, format="PNG")
        try:
            write_bytes(target, buf.getvalue())
        except OSError as e:
            raise UserError(f"cannot write {target}: {e.strerror or e}") from None
        print(f"{f}: {len(boxes)} detection{'s' * (len(boxes) != 1)} with score >= {threshold:g} -> {target}")
        for (x1, y1, x2, y2), lab, sc in zip(boxes.tolist(), labels.tolist(), scores.tolist()):
            name = card.classes[lab] if 0 <= lab < len(card.classes) else str(lab)
            print(f"  {name:<12} {sc:.3f}  box {x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}")
    return 0


def _print_predictions(names: list[str], probs, card, top_k: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(80, Console().width))
    if card.task == "regression":
        for name, v in zip(names, probs.reshape(len(probs), -1).tolist()):
            print(f"{name}: {' '.join(f'{x:.4f}' for x in v)}")
        return
    if probs.ndim == 3:  # a class per time step (the copy task): the predicted sequence
        for name, steps in zip(names, probs.argmax(-1).tolist()):
            print(f"{name}: {' '.join(card.classes[i] for i in steps)}")
        return
    table = Table()
    table.add_column("input", overflow="fold")
    table.add_column("class")
    if card.task == "binary":
        table.add_column(f"P({card.classes[1]})", justify="right")
        for name, (_, p) in zip(names, probs.tolist()):
            table.add_row(name, card.classes[int(p > 0.5)], f"{p:.1%}")
        console.print(table)
        return
    k = max(1, min(top_k, len(card.classes)))
    top_p, top_i = probs.topk(k, dim=1)
    table.add_column(f"top {k}" if k > 1 else "probability")
    for name, ps, idx in zip(names, top_p.tolist(), top_i.tolist()):
        table.add_row(name, card.classes[idx[0]],
                      ", ".join(f"{card.classes[i]} {p:.1%}" for p, i in zip(ps, idx)))
    console.print(table)


def cmd_summary(a: argparse.Namespace) -> int:
    import torch

    from .inspect import parse_input, summarize, to_fully_convolutional
    from .runs.run import fill_model_args
    from .zoo import create, model_info

    info = model_info(a.model)
    shape = parse_input(a.input) if a.input else info.input_shape
    dtype = {"long": torch.long, "float": torch.float32}[a.dtype or info.input_dtype]
    native = parse_input(a.fcn) if a.fcn else shape  # a converted model is built for its native input
    args = fill_model_args(a.model, parse_model_args(a.arg), native)
    with torch.device("meta"):  # shapes only: no memory for weights, no time for initialisation
        model = create(a.model, **args)
        if a.fcn:
            model = to_fully_convolutional(model, native)
        if a.head:
            from .transfer.heads import with_head
            model = with_head(model, a.head, a.outputs, shape)
    if a.freeze:
        from .transfer.heads import freeze
        freeze(model, a.freeze)
    name = f"{a.model} (fully convolutional)" if a.fcn else a.model
    s = summarize(model, shape, batch=a.batch, name=name, depth=a.depth, fold_blocks=a.fold_blocks,
                  strict=a.strict, dtype=dtype)
    s.render(print)
    return 0


def _output_dir(path: str, option: str = "--out") -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UserError(f"{option} {out} is a file, not a directory; name a directory")
    return out


def cmd_study(a: argparse.Namespace) -> int:
    from .studies.registry import STUDIES, get_study

    if a.list:
        if a.name:
            raise UserError(f"give either a study's name or --list, not both (--list names every study)")
        _print_studies(STUDIES)
        return 0
    if not a.name:
        raise UserError(f"name a study, one of {', '.join(STUDIES)} (`{PROG} study --list` says what each tests)")
    info = get_study(a.name)
    given = {k: getattr(a, k) for k in _study_options(STUDIES) if getattr(a, k) is not None}
    for key in given:  # refused before any work: the registry knows each study's options without torch
        if key not in info.options:
            takes = [n for n, i in STUDIES.items() if key in i.options]
            raise UserError(f"--{key.replace('_', '-')} does not apply to {a.name}; it is an option of "
                            f"{', '.join(takes)}")
    out = _output_dir(a.out)
    study = info.load()(**given).validate()  # one sentence for a value out of range, before any work

    from rich.console import Console

    from .fileio import write_json
    study.run(log=lambda s: print(s, flush=True), callbacks=_progress_callbacks("auto"))
    Console().print(study.table())
    print(study.finding())
    png, record = out / f"{a.name}.png", out / f"{a.name}.json"
    study.plot(png)
    write_json(record, {"study": a.name, "course": {"file": info.claim.file, "line": info.claim.line,
                                                     "quote": info.claim.quote}, **study.to_dict()})
    print(f"Saved {png} and {record}")
    return 0


def _study_options(studies) -> list[str]:
    """Every option some study takes (field names), in the order first declared."""
    return list(dict.fromkeys(k for info in studies.values() for k in info.options))


def _print_studies(studies) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(caption=escape(f"Run one: {PROG} study NAME [options]; its table is printed, and a PNG and a "
                                 f"JSON of every number go to --out (default: studies)"))
    table.add_column("study", no_wrap=True)
    table.add_column("course", no_wrap=True)
    table.add_column("the sentence it tests; what is measured; options (default)", min_width=30)
    for name, info in studies.items():
        opts = " ".join(f"--{k.replace('_', '-')} {_option_text(v)}" for k, v in info.options.items())
        table.add_row(name, info.claim.where(),
                      escape(f"\"{info.claim.quote}\"") + f"\n[dim]{escape(info.measures)}\n{escape(opts)}[/dim]",
                      end_section=True)
    Console().print(table)


def _option_text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else f"{value:g}" if isinstance(value, float) \
        else str(value)


def cmd_models(a: argparse.Namespace) -> int:
    import fnmatch

    from rich.console import Console
    from rich.table import Table

    from .catalog import load

    models = [m for m in load()["models"] if fnmatch.fnmatch(m["name"], a.pattern)]
    if not models:
        raise UserError(f"no model matches {a.pattern!r}; `{PROG} models` lists them all")
    table = Table()
    for col in ("model", "input", "params", "description"):
        table.add_column(col, justify="right" if col == "params" else "left", no_wrap=col != "description")
    for m in models:
        table.add_row(m["name"], "x".join(map(str, m["input"])), f"{m['params']:,}", m["description"])
    Console().print(table)
    return 0


def cmd_extract(a: argparse.Namespace) -> int:
    import time

    from .runs import rundir
    from .runs.run import extract_features

    target = Path(a.target)
    if target.is_dir():  # a run: its model, its final weights, its preprocessing; the data may change
        cfg = rundir.read_config(target)
        if a.weights or a.arg:
            raise UserError("a run directory brings its own model and weights; leave out --weights and --arg")
        cfg.transfer = TransferConfig(weights=str(target))
        cfg.model_args = {k: v for k, v in cfg.model_args.items() if k != "num_classes"}
        if a.data:
            cfg.data, cfg.data_args, cfg.data_dir = a.data, parse_model_args(a.data_arg, "data set"), a.data_dir
    else:
        from .runs.rundir import RunConfig
        cfg = RunConfig(model=a.target, model_args=parse_model_args(a.arg), data=a.data or "digits",
                        data_dir=a.data_dir, data_args=parse_model_args(a.data_arg, "data set"),
                        transfer=TransferConfig(weights=a.weights or ""))
    cfg.train = dataclasses.replace(cfg.train, device=a.device)
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


def cmd_recipes(a: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .recipes import list_recipes

    recipes = list_recipes(a.pattern)
    if not recipes:
        raise UserError(f"no recipe matches {a.pattern!r}; `{PROG} recipes` lists them all")
    table = Table(caption=f"Run one: {PROG} train --recipe NAME [options that override it]")
    table.add_column("recipe", no_wrap=True)
    table.add_column("model", overflow="fold")
    table.add_column("data", overflow="fold")
    table.add_column("epochs", justify="right")
    table.add_column("the course's result", min_width=22)
    for r in recipes:
        table.add_row(r.name, r.model, r.data, str(r.train["epochs"]), r.figure.describe())
    Console().print(table)
    return 0


def cmd_datasets(a: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .catalog import load

    table = Table()
    for col in ("data set", "classes", "input", "splits", "description"):
        table.add_column(col)
    for d in load()["datasets"]:
        table.add_row(d["name"], str(d["classes"]), "x".join(map(str, d["input"])), d["splits"],
                      f"{d['description']}\n{d['license']}; {d['citation']}")
    Console().print(table)
    return 0


def cmd_compare(a: argparse.Namespace) -> int:
    from rich.console import Console

    from .runs import compare

    if not a.runs and not Path("runs").is_dir():
        raise UserError("there is no runs directory here; name run directories or a directory holding them")
    rows = compare.collect(a.runs or ["runs"])
    if a.sort:
        rows = compare.sort_rows(rows, a.sort, reverse=a.reverse)
    elif a.reverse:
        rows.reverse()
    if a.plot:
        if Path(a.plot).is_dir():
            raise UserError(f"--plot {a.plot} is a directory; name a PNG file")
        try:
            compare.plot_runs(rows, a.plot)
        except OSError as e:
            raise UserError(f"cannot write --plot {a.plot}: {e.strerror}") from None
    if a.csv:
        sys.stdout.write(compare.to_csv(rows))
    elif a.json:
        sys.stdout.write(compare.to_json(rows))
    else:
        compare.render(rows, print, width=Console().width)
    if a.plot:
        print(f"Saved {a.plot}", file=sys.stderr if a.csv or a.json else sys.stdout)
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from .runs.report import write_report

    try:
        path = write_report(a.run)
    except OSError as e:  # a read-only or full disk, no permission
        raise UserError(f"cannot write the report in {a.run}: {e.strerror}") from None
    print(f"Saved {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Build, inspect, train and compare the "
                                "classic convolutional and recurrent networks.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model (default: lenet on the bundled digits)",
                       description="Train a model. With no options: lenet on scikit-learn's digits.")
    t.add_argument("--recipe", help="one of the course's experiments with all its settings (see `classicnets "
                   "recipes`); any option given beside it overrides the recipe's value")
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
    t.add_argument("--tensorboard", action="store_true",
                   help="also write per-epoch scalars to RUN/tensorboard/ (pip install 'classicnets[tensorboard]')")
    t.add_argument("--nproc", type=_count(1), metavar="N",
                   help="data parallel training in N processes on this machine: starts `torchrun --standalone "
                        "--nproc_per_node N -m classicnets.cli train ...` (one per GPU; on the CPU, Gloo); "
                        "--batch-size stays the global batch")
    t.add_argument("-q", "--quiet", action="store_true",
                   help="print only the test result: silent until training ends, which can take minutes")
    add_dataclass_options(t, TrainConfig, "training")
    add_dataclass_options(t, AugmentConfig, "augmentation (applied to training batches only)")
    add_dataclass_options(t, TransferConfig, "transfer learning (see the user guide)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="test loss, accuracy and confusion matrix of a run (a detector: AP "
                       "per class, mAP@0.5, COCO mAP)")
    e.add_argument("run", help="run directory")
    e.add_argument("--split", choices=("test", "val", "train"), default="test")
    e.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="classify images (PNG/JPEG), .npy arrays or text with a run's model; "
                        "a detector draws its boxes onto each image")
    pr.add_argument("run", help="run directory")
    pr.add_argument("files", nargs="*", metavar="FILE")
    pr.add_argument("--text", action="append", metavar="TEXT",
                    help="text for a model trained on text (repeatable), encoded with the run's vocabulary")
    pr.add_argument("-k", "--top-k", type=_count(1), default=3, help="classes to show per input (default: 3)")
    pr.add_argument("--invert", action="store_true",
                    help="invert image intensities (dark ink on light paper, for models trained on "
                         "light-on-dark data such as digits and MNIST)")
    pr.add_argument("--out", metavar="FILE", help="detection runs: where the picture with the detections drawn "
                    "goes (a directory for several images; default: IMAGE-detections.png beside each image)")
    pr.add_argument("--score-threshold", type=_fraction, metavar="P",
                    help="detection runs: show detections scoring at least this (default: 0.5)")
    pr.set_defaults(func=cmd_predict)

    s = sub.add_parser("summary", help="layer table, parameters, multiply-adds, activation memory")
    s.add_argument("model")
    s.add_argument("--input", help="input size: CxHxW for images, T for word ids, TxF for sequences "
                   "(default: the model's own)")
    s.add_argument("--dtype", choices=("float", "long"),
                   help="input type: long for word ids (default: the model's own)")
    s.add_argument("--batch", type=_count(1), default=1, help="batch size for the memory totals (default: 1)")
    s.add_argument("--arg", action="append", metavar="KEY=VALUE", help="model builder option, repeatable")
    s.add_argument("--depth", type=_count(1), help="fold modules this many levels down into one row each")
    s.add_argument("--fold-blocks", action="store_true",
                   help="one row per residual unit, Inception module, dense block, ...")
    s.add_argument("--strict", action="store_true",
                   help="fail (status 2) on a layer whose output size (W - F + 2P)/S + 1 drops input")
    s.add_argument("--head", metavar="SPEC", help="a new head on the model's base, e.g. "
                   "flatten,dense:256,dropout:0.5,dense (see `train --help`)")
    s.add_argument("--outputs", type=_count(1), default=1,
                   help="outputs of the --head's last dense layer (default: 1, a binary task)")
    s.add_argument("--freeze", metavar="WHAT", help="count 'base', 'all' or matching modules as frozen "
                   "(non-trainable), as Keras does")
    s.add_argument("--fcn", metavar="CxHxW", help="show the fully convolutional conversion of a model "
                   "trained at this input size, applied to --input (e.g. --fcn 3x224x224 --input 3x384x384)")
    s.set_defaults(func=cmd_summary)

    m = sub.add_parser("models", help="list registered models")
    m.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'vgg*'")
    m.set_defaults(func=cmd_models)

    from .studies.registry import STUDIES
    st = sub.add_parser("study", help=f"experiments that teach: a course sentence measured ({', '.join(STUDIES)})",
                        description="Turn a sentence of the course into a measurement: a table, a PNG and a JSON "
                        "of every number. " + " ".join(f"{n}: {i.measures}." for n, i in STUDIES.items())
                        + f" `{PROG} study --list` quotes the sentence each tests. Options apply to the studies "
                        "named in their help; each study has its own defaults.")
    st.add_argument("name", nargs="?", choices=tuple(STUDIES), metavar="NAME",
                    help=f"one of {', '.join(STUDIES)}")
    st.add_argument("--list", action="store_true", help="name every study with the course sentence it tests")

    def study_option(flag: str, kind, what: str, **kw) -> None:
        key = flag[2:].replace("-", "_")
        defaults = ", ".join(f"{n} {_option_text(i.options[key])}" for n, i in STUDIES.items() if key in i.options)
        st.add_argument(flag, type=kind, default=None, help=f"{what} (default: {defaults})".replace("%", "%%"), **kw)
    study_option("--length", int, "steps of the sequences the gradients are measured on; shared-weights: inputs "
                 "of the 1D convolution")
    study_option("--units", int, "width of each recurrent network")
    study_option("--epochs", int, "training epochs (vanishing-gradients: 0 measures at initialisation only)")
    study_option("--train-length", int, "steps of the training sequences (the adding problem)")
    study_option("--data", str, "image data set to train on (see `classicnets datasets`), e.g. cifar10 for the "
                 "course's setting", metavar="NAME")
    study_option("--depths", _depths, "two CIFAR network depths to compare, shallow first", metavar="D1,D2")
    study_option("--width", int, "filters of the networks' first stage (the paper's 16)")
    study_option("--lr", _finite, "learning rate per step")
    study_option("--kernel", int, "weights of the 1D convolution's filter")
    study_option("--radius", _finite, "spectral radius of the SimpleRNN's recurrent weights (past 1: exploding)")
    study_option("--clip-norm", _finite, "the clipped run's gradient norm limit (the training option --clip-norm)")
    study_option("--clip-value", _finite, "the clipped run's gradient value limit, 0: off (the training option "
                 "--clip-value)")
    study_option("--train-size", int, "training examples used, a seeded sample (0: the whole training split)")
    study_option("--seed", int, "seeds weights, data and batch order")
    st.add_argument("--out", default="studies", help="directory for the PNG and JSON (default: studies)")
    st.set_defaults(func=cmd_study)

    c = sub.add_parser("compare", help="one row per run: accuracy, parameters, time, the course's figure",
                       description="Compare runs: one row per run directory (a DIR means every run one or two "
                       "levels below it; default: runs). Interrupted, resumed and damaged runs are listed "
                       "with their status.")
    c.add_argument("runs", nargs="*", metavar="RUN|DIR", help="run directories, or directories holding them")
    c.add_argument("--sort", metavar="COLUMN", help="order by a column: run, model, data, params, epochs, time, "
                   "best_val, best_epoch, test, course, diff, status, or any --csv field; runs without a "
                   "value come last")
    c.add_argument("--reverse", action="store_true", help="largest first (or the listing order reversed)")
    fmt = c.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="write CSV to stdout instead of the table")
    fmt.add_argument("--json", action="store_true", help="write JSON to stdout instead of the table")
    c.add_argument("--plot", metavar="FILE", help="PNG of the runs' validation accuracy curves overlaid "
                   "(training accuracy, else loss, for runs without)")
    c.set_defaults(func=cmd_compare)

    r = sub.add_parser("report", help="one self-contained HTML page of a run (RUN/report.html)",
                       description="Write RUN/report.html: recipe and overrides, the course's figure beside "
                       "the run's, curves, confusion matrices, layer table and environment, in one file "
                       "with its images inside (no network, no other files).")
    r.add_argument("run", help="run directory")
    r.set_defaults(func=cmd_report)

    x = sub.add_parser("extract", help="run a model's frozen base once over a data set and cache the features "
                       "(transfer learning, method 1)")
    x.add_argument("target", metavar="RUN|MODEL", help="a run directory, or a registry model name")
    x.add_argument("--data", help="data set (default: the run's, or digits)")
    x.add_argument("--data-arg", action="append", metavar="KEY=VALUE", help="data set option, repeatable")
    x.add_argument("--data-dir", help="directory holding the data set's files")
    x.add_argument("--weights", help="for a model name: weights file, run directory, or 'imagenet'")
    x.add_argument("--arg", action="append", metavar="KEY=VALUE", help="model builder option, repeatable")
    x.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    x.set_defaults(func=cmd_extract)

    r = sub.add_parser("recipes", help="list the course's experiments, runnable with train --recipe NAME")
    r.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'imdb*'")
    r.set_defaults(func=cmd_recipes)

    d = sub.add_parser("datasets", help="list data sets")
    d.set_defaults(func=cmd_datasets)
    return p


def run_cli(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # argparse has printed its one line (or the help)
            return e.code if isinstance(e.code, int) else 0
        args.argv = list(sys.argv[1:] if argv is None else argv)
        return args.func(args)
    except UserError as e:
        # under torchrun rank 0 speaks for all, unless this process is the one that failed
        if not _rank() or getattr(e, "always_print", False):
            print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C (or SIGTERM) while starting up or reading data: nothing to keep
        if not _rank():
            print(f"\n{PROG}: interrupted", file=sys.stderr)
        return getattr(e, "status", 130)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: exits with `run_cli`'s status."""
    sys.exit(run_cli(argv))


if __name__ == "__main__":
    main()
