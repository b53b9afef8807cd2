"""The model zoo: one module per architecture family, all reachable through the registry."""
from .registry import ModelInfo, create, list_models, model_info, parameter_count, register_model

__all__ = ["ModelInfo", "create", "list_models", "model_info", "parameter_count", "register_model"]
