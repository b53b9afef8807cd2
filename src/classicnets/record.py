"""The run record: the files a training run leaves behind, their names and formats, and reading them.

    runs/20261124-101500-lenet-digits/
      config.json        every resolved setting (`config.RunConfig`), seed, library versions
      metrics.csv        a row per epoch
      curves.png         loss and accuracy against epochs
      checkpoint.safetensors   full training state after the last finished epoch, or at a step inside
                         one (--checkpoint-every, a stop on SIGTERM/SIGINT), for --resume
      .lock              while a process trains the run: its flock (see runs.lock)
      model.safetensors  final weights (the best epoch's with keep_best)
      model.json         registry name and arguments, input shape, classes, task, normalisation,
                         and for text the vocabulary and its encoding settings (`ModelCard`)
      results.json       test loss and accuracy (and whatever `evaluate` adds); written last, so
                         a run with results is finished

A run made from published weights (`classicnets pretrained`, runs/pretrained.py) has the same files
but no checkpoint: metrics.csv is its header alone, results.json says 0 epochs, config.json has a
"pretrained" entry naming the weights.

Torch-free and at the bottom of the package: transfer learning reads a run's card to load its
weights, recipes write `RunConfig`s, `compare` and `report` read records without importing torch.
Every file is written atomically. `run_state` tells a finished run from an interrupted one.
Building the model a card describes, and loading its weights, is `runs.rundir`'s.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import RunConfig
from .errors import UserError
from .fileio import write_json

CONFIG, METRICS, CURVES, CHECKPOINT = "config.json", "metrics.csv", "curves.png", "checkpoint.safetensors"
WEIGHTS, CARD, RESULTS, CONFUSION = "model.safetensors", "model.json", "results.json", "confusion.png"


@dataclass
class ModelCard:
    """model.json: enough to rebuild the model and feed it inputs the way it was trained."""

    name: str
    args: dict[str, Any]
    input_shape: list[int]          # (C, H, W), (T,) word ids or (T, F) sequences
    classes: list[str]
    normalization: dict[str, Any] | None  # Normalization.to_dict(); None for word ids and sequences
    data: str
    data_args: dict[str, Any] = field(default_factory=dict)
    task: str = "multiclass"        # multiclass, binary or regression (see train.engine), or detection
    vocab: dict[str, Any] | None = None   # data.text.Vocabulary.to_dict() for text models
    head: str | None = None         # transfer.build_head spec of a new head on the model's base
    resize: int | None = None       # images: shorter side resized to this, then centre-cropped to the input
                                    # (published torchvision weights: 256 then 224); None: straight resize

    @property
    def norm(self):
        """The inputs' `data.core.Normalization` (imports torch), or None."""
        from .data.core import Normalization
        return Normalization.from_dict(self.normalization) if self.normalization else None

    @property
    def vocabulary(self):
        from .data.text import Vocabulary
        if self.vocab is None:
            raise UserError(f"model {self.name} was not trained on text; it has no vocabulary to read --text with")
        return Vocabulary.from_dict(self.vocab)


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; is {path.parent} a classicnets run directory?") from None
    except IsADirectoryError:
        raise UserError(f"{what} {path} is a directory, not a file; remove it or use another run") from None
    except OSError as e:
        raise UserError(f"cannot read {what} {path}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{what} {path} is damaged (not valid JSON: {e}); restore it or use another run") from None


def read_config(run: str | os.PathLike) -> RunConfig:
    path = Path(run) / CONFIG
    d = read_json(path, "run configuration")
    if not isinstance(d, dict):
        raise UserError(f"run configuration {path} is damaged: it holds no settings")
    cfg = RunConfig.from_dict(d)
    try:
        cfg.train.validate()
        cfg.augment.validate()
    except UserError as e:
        raise UserError(f"run configuration {path} is damaged or edited: {e}") from None
    return cfg


def read_results(run: str | os.PathLike) -> dict[str, Any]:
    """results.json as a dict ({} if there is none yet); a clear error if it is damaged."""
    path = Path(run) / RESULTS
    if not path.exists():
        return {}
    d = read_json(path, "results")
    if not isinstance(d, dict):
        raise UserError(f"results {path} is damaged: expected a JSON object; delete it and run evaluate again")
    return d


def run_state(run: str | os.PathLike) -> str:
    """'finished' (weights and results written), 'interrupted' (a checkpoint, not finished),
    'not started' (a configuration but no finished epoch) or 'empty' (no run here)."""
    run = Path(run)
    if (run / WEIGHTS).exists() and (run / RESULTS).is_file():
        try:
            if "epochs" in json.loads((run / RESULTS).read_text(encoding="utf-8")):
                return "finished"
        except (OSError, ValueError, TypeError):
            pass
    if (run / CHECKPOINT).exists():
        return "interrupted"
    if (run / CONFIG).exists():
        return "not started"
    return "empty"


def write_card(run: Path, card: ModelCard) -> None:
    write_json(run / CARD, asdict(card))


def read_card(run: str | os.PathLike) -> ModelCard:
    path = Path(run) / CARD
    d = read_json(path, "model description")
    try:
        card = ModelCard(**d)
    except TypeError as e:
        raise UserError(f"model description {path} is incomplete: {e}") from None
    shapes_ok = isinstance(card.input_shape, list) and 1 <= len(card.input_shape) <= 3 and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in card.input_shape)
    checks = [
        (isinstance(card.name, str), "name must be a model name"),
        (isinstance(card.args, dict), "args must be an object of builder options"),
        (shapes_ok, "input_shape must be 1 to 3 positive integers"),
        (isinstance(card.classes, list) and all(isinstance(c, str) for c in card.classes), "classes must be a list of names"),
        (card.task in ("multiclass", "binary", "regression", "detection"),
         "task must be multiclass, binary, regression or detection"),
        (isinstance(card.data_args, dict), "data_args must be an object"),
        (card.vocab is None or isinstance(card.vocab, dict), "vocab must be an object"),
        (card.head is None or isinstance(card.head, str), "head must be a head spec"),
        (card.resize is None or (isinstance(card.resize, int) and not isinstance(card.resize, bool) and len(
            card.input_shape) == 3 and card.resize >= max(card.input_shape[1:])),
         "resize must be a side of at least the input's height and width"),
    ]
    for ok, rule in checks:
        if not ok:
            raise UserError(f"model description {path} is damaged: {rule}")
    if card.normalization is not None:
        from .data.core import Normalization
        try:
            norm = Normalization.from_dict(card.normalization)
            assert len(norm.mean) == len(norm.std) >= 1 and norm.max_value > 0 and min(norm.std) > 0
        except (KeyError, TypeError, ValueError, AssertionError, AttributeError):
            raise UserError(f"model description {path} is damaged: normalization must hold max_value, "
                            f"mean and std") from None
    return card
