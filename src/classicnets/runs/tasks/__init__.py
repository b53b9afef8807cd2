"""Tasks: what differs between classifying, regressing a sequence and detecting objects, behind one seam.

A run's task is chosen once, from the model and the data when the run starts (`choose`) and from
its card (model.json's `task`) afterwards (`for_card`); the run path, the command line, `compare`
and the callbacks ask the task, never the model's name. This module holds the tasks' torch-free
metadata (what `compare` and `report` need) and loads each task's implementation (a `base.Task`:
build, fit, test, evaluate, predict) lazily by its "module:class" name, as the other registries do.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...errors import UserError

if TYPE_CHECKING:
    from .base import Task


@dataclass(frozen=True)
class TaskInfo:
    name: str                     # "classification", "regression" or "detection"
    card_tasks: tuple[str, ...]   # the values of model.json's `task` it serves (the loss it trains with)
    score: str | None             # the metric runs are ranked by, as "val_<score>" and "test_<score>"; None: loss
    implementation: str           # "module:class" of its `base.Task`, relative to this package

    def load(self) -> Task:
        module, _, cls = self.implementation.partition(":")
        return getattr(importlib.import_module(module, __package__), cls)(self)


TASKS = {
    "classification": TaskInfo("classification", ("multiclass", "binary"), "acc", ".classify:Classification"),
    "regression": TaskInfo("regression", ("regression",), None, ".classify:Regression"),
    "detection": TaskInfo("detection", ("detection",), "map50", ".detect:Detection"),
}


def for_card(task: str | None) -> TaskInfo:
    """The task of a run whose model.json says `task` (multiclass, binary, regression, detection)."""
    for info in TASKS.values():
        if task in info.card_tasks:
            return info
    raise UserError(f"model description names an unknown task {task!r}; it is damaged or from another version")


def choose(model_task: str, data_kind: str, data_task: str) -> TaskInfo:
    """A new run's task: detection when the model or the data is (the detection task then refuses the
    other being otherwise), else what the data's targets ask for."""
    if model_task == "detection" or data_kind == "detection":
        return TASKS["detection"]
    return TASKS["regression" if data_task == "regression" else "classification"]
