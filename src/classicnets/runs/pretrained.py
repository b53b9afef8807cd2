"""Published weights used as they are: predictions without a run directory, a run directory made from
them (`classicnets pretrained`), and the data such a run is evaluated on.

    predict_published("resnet18", "resnet18-f37072fd.pth", PredictRequest(files=["cat.jpg"]))
    write_pretrained_run("resnet18", "imagenet", "runs/resnet18-imagenet")

A run made from published weights has a trained run's files (`record`): config.json (with a
"pretrained" entry naming the weights, and no training), model.json (ImageNet's class names, the input
shape, the weights' own preprocessing and resizing), model.safetensors, metrics.csv (its header alone:
no epoch was trained) and results.json (0 epochs). `evaluate`, `predict`, `report`, `export`,
`compare` and `--weights RUN` read it as any other run. ImageNet is not a data set classicnets
downloads, so `evaluate` takes the user's labelled images (`--data`), whose classes are matched to
the model's by name (`evaluation_data`).
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..record import CARD, CONFIG, METRICS, RESULTS, WEIGHTS, ModelCard
from .tasks.base import PredictRequest

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def published(name: str, weights: str | os.PathLike, *, model_args: Mapping[str, Any] | None = None,
              classes: Sequence[str] | None = None, input_shape: Sequence[int] | None = None):
    """`transfer.pretrained` for the commands: (Pretrained, its model card). Weights that say nothing of
    their preprocessing (a plain state dict or safetensors file) are fed pixels scaled to 0..1 (x / 255),
    written in the card: a card without a normalisation would mean statistics fitted on whatever data
    `evaluate` is given, and `predict` and `evaluate` must feed the model alike."""
    from ..data.core import Normalization
    from ..transfer.published import pretrained

    p = pretrained(name, weights, model_args=model_args, input_shape=input_shape, classes=classes)
    if p.preprocessing is None and len(p.input_shape) == 3:
        p.preprocessing = Normalization.scale(p.input_shape[0], 255.0)
    return p, ModelCard(**p.card_fields())


def predict_published(name: str, weights: str | os.PathLike, request: PredictRequest, *,
                      model_args: Mapping[str, Any] | None = None, classes: Sequence[str] | None = None,
                      input_shape: Sequence[int] | None = None, out: Log = print, note: Log = _stderr) -> None:
    """`classicnets predict --model NAME --weights W FILE...`: the zoo's `name` with `weights` (published
    ImageNet weights, or any with `classes`) classifies the files, read the weights' way (their
    preprocessing; torchvision's shorter side to 256 and centre crop), without training and without a
    run directory. `note` gets one line saying what was loaded."""
    from . import tasks

    if request.out is not None or request.score_threshold is not None:
        raise UserError("--out and --score-threshold are for detection runs; published classifier weights "
                        "print their predictions")
    if request.texts:
        raise UserError("--text is for runs trained on text; published weights classify images")
    p, card = published(name, weights, model_args=model_args, classes=classes, input_shape=input_shape)
    note(p.describe())
    tasks.for_card(card.task).load().predict(Path(str(weights)), p.model, card, request, out)


def write_pretrained_run(name: str, weights: str | os.PathLike, out: str | os.PathLike | None = None, *,
                         runs_dir: str | os.PathLike = "runs", model_args: Mapping[str, Any] | None = None,
                         classes: Sequence[str] | None = None, input_shape: Sequence[int] | None = None,
                         command: str | None = None) -> tuple[Path, Any]:
    """A run directory (`out`, or a new one under `runs_dir`) holding the zoo's `name` with published
    `weights`, as if trained: (its path, the `Pretrained`). Refused, with nothing left behind, where
    the weights are not a whole classifier (see `transfer.pretrained`) or `out` holds a run."""
    from ..config import RunConfig, TransferConfig
    from ..fileio import write_json, write_text
    from ..record import write_card
    from ..train.engine import environment
    from .run import claim_run_dir
    from .rundir import save_model

    _check_out(out, runs_dir)  # before the weights are read (or downloaded)
    source = Path(weights).expanduser()
    if str(weights) != "imagenet" and (source / CARD).is_file():
        raise UserError(f"{weights} is a classicnets run already; evaluate, predict, report or export it as it is")
    p, card = published(name, weights, model_args=model_args, classes=classes, input_shape=input_shape)
    cfg = RunConfig(model=name, model_args=dict(p.model_args), data=p.data,
                    transfer=TransferConfig(weights=str(weights)))
    loaded = {"weights_file": str(p.report.path), "format": p.report.format, "loaded": len(p.report.loaded),
              "preprocessing": card.normalization, "resize": card.resize}
    record = {**cfg.to_dict(), "pretrained": {**loaded, "trained_epochs": 0}, "device": "cpu",
              "environment": environment(), "command": command or "classicnets.runs.pretrained.write_pretrained_run"}
    run, created = claim_run_dir(out, runs_dir, cfg, record)
    try:
        save_model(run, p.model)
        write_card(run, card)
        write_text(run / METRICS, "epoch\n")   # no epoch trained: a header, no rows
        write_json(run / RESULTS, {"epochs": 0, "wall_time_s": 0.0})  # last: the run is finished
    except BaseException as e:
        for f in (RESULTS, METRICS, CARD, WEIGHTS, CONFIG):
            with contextlib.suppress(OSError):
                (run / f).unlink()
        if created:
            with contextlib.suppress(OSError):
                run.rmdir()
        if isinstance(e, OSError):
            raise UserError(f"cannot write in {run}: {e.strerror or e}; nothing was kept") from None
        raise
    return run, p


def _check_out(out: str | os.PathLike | None, runs_dir: str | os.PathLike) -> None:
    from ..record import run_state
    from .run import refuse_existing_run

    if out is None:
        if Path(runs_dir).exists() and not Path(runs_dir).is_dir():
            raise UserError(f"--runs-dir {runs_dir} is a file, not a directory")
        return
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {path} is a file, not a directory; name a new directory for the run")
    if run_state(path) != "empty":
        refuse_existing_run(path)


def is_pretrained(run: str | os.PathLike) -> bool:
    """Whether `run` was made from published weights (its config.json has a "pretrained" entry)."""
    from ..record import read_json
    record = read_json(Path(run) / CONFIG, "run configuration")
    return isinstance(record, dict) and isinstance(record.get("pretrained"), dict)


def evaluation_data(run: str | os.PathLike, card: ModelCard, cfg, data: str | None = None,
                    data_args: dict[str, Any] | None = None, data_dir: str | None = None):
    """The data set `classicnets evaluate RUN` scores: the run's own, or `data` (with `data_args`,
    `data_dir`) where given. Another data set's classes are matched to the model's by name, its labels
    renumbered to the model's outputs, so a 1,000-class ImageNet model is scored on a folder of a few of
    its classes. A run from published ImageNet weights needs `data`: ImageNet is not downloaded."""
    from ..data import load_dataset

    if data is None:
        if is_pretrained(run):
            what = ("published weights trained on ImageNet, which classicnets does not download" if card.data ==
                    "imagenet" else f"the weights of {Path(card.data).name}, which do not say what they were trained on")
            raise UserError(f"{run} holds {what}; evaluate them on labelled images of your own with --data (an "
                            f"image folder whose sub-folders are named as {CARD}'s classes, or a .npz)")
        return with_runs_splits(load_dataset(card.data, data_dir=cfg.data_dir, **cfg.data_args), cfg.train)
    loaded = load_dataset(data, data_dir=data_dir, **(data_args or {}))
    return match_classes(loaded, card)


def with_runs_splits(data, train_cfg):
    """The run's own data set split as the run split it: a validation split held out of the training
    images (`--val-split`) is held out again, the same images (stratified and seeded by the run's
    seed, or the last fraction), so `evaluate --split val` scores what the run validated on and
    `--split train` what it trained on."""
    if not train_cfg.val_split or getattr(data, "val", None) is not None or train_cfg.validate_on == "test":
        return data
    import dataclasses

    from ..train.engine import resolve_splits
    train, val = resolve_splits(data, None, train_cfg)
    return dataclasses.replace(data, train=train, val=val)


def match_classes(data, card: ModelCard):
    """`data` with the model's classes: labels renumbered by class name where `data` holds some of
    the model's classes (in any order); refused where a class is not the model's, or its inputs are
    not the model's shape."""
    import dataclasses

    import torch

    if card.task == "detection" or getattr(data, "kind", None) == "detection":
        raise UserError("evaluating on another data set (--data) is for classifiers; a detection run is "
                        "evaluated on its own data set")
    shape = list(data.input_shape)
    if shape != list(card.input_shape):
        hint = f" (an image folder takes --data-arg size={card.input_shape[-1]})" if len(shape) == 3 else ""
        raise UserError(f"{data.name}'s inputs are {'x'.join(map(str, shape))} and the model takes "
                        f"{'x'.join(map(str, card.input_shape))}{hint}")
    if list(data.classes) == list(card.classes) or card.task == "regression":
        return data
    index = {}
    for i, c in enumerate(card.classes):
        index.setdefault(c, []).append(i)
    for c in data.classes:
        if c not in index:
            raise UserError(f"{data.name} has a class {c!r} that the model does not know; its classes are "
                            f"model.json's ({len(card.classes):,}, e.g. {', '.join(map(repr, card.classes[:3]))})")
        if len(index[c]) > 1:
            raise UserError(f"the model has {len(index[c])} classes named {c!r} (outputs "
                            f"{', '.join(map(str, index[c]))}), so labels of that name cannot be matched; "
                            f"leave that class out")
    lookup = torch.tensor([index[c][0] for c in data.classes])
    splits = {s: dataclasses.replace(getattr(data, s), y=lookup[getattr(data, s).y])
              for s in ("train", "val", "test") if getattr(data, s) is not None}
    return dataclasses.replace(data, classes=list(card.classes), **splits)
