"""Run directories, their records and plots."""
from .rundir import ModelCard, RunConfig, load_model, new_run_dir, read_card, read_config

__all__ = ["ModelCard", "RunConfig", "load_model", "new_run_dir", "read_card", "read_config"]
