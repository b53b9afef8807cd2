"""A run's transfer settings applied to its freshly built model: weights, head, freezing."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ..config import TransferConfig
from ..errors import UserError
from .heads import Transferred, freeze, unfreeze_top, with_head


def _classicnets_keys(path: Path) -> list[str] | None:
    """The tensor names of a safetensors file (None if it is not one)."""
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            return list(f.keys())
    except Exception:  # noqa: BLE001  (any unreadable file: not a safetensors file; the loader says why)
        return None


def apply_transfer(t: TransferConfig, model: nn.Module, *, model_name: str, num_outputs: int,
                   input_shape: tuple[int, ...], model_args: dict[str, Any] | None = None,
                   warn=print, base_only: bool = False) -> tuple[nn.Module, Any, dict[str, Any]]:
    """(model, the weights' preprocessing Normalization or None, a record for config.json).

    `base_only`: only the base's outputs will be used (`classicnets extract`); with a new head or
    `features` that is so too. Then "imagenet" means the published file without the top, as it does
    for a model whose classifier is not ImageNet's 1,000 classes: extract and train --features read
    the same file, so their feature caches meet."""
    record: dict[str, Any] = {}
    norm = None
    if t.weights:
        from .published import load_weights, resolve_weights
        path = resolve_weights(t.weights, model_name=model_name, model=model, model_args=model_args,
                               input_shape=input_shape, base_only=base_only or bool(t.head or t.features))
        if path.is_dir():  # a classicnets run directory: its final weights and its preprocessing
            if not (path / "model.safetensors").is_file():
                raise UserError(f"{path} has no model.safetensors (has the run finished?)")
            path = path / "model.safetensors"
        keys = _classicnets_keys(path) if path.suffix == ".safetensors" else None
        transferred_file = bool(keys) and all(k.startswith(("base.", "head.")) for k in keys)
        if t.head and transferred_file:
            model = with_head(model, t.head, num_outputs, input_shape)
        report, norm = load_weights(model, path, model_name=model_name, model_args=model_args,
                                    input_shape=input_shape)
        if t.head and not isinstance(model, Transferred):
            model = with_head(model, t.head, num_outputs, input_shape)
        if report.skipped or report.missing:
            warn(f"Weights: {report.summary()}")
        record = {"weights_file": str(path), "format": report.format, "loaded": len(report.loaded),
                  "skipped": [f"{k} ({why})" for k, why in report.skipped], "missing": list(report.missing),
                  "preprocessing": norm.to_dict() if norm is not None else None}
    elif t.head:
        model = with_head(model, t.head, num_outputs, input_shape)
    if t.freeze:
        freeze(model, t.freeze)
    if t.unfreeze_top:
        record["unfrozen"] = unfreeze_top(model, t.unfreeze_top)
    if t.freeze and not any(p.requires_grad for p in model.parameters()):
        raise UserError(f"--freeze {t.freeze} freezes every parameter of the model, so nothing would be trained; "
                        f"freeze 'base' (or fewer modules) to train the rest")
    return model, norm, record
