"""Training: `fit`, `evaluate`, `predict`, their configuration, callbacks and checkpoints (imported on first use)."""
from .._lazy import lazy_exports

__all__ = ["CSVLogger", "Callback", "Checkpoint", "EarlyStopping", "History", "KeepBest",
           "TrainConfig", "evaluate", "fit", "predict"]
__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(["Callback", "Checkpoint", "CSVLogger", "EarlyStopping", "KeepBest"], ".callbacks"),
    "TrainConfig": "..config", "History": ".history", "fit": ".engine", **dict.fromkeys(["evaluate", "predict"], ".evaluation"),
})
