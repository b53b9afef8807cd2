"""A run's model, built from its card and loaded with its weights (the record's format is `classicnets.record`)."""
from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from ..errors import UserError
from ..record import CARD, CHECKPOINT, WEIGHTS, ModelCard, read_card
from ..train.checkpoint import load_weights, save_weights


def build_model(card: ModelCard) -> nn.Module:
    """The model `card` describes (registry name and options, and a new head on its base if it has one),
    with fresh weights."""
    from ..zoo import create

    model = create(card.name, **card.args)
    if card.head:
        from ..transfer.heads import with_head
        outputs = 1 if card.task == "binary" else len(card.classes)
        model = with_head(model, card.head, outputs, tuple(card.input_shape))
    return model


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
    model = build_model(card)
    load_weights(run / WEIGHTS, model)
    model.eval()
    return model, card


__all__ = ["CARD", "build_model", "load_model", "save_model"]
