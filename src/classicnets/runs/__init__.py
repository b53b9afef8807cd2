"""Run directories and the whole run (config -> data -> model -> fit -> records), compared and reported."""
from .._lazy import lazy_exports

__all__ = ["load_model", "resume_run", "train_run"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "load_model": ".rundir", **dict.fromkeys(["train_run", "resume_run"], ".run"),
})
