"""Run directories, their records and plots, and the whole run (config -> data -> model -> fit -> records)."""
from .._lazy import lazy_exports

__all__ = ["ModelCard", "RunConfig", "load_model", "new_run_dir", "read_card", "read_config", "train_run",
           "resume_run"]
__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(["ModelCard", "RunConfig", "load_model", "new_run_dir", "read_card", "read_config"], ".rundir"),
    **dict.fromkeys(["train_run", "resume_run"], ".run"),
})
