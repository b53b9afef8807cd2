"""Run directories: what a training run leaves behind, and how a trained model is loaded back.

    runs/20261124-101500-lenet-digits/
      config.json        every resolved setting, seed, library versions
      metrics.csv        a row per epoch
      curves.png         loss and accuracy against epochs
      checkpoint.safetensors   full training state after the last finished epoch (for --resume)
      model.safetensors  final weights (the best epoch's with keep_best)
      model.json         registry name and arguments, input shape, classes, task, normalisation,
                         and for text the vocabulary and its encoding settings
      results.json       test loss and accuracy (and whatever `evaluate` adds)

Every file is written atomically.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ..data.augment import AugmentConfig
from ..data.core import Normalization
from ..errors import UserError
from ..fileio import write_json
from ..train.checkpoint import load_weights, save_weights
from ..train.config import TrainConfig

CONFIG, METRICS, CURVES, CHECKPOINT = "config.json", "metrics.csv", "curves.png", "checkpoint.safetensors"
WEIGHTS, CARD, RESULTS, CONFUSION = "model.safetensors", "model.json", "results.json", "confusion.png"


@dataclass
class RunConfig:
    """Everything that defines a training run."""

    model: str = "lenet"                                   # registry name
    model_args: dict[str, Any] = field(default_factory=dict)  # builder keyword arguments
    data: str = "digits"                                   # data set registry name
    data_dir: str | None = None                            # directory of data files the user already has
    data_args: dict[str, Any] = field(default_factory=dict)  # data set loader options (num_words, length...)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(translate=1))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        try:
            return cls(model=d["model"], model_args=dict(d["model_args"]), data=d["data"],
                       data_dir=d.get("data_dir"), data_args=dict(d.get("data_args") or {}),
                       train=TrainConfig(**d["train"]), augment=AugmentConfig(**d["augment"]))
        except (KeyError, TypeError) as e:
            raise UserError(f"run configuration is incomplete or from another version: {e}") from None


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
    task: str = "multiclass"        # multiclass, binary or regression (see train.engine)
    vocab: dict[str, Any] | None = None   # data.text.Vocabulary.to_dict() for text models

    def build(self) -> nn.Module:
        from ..zoo import create
        return create(self.name, **self.args)

    @property
    def norm(self) -> Normalization | None:
        return Normalization.from_dict(self.normalization) if self.normalization else None

    @property
    def vocabulary(self):
        from ..data.text import Vocabulary
        if self.vocab is None:
            raise UserError(f"model {self.name} was not trained on text; it has no vocabulary to read --text with")
        return Vocabulary.from_dict(self.vocab)


def new_run_dir(base: str | os.PathLike, model: str, data: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(base) / f"{stamp}-{model}-{data}"
    i = 2
    while path.exists():
        path = Path(base) / f"{stamp}-{model}-{data}-{i}"
        i += 1
    return path


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; is {path.parent} a classicnets run directory?") from None
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"cannot read {what} {path}: {e}") from None


def read_config(run: str | os.PathLike) -> RunConfig:
    return RunConfig.from_dict(read_json(Path(run) / CONFIG, "run configuration"))


def write_card(run: Path, card: ModelCard) -> None:
    write_json(run / CARD, asdict(card))


def read_card(run: str | os.PathLike) -> ModelCard:
    d = read_json(Path(run) / CARD, "model description")
    try:
        return ModelCard(**d)
    except TypeError as e:
        raise UserError(f"model description {Path(run) / CARD} is incomplete: {e}") from None


def save_model(run: Path, model: nn.Module) -> None:
    save_weights(run / WEIGHTS, model)


def load_model(run: str | os.PathLike) -> tuple[nn.Module, ModelCard]:
    """Rebuild the model of a run directory and load its weights (never unpickles)."""
    run = Path(run)
    if not run.is_dir():
        raise UserError(f"run directory {run} does not exist")
    card = read_card(run)
    if not (run / WEIGHTS).exists() and (run / CHECKPOINT).exists():
        raise UserError(f"run {run} has not finished (no {WEIGHTS} yet); complete it with "
                        f"`classicnets train --resume {run}`")
    model = card.build()
    load_weights(run / WEIGHTS, model)
    model.eval()
    return model, card
