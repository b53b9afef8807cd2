"""The model zoo: one module per architecture family, all reachable through the registry (imported on first use)."""
from .._lazy import lazy_exports

__all__ = ["ModelInfo", "create", "list_models", "model_info", "parameter_count", "register_model"]
__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(["ModelInfo", "list_models", "model_info", "register_model"], ".registry"),
    **dict.fromkeys(["create", "parameter_count"], ".build"),
})
