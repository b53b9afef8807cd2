"""A run's transfer settings applied to its freshly built model: weights, head, freezing."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ..errors import UserError
from ..config import TransferConfig
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
                   warn=print) -> tuple[nn.Module, Any, dict[str, Any]]:
    """(model, the weights' preprocessing Normalization or None, a record for config.json)."""
    record: dict[str, Any] = {}
    norm = None
    if t.weights:
        from .weights import find_weights, load_pretrained
        args = dict(model_args or {})
        if t.head:  # a new head: the published file without the top, as Keras's include_top=False
            args["include_top"] = False
        path = Path(find_weights(t.weights, model_name=model_name, model_args=args, input_size=input_shape[-1]))
        run_dir = None
        if path.is_dir():  # a classicnets run directory: its final weights and its preprocessing
            run_dir, path = path, path / "model.safetensors"
            if not path.is_file():
                raise UserError(f"{run_dir} has no model.safetensors (has the run finished?)")
        keys = _classicnets_keys(path) if path.suffix == ".safetensors" else None
        transferred_file = bool(keys) and all(k.startswith(("base.", "head.")) for k in keys)
        if t.head and transferred_file:
            model = with_head(model, t.head, num_outputs, input_shape)
        report = load_pretrained(model, path, model_name=model_name)
        if t.head and not isinstance(model, Transferred):
            model = with_head(model, t.head, num_outputs, input_shape)
        norm = report.preprocessing
        if run_dir is not None:
            from ..record import read_card
            norm = read_card(run_dir).norm or norm
        if report.skipped or report.missing:
            warn(f"Weights: {report.summary()}")
        record = {"weights_file": str(path), "format": report.format, "loaded": len(report.loaded),
                  "skipped": [f"{k} ({why})" for k, why in report.skipped], "missing": list(report.missing)}
    elif t.head:
        model = with_head(model, t.head, num_outputs, input_shape)
    if t.freeze:
        freeze(model, t.freeze)
    if t.unfreeze_top:
        record["unfrozen"] = unfreeze_top(model, t.unfreeze_top)
    return model, norm, record
