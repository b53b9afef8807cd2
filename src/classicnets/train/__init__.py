"""Training: `fit`, `evaluate`, `predict`, their configuration, callbacks and checkpoints."""
from .callbacks import Callback, Checkpoint, CSVLogger, EarlyStopping, KeepBest
from .config import TrainConfig
from .engine import evaluate, fit, predict
from .history import History

__all__ = ["CSVLogger", "Callback", "Checkpoint", "EarlyStopping", "History", "KeepBest",
           "TrainConfig", "evaluate", "fit", "predict"]
