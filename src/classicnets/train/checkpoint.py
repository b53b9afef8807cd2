"""Checkpoints and weight files in safetensors: tensors in the body, everything else as JSON metadata.

Nothing is ever unpickled. Nested state (optimizer state dicts with integer keys, tuples of betas,
RNG states) is encoded to JSON with each tensor replaced by a reference into the tensor table.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..errors import UserError
from ..fileio import write_bytes

FORMAT = "classicnets.checkpoint/1"


def _encode(obj: Any, path: str, tensors: dict[str, torch.Tensor], seen: set[int]) -> Any:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        if t.data_ptr() in seen or not t.is_contiguous():  # safetensors refuses shared storage
            t = t.clone().contiguous()
        if t.numel():
            seen.add(t.data_ptr())
        tensors[path] = t
        return {"__tensor__": path}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _encode(v, f"{path}.{k}", tensors, seen) for k, v in obj.items()}
        return {"__items__": [[k, _encode(v, f"{path}.{k}", tensors, seen)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, f"{path}.{i}", tensors, seen) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{path}.{i}", tensors, seen) for i, v in enumerate(obj)]
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot checkpoint a value of type {type(obj).__name__} at {path}")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__items__" in obj:
            return {k: _decode(v, tensors) for k, v in obj["__items__"]}
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        if "__float__" in obj:
            return float(obj["__float__"])
        return {k: _decode(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    return obj


def serialize_state(state: dict[str, Any]) -> bytes:
    """Nested `state` (tensors and JSON-able values) as the bytes of a safetensors file."""
    tensors: dict[str, torch.Tensor] = {}
    tree = _encode(state, "s", tensors, set())
    return st_save(tensors, metadata={"format": FORMAT, "state": json.dumps(tree)})


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Atomically write nested `state` to a safetensors file."""
    write_bytes(path, serialize_state(state))


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file written by `save_state`; a clear `UserError` if it is missing or damaged."""
    path = Path(path)
    with _reading(path):
        data = path.read_bytes()
    try:
        tensors = st_load(data)
        meta = _metadata(data)
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
        return _decode(json.loads(meta["state"]), tensors)
    except (SafetensorError, ValueError, KeyError, json.JSONDecodeError) as e:
        raise UserError(f"checkpoint {path} is damaged or not a classicnets checkpoint ({e}); "
                        f"resume from another run or train again") from None


def read_position(path: str | os.PathLike) -> tuple[int, int]:
    """(epochs completed, steps of the next epoch done) in a checkpoint, from its header alone."""
    path = Path(path)
    try:
        with _reading(path), open(path, "rb") as f:
            head = f.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 0 < n <= 100 << 20:
                raise ValueError("no safetensors header")
            meta = json.loads(f.read(n)).get("__metadata__") or {}
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
        state = json.loads(meta["state"])
        position = state.get("position") or {}
        return int(state["epoch"]), int(position.get("step", 0))
    except (ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError) as e:
        raise UserError(f"checkpoint {path} is damaged or not a classicnets checkpoint ({e}); "
                        f"resume from another run or train again") from None


@contextlib.contextmanager
def _reading(path: Path):
    """File-system errors while reading checkpoint `path`, as one sentence each."""
    try:
        yield
    except FileNotFoundError:
        raise UserError(f"checkpoint {path} does not exist; the run may not have finished an epoch") from None
    except IsADirectoryError:
        raise UserError(f"checkpoint {path} is a directory, not a file; remove it or start a new run") from None
    except OSError as e:
        raise UserError(f"cannot read checkpoint {path}: {e.strerror}") from None


def _metadata(data: bytes) -> dict[str, str]:
    if len(data) < 8:
        raise ValueError("file too short")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise ValueError("truncated header")
    header = json.loads(data[8:8 + n])
    return header.get("__metadata__") or {}


def save_weights(path: str | os.PathLike, model: torch.nn.Module) -> None:
    """Atomically write a model's state dict as a plain safetensors file (keys as in `state_dict`)."""
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for k, v in model.state_dict().items():
        _encode(v, k, tensors, seen)
    write_bytes(path, st_save(tensors))


def load_weights(path: str | os.PathLike, model: torch.nn.Module) -> None:
    path = Path(path)
    try:
        tensors = st_load(path.read_bytes())
    except FileNotFoundError:
        raise UserError(f"weights file {path} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"weights file {path} is a directory, not a file; remove it or train the run again") from None
    except OSError as e:
        raise UserError(f"cannot read weights file {path}: {e.strerror}") from None
    except SafetensorError as e:
        raise UserError(f"weights file {path} is damaged or not safetensors ({e})") from None
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0:2]
        raise UserError(f"weights file {path} does not match the model: {' '.join(first)}") from None
