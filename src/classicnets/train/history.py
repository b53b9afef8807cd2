"""Keras-like training history: `history.history["val_acc"]` is a list, one value per epoch."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class History:
    epoch: list[int] = field(default_factory=list)               # 0-based epoch numbers
    history: dict[str, list[float]] = field(default_factory=dict)
    normalization: Any = None  # the input normalisation `fit` used (a data.Normalization)

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))

    def to_dict(self) -> dict:
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls(list(d["epoch"]), {k: list(v) for k, v in d["history"].items()})

    def last(self) -> dict[str, float]:
        return {k: v[-1] for k, v in self.history.items()}
