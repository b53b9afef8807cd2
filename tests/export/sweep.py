"""Export every classifier of the zoo to ONNX and TorchScript at a small input and measure the check's
max relative difference; the slow test runs it, and as a script it prints the table of docs/export.md:

    PYTHONPATH=src python tests/export/sweep.py [NAME_PATTERN] [--formats onnx,torchscript]

Small inputs: 32x32 images (64x64 for the models that need more; lenet's own 8x8 and the MLP's 28x28),
reviews of 32 word ids (imdb_cnn: 100, its Dense layer is sized for it), adding-problem sequences of 16
steps. Models are built with seed 0 and 7 classes; the check's inputs are random (seed 0).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from classicnets.errors import UserError
from classicnets.export import export_model
from classicnets.zoo import create, list_models, model_info

FORMATS = ("onnx", "torchscript")


def classifiers(pattern: str = "*") -> list[str]:
    return [n for n in list_models(pattern) if model_info(n).task == "classification"]


def small_case(name: str) -> tuple[tuple[int, ...], dict]:
    """(input shape, builder options): the smallest usual input the model accepts, 32x32 first."""
    info = model_info(name)
    opts = {"num_classes": 7}
    if len(info.input_shape) != 3:
        steps = info.input_shape[0] if name == "imdb_cnn" else min(info.input_shape[0], 32 if info.input_dtype == "long"
                                                                      else 16)
        if "input_size" in info.arguments():
            opts["input_size"] = steps
        return (steps, *info.input_shape[1:]), opts
    c, h, _ = info.input_shape
    for size in (min(h, 32), min(h, 64)):
        kwargs = {**opts, "input_size": size} if "input_size" in info.arguments() else opts
        try:
            with torch.device("meta"):
                model = create(name, **kwargs)
                model.eval()(torch.empty(1, c, size, size))
            return (c, size, size), kwargs
        except (UserError, RuntimeError, ValueError):
            continue
    raise AssertionError(f"{name} accepts neither 32x32 nor 64x64")


def parity(name: str, fmt: str, directory: Path, dynamic_batch: bool = False):
    """The `ExportResult` of exporting `name` (seed 0) at its small input."""
    shape, opts = small_case(name)
    model = create(name, seed=0, **opts)
    return export_model(model, directory / f"{name}.{fmt}", format=fmt, input_shape=shape,
                        input_dtype=model_info(name).input_dtype, classes=[str(i) for i in range(7)],
                        dynamic_batch=dynamic_batch)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--formats", default=",".join(FORMATS))
    a = p.parse_args()
    formats = a.formats.split(",")
    print(f"torch {torch.__version__}; max relative difference = max |exported - pytorch| / max |pytorch| "
          f"(check.DEFINITION)\n")
    print("| model | family | input | " + " | ".join(formats) + " | export s |")
    print("|---|---|---|" + "---|" * len(formats) + "---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in classifiers(a.pattern):
            shape, _ = small_case(name)
            cells, start = [], time.perf_counter()
            for fmt in formats:
                try:
                    cells.append(f"{parity(name, fmt, Path(tmp)).max_relative_difference:.1e}")
                except UserError as e:
                    cells.append(f"refused: {e}")
            took = time.perf_counter() - start
            shape_text = "x".join(map(str, shape))
            print(f"| {name} | {model_info(name).family} | {shape_text} | " + " | ".join(cells)
                  + f" | {took:.0f} |", flush=True)


if __name__ == "__main__":
    main()
