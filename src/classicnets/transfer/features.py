"""Method 1 of the course's transfer learning: run the frozen base once over every image, keep its
outputs, and train only the head on them ("fast and cheap ... but precludes the use of data
augmentation", ConvNets part 1, L995-1000).

Features are cached in `$CLASSICNETS_DATA/features/` as safetensors, keyed by the model and its
arguments, the weights file's checksum, the data set and its options, the input normalisation and
the input shape, so a second run (or `classicnets extract` before it) reuses them.
`feature_identity` keys them by the base's own tensors instead (`base_digest`): the same base gives the
same key whichever file it came from (a published file with or without its top, a run directory).
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.core import BatchLoader, Dataset, Normalization, Split
from ..data.download import data_home
from ..errors import UserError
from ..fileio import write_bytes


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def base_digest(base: nn.Module) -> str:
    """SHA-256 of a base's state (every tensor's name, dtype, shape and bytes, in order): what its
    features depend on, whatever file its weights were read from."""
    h = hashlib.sha256()
    for name, t in base.state_dict().items():
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        flat = t.detach().cpu().contiguous().reshape(-1)  # 0-dim tensors (step counters) too
        h.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return h.hexdigest()


def feature_identity(*, model: str, model_args: dict[str, Any], base: nn.Module, data: str,
                     data_args: dict[str, Any], data_dir: str | None, normalization: Normalization | None,
                     input_shape: tuple[int, ...] | list[int]) -> dict[str, Any]:
    """What determines a base's features, for `cache_key`: the model, the base's tensors (`base_digest`),
    the data set, the preprocessing and the input shape. `classicnets extract` and `train --features`
    call this with the same values, so their caches meet."""
    return {"model": model, "args": model_args, "base": base_digest(base), "data": data, "data_args": data_args,
            "data_dir": data_dir, "normalization": normalization.to_dict() if normalization else None,
            "input": list(input_shape)}


def cache_key(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:20]


@torch.no_grad()
def base_features(base: nn.Module, split: Split, normalization: Normalization | None, device: torch.device,
                  batch_size: int = 256) -> torch.Tensor:
    """The base's outputs for every example of `split`, in order, as float32 on the CPU."""
    was = base.training
    base.eval()
    out = [base(xb).float().cpu() for xb, _ in BatchLoader(split, batch_size, device=device,
                                                           normalization=normalization)]
    base.train(was)
    return torch.cat(out)


def extract(base: nn.Module, data: Dataset, normalization: Normalization | None, identity: dict[str, Any],
            device: torch.device, log=print) -> tuple[Dataset, Path, bool]:
    """(features as a Dataset with the same labels, cache file, whether it was reused)."""
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load
    from safetensors.torch import save as st_save

    key = cache_key(identity)
    path = data_home() / "features" / f"{data.name}-{key}.safetensors"
    splits = [s for s in ("train", "val", "test") if getattr(data, s) is not None]
    tensors = None
    if path.is_file():
        try:
            tensors = st_load(path.read_bytes())
            if any(f"x_{s}" not in tensors or len(tensors[f"x_{s}"]) != len(getattr(data, s)) for s in splits):
                tensors = None
        except (OSError, SafetensorError):
            tensors = None  # damaged: computed again and rewritten below
    reused = tensors is not None
    if tensors is None:
        if path.is_dir():
            raise UserError(f"{path} is a folder where classicnets caches features; move or rename it")
        t0 = time.perf_counter()
        tensors = {f"x_{s}": base_features(base, getattr(data, s), normalization, device) for s in splits}
        write_bytes(path, st_save({k: v.contiguous() for k, v in tensors.items()},
                                  metadata={"identity": json.dumps(identity, sort_keys=True, default=str)}))
        n = sum(len(v) for v in tensors.values())
        log(f"Extracted the base's features of {n:,} examples in {time.perf_counter() - t0:.1f}s: "
            f"{tuple(tensors['x_train'].shape[1:])} each; cached in {path}")
    parts = {s: Split(tensors[f"x_{s}"], getattr(data, s).y) for s in splits}
    feats = Dataset(f"{data.name}-features", data.classes, parts["train"], parts.get("val"), parts.get("test"),
                    max_value=1.0, description=f"features of {data.name}", meta=dict(data.meta), task=data.task)
    return feats, path, reused


def identity_normalization(features: Dataset) -> Normalization | None:
    """Features are fed to the head as they are: identity for (C, H, W) maps, None for vectors."""
    x = features.train.x
    return Normalization.identity(x.shape[1]) if x.ndim == 4 else None
