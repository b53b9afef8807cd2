"""Export every classifier of the zoo to ONNX and TorchScript at a small input and measure the check's
max relative difference; the slow test runs it, and as a script it prints the table of docs/guide.md (Export):

    PYTHONPATH=src python tests/export/sweep.py [NAME_PATTERN ...] [--formats onnx,torchscript] [--detectors]

It prints a row per model, then the worst of each family, then (with --detectors) the detectors.

Small inputs (`small_case`): 32x32 images (64x64 for the models that need more; lenet's own 8x8, the
MLP's and highway's 28x28), reviews of 32 word ids (64 where two convolutions need more), adding-problem
sequences of 16 steps. Models are built with seed 0 and 7 classes, given weights that carry a signal
(`lively`); the check's inputs are random (seed 0). "input dependence" says how much the outputs vary
between those inputs, relative to their size (0: the check would only see a constant); "float32 noise" is
PyTorch's own float32 result against a float64 copy of the model, by the same measure as the formats'.
"""
from __future__ import annotations

import argparse
import copy
import math
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from classicnets.errors import UserError
from classicnets.export import export_model, relative_difference
from classicnets.export.check import DEFINITION, random_inputs
from classicnets.export.formats import get_format
from classicnets.zoo import create, list_models, model_info

FORMATS = ("onnx", "torchscript")


def classifiers(pattern: str = "*") -> list[str]:
    return [n for n in list_models(pattern) if model_info(n).task == "classification"]


def small_case(name: str) -> tuple[tuple[int, ...], dict]:
    """(input shape, builder options): the smallest usual input the model accepts (tried on the meta
    device): 32x32 images, else 64x64; 32 word ids, else 64, else the model's own length; 16 steps."""
    info = model_info(name)
    opts = {"num_classes": 7}
    if len(info.input_shape) == 3:
        c, h, _ = info.input_shape
        shapes = [(c, s, s) for s in (min(h, 32), min(h, 64))]
    elif info.input_dtype == "long":
        shapes = [(t,) for t in (32, 64, info.input_shape[0])]
    else:
        shapes = [(16, *info.input_shape[1:])]
    for shape in shapes:
        kwargs = {**opts, "input_size": shape[-1] if len(shape) == 3 else shape[0]} \
            if "input_size" in info.arguments() else opts
        try:
            with torch.device("meta"):
                model = create(name, **kwargs)
                model.eval()(torch.zeros(1, *shape, dtype=torch.long if info.input_dtype == "long" else torch.float))
            return shape, kwargs
        except (UserError, RuntimeError, ValueError):
            continue
    raise AssertionError(f"{name} accepts none of {shapes}")


def lively(model: nn.Module) -> nn.Module:
    """He-normal weights for every convolution and dense layer, so that a freshly built model carries a
    signal through its whole depth as a trained one does. At their own initialisation some deep nets
    pass almost nothing on (MobileNet's activations fall 7x per unit: from its 7th unit on every input
    gives the same logits, its head's bias), and a check on constant outputs proves little. Batch
    normalisation keeps its initial statistics (the identity): measuring them on random inputs makes
    deep nets amplify float32 rounding (ResNet-101's own float32 outputs then lie 2e-4 from float64),
    which would measure the net's conditioning, not the export. Recurrent layers keep Keras's init."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2 / fan_in))
    return model.eval()


def input_dependence(model: nn.Module, shape: tuple[int, ...], dtype: str) -> float:
    """How much the outputs on the check's inputs differ from one input to the next, relative to
    their largest magnitude: 0 means the model ignores its input and the check proves little."""
    with torch.no_grad():
        y = model(random_inputs(model, shape, dtype))
    return float((y - y[:1]).abs().max() / y.abs().max().clamp_min(1e-12))


def float32_noise(model: nn.Module, shape: tuple[int, ...], dtype: str) -> float:
    """PyTorch's own float32 outputs against a float64 copy of the model, on the check's inputs (same
    measure): the rounding any float32 runtime is subject to, the scale the export's numbers compare to."""
    x = random_inputs(model, shape, dtype)
    with torch.no_grad():
        exact = copy.deepcopy(model).double()(x.double() if dtype == "float" else x)
        return relative_difference(model(x), exact)


def build(name: str) -> tuple[nn.Module, tuple[int, ...], str]:
    shape, opts = small_case(name)
    dtype = model_info(name).input_dtype
    return lively(create(name, seed=0, **opts)), shape, dtype


def parity(name: str, fmt: str, directory: Path, dynamic_batch: bool = False, built=None):
    """The `ExportResult` of exporting `name` (seed 0, `lively`; or `built`, `build(name)`'s result)."""
    model, shape, dtype = built or build(name)
    return export_model(model, directory / f"{name}.{fmt}", format=fmt, input_shape=shape, input_dtype=dtype,
                        classes=[str(i) for i in range(7)], dynamic_batch=dynamic_batch)


def spread_heads(model: nn.Module, seed: int = 0) -> nn.Module:
    """A Faster / Mask R-CNN whose RPN and box predictor are redrawn wider than their N(0, 0.01) start.
    At that start every class score is about 1/11 and every proposal's objectness nearly equal, so the
    ranking NMS works on is decided by rounding; wider weights (as a little training leaves them) make
    the scores distinct and the detections worth comparing."""
    g = torch.Generator().manual_seed(seed)
    heads = ((model.rpn.head.cls_logits, 0.3), (model.rpn.head.bbox_pred, 0.3),
             (model.roi_heads.box_predictor.cls_score, 0.3), (model.roi_heads.box_predictor.bbox_pred, 0.05))
    with torch.no_grad():
        for layer, std in heads:
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * std)
    return model.eval()


def digit_boxes_images(n: int = 3) -> tuple[torch.Tensor, dict, list[str]]:
    """`n` normalised test images of the generated digit_boxes (seed 0), its normalisation and classes."""
    from classicnets.detection.data import load_digit_boxes

    data = load_digit_boxes(train=16, val=0, test=n, seed=0)
    norm = data.normalization()
    return norm(data.test.images), norm.to_dict(), data.classes


def detector_rows(formats: list[str], directory: Path) -> None:
    """Faster R-CNN and Mask R-CNN (`spread_heads`) exported in each format, checked on 3 digit_boxes
    test images, then run again on them output by output (Mask R-CNN's ONNX file at tolerance 1e-4:
    its masks move with the boxes' rounding, see test_export_detection)."""
    x, norm, classes = digit_boxes_images()
    print("\n| detector | format | detections compared | boxes | labels | scores | masks | export s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in ("faster_rcnn", "mask_rcnn"):
        model = spread_heads(create(name, seed=0))
        for fmt in formats:
            start = time.perf_counter()
            r = export_model(model, directory / f"{name}.{fmt}", format=fmt, input_shape=(1, 64, 64), task="detection",
                             classes=classes, normalization=norm, check_inputs=x,
                             tolerance=1e-4 if (name, fmt) == ("mask_rcnn", "onnx") else 1e-5)
            took = time.perf_counter() - start
            run, _ = get_format(fmt).runner(r.path.read_bytes())
            worst = {}
            for i in range(len(x)):
                with torch.no_grad():
                    expected = model(x[i:i + 1])[0]
                for key, got in zip(("boxes", "labels", "scores", "masks"), run(x[i:i + 1])):
                    worst[key] = max(worst.get(key, 0.0), relative_difference(got, expected[key]))
            cells = [f"{worst[k]:.1e}" if k in worst else "-" for k in ("boxes", "labels", "scores", "masks")]
            print(f"| {name} | {fmt} | {r.info['check']['detections_compared']} | " + " | ".join(cells)
                  + f" | {took:.0f} |", flush=True)


def classifier_rows(names: list[str], formats: list[str], directory: Path) -> list[dict]:
    """One printed row per model; returns them for the family summary."""
    print("| model | family | input | input dependence | float32 noise | " + " | ".join(formats) + " | export s |")
    print("|---|---|---|---|---|" + "---|" * len(formats) + "---|")
    rows = []
    for name in names:
        built = build(name)
        row = {"name": name, "family": model_info(name).family, "dependence": input_dependence(*built),
               "noise": float32_noise(*built)}
        start = time.perf_counter()
        for fmt in formats:
            try:
                row[fmt] = parity(name, fmt, directory, built=built).max_relative_difference
            except Exception as e:  # noqa: BLE001  (a table of every model, failures included)
                row[fmt] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
        took = time.perf_counter() - start
        cells = [f"{row[f]:.1e}" if isinstance(row[f], float) else row[f] for f in formats]
        print(f"| {name} | {row['family']} | {'x'.join(map(str, built[1]))} | {row['dependence']:.2f} | "
              f"{row['noise']:.1e} | " + " | ".join(cells) + f" | {took:.0f} |", flush=True)
        rows.append(row)
    return rows


def family_summary(rows: list[dict], formats: list[str]) -> None:
    """The worst model of each family, per column (docs/guide.md's export table)."""
    print("\n| family | models | float32 noise | " + " | ".join(formats) + " |")
    print("|---|---|---|" + "---|" * len(formats))
    def worst(mine: list[dict], key: str) -> str:
        values = [r[key] for r in mine]
        failed = [v for v in values if not isinstance(v, float)]
        return f"{len(failed)} failed" if failed else f"{max(values):.1e}"

    for family in dict.fromkeys(r["family"] for r in rows):
        mine = [r for r in rows if r["family"] == family]
        print(f"| {family} | {len(mine)} | {worst(mine, 'noise')} | "
              + " | ".join(worst(mine, f) for f in formats) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("patterns", nargs="*", help="model names or patterns (default: every classifier)")
    p.add_argument("--formats", default=",".join(FORMATS))
    p.add_argument("--detectors", action="store_true",
                   help="Faster R-CNN and Mask R-CNN on digit_boxes too (alone when no pattern is given)")
    a = p.parse_args()
    formats = a.formats.split(",")
    patterns = a.patterns or ([] if a.detectors else ["*"])
    print(f"torch {torch.__version__}; max relative difference = {DEFINITION}\n")
    with tempfile.TemporaryDirectory() as tmp:
        names = sorted({n for pattern in patterns for n in classifiers(pattern)})
        if names:
            family_summary(classifier_rows(names, formats, Path(tmp)), formats)
        if a.detectors:
            detector_rows(formats, Path(tmp))


if __name__ == "__main__":
    main()
