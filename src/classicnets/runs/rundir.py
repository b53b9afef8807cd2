"""A run's model, built from its card (`transfer.heads.model_from_card`) and loaded with its weights
(the record's format is `classicnets.record`)."""
from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from ..errors import UserError
from ..record import CARD, CHECKPOINT, WEIGHTS, ModelCard, read_card
from ..train.checkpoint import load_weights, save_weights
from ..transfer.heads import model_from_card


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
    model = model_from_card(card)
    load_weights(run / WEIGHTS, model)
    model.eval()
    return model, card


__all__ = ["CARD", "load_model", "save_model"]
