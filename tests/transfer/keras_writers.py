"""Keras weight files in Keras's own layouts, written with h5py from tests/fixtures/keras_applications.json.gz
(what real Keras 3.15.1 wrote for each zoo model's counterpart: see tests/fixtures/make_keras_applications.py)
and weights from tests/fixtures/formula.py, so no Keras is needed to run the tests."""
from __future__ import annotations

import gzip
import importlib.util
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import torch

FIXTURES = Path(__file__).parents[1] / "fixtures"
_spec = importlib.util.spec_from_file_location("formula", FIXTURES / "formula.py")
formula = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(formula)

KERAS = json.loads(gzip.decompress((FIXTURES / "keras_applications.json.gz").read_bytes()))
CASES = KERAS["cases"]


def weights(case: str) -> dict[str, list[np.ndarray]]:
    """{Keras layer name: its weights}, as the fixture's Keras model held them."""
    return {name: formula.keras_weights(name, cls, shapes) for name, cls, _, shapes, _ in CASES[case]["layers"]}


def write_keras2(path: Path, case: str, *, nested: bool = False, rename: dict[str, str] | None = None,
                 drop: tuple[str, ...] = ()) -> Path:
    """Keras 2's HDF5 layout (`save_weights_to_hdf5_group`): `layer_names`, and per layer its `weight_names`.
    `rename` gives layers other names (as older Keras named some), `drop` leaves layers out."""
    rename = rename or {}
    w = weights(case)
    names = {name: wn for name, _, _, _, wn in CASES[case]["layers"]}
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if nested else f
        layers = [n for n in CASES[case]["keras2_layer_names"] if n not in drop]
        root.attrs["layer_names"] = np.array([rename.get(n, n).encode() for n in layers])
        root.attrs["backend"], root.attrs["keras_version"] = "tensorflow", "2.13.1"
        for layer in layers:
            g = root.create_group(rename.get(layer, layer))
            wn = [n.replace(layer, rename.get(layer, layer), 1) + ":0" for n in names.get(layer, [])]
            g.attrs["weight_names"] = np.array([n.encode() for n in wn], dtype="S") if wn else np.array([], "S1")
            for n, a in zip(wn, w.get(layer, [])):
                g.create_dataset(n, data=a)
    return path


def write_keras3(target, case: str, *, names: bool = True) -> None:
    """Keras 3's `.weights.h5` layout: `layers/<class>[_N]/vars/0...`, the layer's name on `vars`
    (recent Keras 3) unless `names` is False (earlier Keras 3)."""
    w = weights(case)
    with h5py.File(target, "w") as f:
        for top in CASES[case]["keras3_top_level"]:
            f.require_group(top)
        for group, name, _ in CASES[case]["keras3_groups"]:
            v = f.create_group(f"{group}/vars")
            if names:
                v.attrs["name"] = name
            for i, a in enumerate(w.get(name, [])):
                v.create_dataset(str(i), data=a)


def write_archive(path: Path, case: str, *, names: bool = True, config: dict | None = None) -> Path:
    """A `.keras` archive: metadata.json, config.json (Keras's own, or `config`) and model.weights.h5."""
    files = CASES[case]["keras_files"]
    weights_file = path.with_suffix(".tmp.h5")
    write_keras3(weights_file, case, names=names)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", files["metadata.json"])
        z.writestr("config.json", json.dumps(config) if config is not None else files["config.json"])
        z.write(weights_file, "model.weights.h5")
    weights_file.unlink()
    return path


def write(layout: str, folder: Path, case: str) -> Path:
    if layout == "keras2":
        return write_keras2(folder / f"{case}.h5", case)
    if layout == "keras3":
        path = folder / f"{case}.weights.h5"
        write_keras3(path, case)
        return path
    return write_archive(folder / f"{case}.keras", case)


def pixels(case: str) -> torch.Tensor:
    """The fixture's input images as the zoo takes them: (N, C, H, W) pixels in [0, 255)."""
    return torch.from_numpy(formula.keras_pixels(case, CASES[case]["input_shape"])).permute(0, 3, 1, 2)


def keras_output(case: str) -> np.ndarray:
    return np.array(CASES[case]["output"], np.float32).reshape(CASES[case]["shape"])


def rel_error(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())
