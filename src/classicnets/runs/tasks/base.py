"""The task seam: `Task`, what the run path, the command line and `compare` ask of a task, and what
the tasks share (a prepared run, the model built to the data's measure)."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import RunConfig
from ...errors import UserError
from . import TaskInfo

Log = Callable[[str], None]


@dataclass
class Prepared:
    """What a run needs once its settings are known: its task, checked data, a built model, its normalisation."""

    config: RunConfig
    data: Any                      # data.Dataset (or detection's DetectionDataset)
    model: Any                     # torch.nn.Module, initialised from config.train.seed
    normalization: Any             # data.Normalization or None
    device: Any                    # torch.device
    task: Task = None              # the run's task (set by `Task.prepare`)
    transfer: dict[str, Any] = dataclasses.field(default_factory=dict)  # what loading weights did


@dataclass
class PredictRequest:
    """What `classicnets predict` was asked: inputs (files, or texts for a text model) and how to show them."""

    files: list[str]
    texts: list[str] | None = None
    top_k: int = 3
    invert: bool = False
    out: str | None = None               # detection: where the pictures go
    score_threshold: float | None = None  # detection: detections shown from this score


class Task:
    """One kind of run (see `runs.tasks`); `info` is its metadata."""

    def __init__(self, info: TaskInfo):
        self.info = info

    @property
    def name(self) -> str:
        return self.info.name

    def prepare(self, cfg: RunConfig, data, device, warn: Log, base_only: bool = False) -> Prepared:
        """Check the data against the model and the settings, build the model from the run's seed,
        choose the inputs' normalisation: everything before the run directory is made. `base_only`:
        only the base's outputs will be used (`classicnets extract`), so published weights are read
        without their classifier (`transfer.setup.apply_transfer`)."""
        raise NotImplementedError

    def fit(self, p: Prepared, callbacks: list, resume: str | None, log: Log):
        """Train `p.model` (resuming from checkpoint `resume`); the run's `History`."""
        raise NotImplementedError

    def test(self, p: Prepared, log: Log) -> dict[str, Any]:
        """The test split's scores for results.json ("test_..." keys), the "Test: ..." line logged."""
        raise NotImplementedError

    def evaluate(self, run: Path, model, card, cfg: RunConfig, data, split: str, results: dict[str, Any],
                 out: Log) -> dict[str, Any]:
        """`classicnets evaluate`: the split's scores printed through `out` (and pictures saved in
        `run`), returned as results.json entries ("<split>_..." keys)."""
        raise NotImplementedError

    def predict(self, run: Path, model, card, request: PredictRequest, out: Log) -> None:
        """`classicnets predict`: the model's answers for the request's inputs, printed through `out`."""
        raise NotImplementedError

    def higher_is_better(self, monitor: str) -> bool:
        """Whether `monitor` (a history column: loss, val_acc, val_map50, ...) improves upwards."""
        score = self.info.score
        return score is not None and monitor.removeprefix("val_") == score


def fill_model_args(name: str, args: dict[str, Any], input_shape: tuple[int, ...],
                    num_classes: int | None = None, *, num_words: int | None = None,
                    per_step: bool | None = None) -> dict[str, Any]:
    """Give the builder what the data decide unless the user set it: the outputs, and the input's
    channels and size (images, (C, H, W)), length and vocabulary (word ids, (T,)), or length and
    features (sequences, (T, F))."""
    from ...zoo import model_info

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


def fill_for_data(cfg: RunConfig, data, outputs: int, what: str) -> None:
    """`cfg.model_args` completed from the data (`fill_model_args`), refusing a `num_classes` the user
    set that does not fit the data's `outputs`, described as `what` ("10 classes"; None: regression's
    outputs are not classes, any count is the user's)."""
    from ...zoo import model_info

    user_args = dict(cfg.model_args)
    meta = getattr(data, "meta", {})
    cfg.model_args = fill_model_args(cfg.model, cfg.model_args, data.input_shape, outputs,
                                     num_words=meta.get("num_words"), per_step=meta.get("per_step"))
    if what is not None and "num_classes" in user_args and model_info(cfg.model).arguments().get("num_classes") is not None \
            and user_args["num_classes"] != outputs:
        raise UserError(f"--arg num_classes={user_args['num_classes']} does not fit the data: {data.name} has "
                        f"{what}; leave num_classes out and it follows the data")


def check_tta(tta: str, data) -> None:
    """Test-time augmentation mirrors images: refused, in one sentence, for any other data."""
    if tta != "none" and data.kind != "image":
        raise UserError(f"--tta {tta} mirrors images; {data.name} holds {data.kind} data")


def check_data_against_card(run: Path, card, data) -> None:
    """`UserError` unless `data` is what `run`'s model was trained on, as its card recorded it: the same
    input shape and classes. A .npz or folder replaced since would otherwise fail deep inside the model
    ("mat1 and mat2 shapes cannot be multiplied") or be scored against the wrong class names."""
    shape, then = tuple(data.input_shape), tuple(card.input_shape)
    changes = []
    if shape != then:
        changes.append(f"inputs of shape {'x'.join(map(str, shape))} where the model takes {'x'.join(map(str, then))}")
    classes, known = list(data.classes), list(card.classes)
    if len(classes) != len(known):
        changes.append(f"{len(classes)} classes where the model has {len(known)}")
    elif classes != known:
        first = next(i for i, (a, b) in enumerate(zip(classes, known)) if a != b)
        changes.append(f"class {first} named {classes[first]!r} where the model's is {known[first]!r}")
    if changes:
        raise UserError(f"{card.data} now holds {' and '.join(changes)}: it has changed since {run} was trained on it; "
                        f"evaluate the run on the data it was trained on")
