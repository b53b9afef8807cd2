"""`export_model`: a trained model to an ONNX or TorchScript file, checked, with its preprocessing beside it.

    result = export_model(model, "lenet.onnx", format="onnx", input_shape=(1, 8, 8),
                          classes=[str(d) for d in range(10)], normalization=card.normalization)
    result.path, result.sidecar, result.max_relative_difference

The file holds the inference path (eval mode: dropout off, batch normalisation on its running
statistics) and takes inputs already normalised; `<file>.json` beside it says how (the run card's
normalisation), what the outputs mean, the classes, the input's shape and dtype, the versions and
how to call it. Before anything is written, the file is run in its own runtime on the same inputs
as the PyTorch model (`check`), and refused above 1e-5 relative difference. Both files are written
atomically (`fileio`), the model first; an existing file is never replaced unless `overwrite=True`.
"""
from __future__ import annotations

import contextlib
import copy
import itertools
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UserError, check_range
from ..fileio import write_bytes, write_json
from .check import DEFINITION, TOLERANCE, compare, random_inputs, relative_difference
from .formats import Exported, OnnxFormat, TorchScriptFormat, get_format, require_onnx

TASKS = ("multiclass", "binary", "regression", "detection")  # a run card's tasks (record.ModelCard.task)
DTYPES = {"float": torch.float32, "long": torch.int64}
CHECK_INPUTS = 3  # random inputs of the check: batch sizes 1 and 3 where the batch axis is free


@dataclass(frozen=True)
class ExportResult:
    path: Path                      # the model file
    sidecar: Path                   # <file>.json: preprocessing, classes, shapes, versions, usage
    format: str                     # "onnx" or "torchscript"
    max_relative_difference: float  # the check's worst (check.DEFINITION), at most check.TOLERANCE
    batch_sizes: tuple[int, ...]    # batch sizes the check ran
    size_bytes: int
    info: dict[str, Any] = field(repr=False)  # the sidecar's content

    def summary(self) -> str:
        """One line for the terminal: what was written and how closely it matches the model."""
        sizes = " and ".join(str(b) for b in self.batch_sizes)
        compared = self.info["check"].get("detections_compared")
        what = f", {compared} detections compared" if compared is not None else ""
        return (f"wrote {self.path} ({self.format}, {self.size_bytes / 1e6:.1f} MB) and {self.sidecar.name}; "
                f"checked against PyTorch at batch size{'s' if len(self.batch_sizes) > 1 else ''} {sizes}{what}: "
                f"max relative difference {self.max_relative_difference:.1e} (allowed {self.info['check']['tolerance']:.0e})")


def sidecar_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".json")


def export_model(model: nn.Module, path: str | os.PathLike, *, format: str, input_shape: Sequence[int],
                 input_dtype: str | None = None, task: str = "multiclass", classes: Sequence[str] = (),
                 normalization: dict[str, Any] | None = None, vocabulary: dict[str, Any] | None = None,
                 dynamic_batch: bool = False, overwrite: bool = False, check_inputs: torch.Tensor | None = None,
                 tolerance: float = TOLERANCE, meta: dict[str, Any] | None = None) -> ExportResult:
    """Export `model`'s inference path to `path` as `format` ("onnx" or "torchscript"), check it, and
    write `<path>.json` beside it.

    input_shape: one example's shape, (C, H, W), (T,) word ids or (T, F) sequences (a run card's);
    input_dtype: "float" or "long" (word ids); default: "long" for a (T,) shape, as run cards mean it.
    task, classes, normalization (`Normalization.to_dict()`), vocabulary (`Vocabulary.to_dict()`):
    the run card's, written to the JSON. dynamic_batch: the ONNX graph's batch axis is symbolic
    (TorchScript traces always take any batch size; a detector takes one image per call).
    check_inputs: (N, *input_shape) inputs for the check, normalised (default: 3 random ones).
    tolerance: the largest max relative difference accepted (`check`); raise it only for a model whose
    own float32 rounding is that large (the refusal says when: it measures PyTorch against float64).
    meta: anything else for the JSON's "model" entry (registry name, options, run directory).
    """
    fmt = get_format(format)
    path = Path(path)
    sidecar = sidecar_path(path)
    _refuse_existing(path, sidecar, overwrite)
    input_shape = _shape(input_shape)
    input_dtype = input_dtype or ("long" if len(input_shape) == 1 else "float")
    if input_dtype not in DTYPES:
        raise UserError(f"input dtype must be 'float' or 'long' (word ids); got {input_dtype!r}")
    check_range("tolerance", tolerance, 0, 1, low_open=True, high_open=True)
    if task not in TASKS:
        raise UserError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    if task == "detection" and dynamic_batch:
        raise UserError("an exported detector takes one image per call (its outputs hold as many rows as it "
                        "finds objects), so it has no dynamic batch; export it without --dynamic-batch")
    if isinstance(fmt, OnnxFormat):
        require_onnx()  # before minutes of work, not after
    # the batch axis is free where asked, and always in a trace; a detector takes one image
    free = task != "detection" and (dynamic_batch or isinstance(fmt, TorchScriptFormat))
    with _inference(model) as net:
        inputs = _inputs(net, check_inputs, input_shape, input_dtype)
        exported, check, outputs, names = _export_checked(net, fmt, task, inputs, free, tolerance)
    check["inputs"] = f"{len(inputs)} {'given' if check_inputs is not None else 'random (seed 0)'} inputs"
    info = _describe(fmt, path, exported, task=task, classes=list(classes), input_dtype=input_dtype, names=names,
                     outputs=outputs, free=free, normalization=normalization, vocabulary=vocabulary, meta=meta or {})
    info["check"] = check
    _refuse_existing(path, sidecar, overwrite)  # again: minutes may have passed
    write_bytes(path, exported.data)
    write_json(sidecar, info)
    return ExportResult(path, sidecar, fmt.name, check["max_relative_difference"], tuple(check["batch_sizes"]),
                        len(exported.data), info)


def _export_checked(net: nn.Module, fmt, task: str, inputs: torch.Tensor, free: bool, tolerance: float):
    """Export `net` in memory and run the file against it: (Exported, the check's record, the output
    shapes at batch 1, the output names); a `UserError` if the file does not compute what `net` does."""
    graph, reference, input_name, names, translations = _graph(net, fmt, task, tuple(inputs.shape[1:]))
    # a free batch axis is traced at batch 2: at 1, torch.export would fix it (0 and 1 specialise)
    example = (inputs[:2] if len(inputs) >= 2 else inputs.repeat(2, *[1] * (inputs.ndim - 1))) if free else inputs[:1]
    exported = fmt.write(graph, example, dynamic_batch=free, input_name=input_name, output_names=names,
                         translations=translations)
    run, checked_with = fmt.runner(exported.data)
    batches = [inputs[:1], inputs] if free and len(inputs) > 1 else [inputs[i:i + 1] for i in range(len(inputs))]
    worst, where, detail, rows = compare(reference, run, batches, names)
    if detail is None and not worst <= tolerance:
        hint = "" if task == "detection" else _rounding_hint(net, batches, worst)
        detail = (f"its '{where}' output differs from PyTorch's by up to {worst:.1e} relative to its largest "
                  f"value, above the {tolerance:.0e} allowed{hint}")
    if detail is not None:
        raise UserError(f"the exported {fmt.name} file does not compute what the model computes: {detail}; "
                        f"nothing was written")
    check = {"max_relative_difference": worst, "tolerance": tolerance, "definition": DEFINITION,
             "batch_sizes": sorted({len(b) for b in batches}), **checked_with}
    if task == "detection":  # random images may give a trained detector nothing to find: say what was compared
        check["detections_compared"] = rows
    return exported, check, [tuple(o.shape) for o in reference(inputs[:1])], names


def _rounding_hint(net: nn.Module, batches: Sequence[torch.Tensor], worst: float) -> str:
    """When the model's own float32 outputs are about as far from a float64 copy of it as the file is
    from them, the difference is the model amplifying rounding (each float32 runtime rounds its own
    way), not a wrong graph: say so, and which tolerance would accept the file. Else nothing."""
    exact = copy.deepcopy(net).double()
    noise = 0.0
    with torch.no_grad():
        for x in batches:
            noise = max(noise, relative_difference(net(x), exact(x.double() if x.is_floating_point() else x)))
    if not worst <= 4 * noise:  # two float32 results each within `noise` of exact differ by at most 2 * noise
        return ""
    step = 10 ** math.ceil(math.log10(worst * 2))
    return (f" (the model's own float32 outputs are {noise:.1e} from a float64 copy of it: it amplifies rounding, "
            f"which --tolerance {step:.0e} would accept)")


def _refuse_existing(path: Path, sidecar: Path, overwrite: bool) -> None:
    for p in (path, sidecar):
        if p.is_dir():
            raise UserError(f"{p} is a directory; give the export a file name, e.g. {p / ('model' + path.suffix)}")
        if p.exists() and not overwrite:
            raise UserError(f"{p} already exists; export to another file, or replace it with --overwrite "
                            f"(overwrite=True)")


def _shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(input_shape)
    if not 1 <= len(shape) <= 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape):
        raise UserError(f"input shape must be 1 to 3 positive whole numbers, (C, H, W), (T,) or (T, F); got {shape}")
    return shape


@contextlib.contextmanager
def _inference(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode on the CPU (a copy if it lives elsewhere: the file is written from CPU
    tensors and checked on the CPU); each module's training flag is put back afterwards."""
    on_cpu = all(t.device.type == "cpu" for t in itertools.chain(model.parameters(), model.buffers()))
    net = model if on_cpu else copy.deepcopy(model).cpu()
    modes = [(m, m.training) for m in net.modules()]
    net.eval()
    try:
        yield net
    finally:
        for m, training in modes:
            m.training = training


def _inputs(net: nn.Module, given: torch.Tensor | None, shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    if given is None:
        return random_inputs(net, shape, dtype, CHECK_INPUTS)
    given = torch.as_tensor(given)
    if given.ndim != len(shape) + 1 or tuple(given.shape[1:]) != shape or len(given) == 0:
        raise UserError(f"check inputs must be (N, {', '.join(map(str, shape))}); got {tuple(given.shape)}")
    return given.to(DTYPES[dtype])


def _graph(net: nn.Module, fmt, task: str, input_shape: tuple[int, ...]):
    """(module to export, reference function giving the outputs as a tuple, input name, output names,
    ONNX translations of custom operators)."""
    if task != "detection":
        def reference(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            with torch.no_grad():
                out = net(x)
            return tuple(out) if isinstance(out, (tuple, list)) else (out,)
        return net, reference, "input", ["outputs" if task == "regression" else "logits"], None

    from .detection import DetectorGraph, onnx_nms
    if len(input_shape) != 3:
        raise UserError(f"a detector takes images (C, H, W); got input shape {input_shape}")
    graph = DetectorGraph(net, input_shape, torchscript=isinstance(fmt, TorchScriptFormat))
    names = ["boxes", "labels", "scores"] + (["masks"] if graph.has_masks else [])

    def reference(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with torch.no_grad():
            det = net(x)[0]
        return tuple(det[k] for k in names)
    return graph, reference, "images", names, {torch.ops.classicnets.nms.default: onnx_nms}


MEANINGS = {
    "multiclass": "logits, one per class in the order of 'classes'; softmax gives the probabilities",
    "binary": "one logit; sigmoid gives the probability of the second class in 'classes'",
    "regression": "the model's predictions, in the units of the training targets",
    "boxes": "x1, y1, x2, y2 in the input image's pixels, one row per detection, best score first",
    "labels": "0-based indices into 'classes'",
    "scores": "each detection's class probability (softmax over the classes and background)",
    "masks": "each detection's mask: probabilities on the input image's pixels",
}


def _preprocess(shape: tuple[int, ...], dtype: str, normalization: dict | None) -> str:
    if dtype == "long":
        return (f"word ids (T = {shape[0]}): text encoded with 'vocabulary' (Keras's imdb encoding: ids of word "
                f"ranks + index_from, start_char first, oov_char for rare words), padded or truncated to T")
    if normalization is None:
        return "none: the values the model was trained on, as they are"
    per = ("per element i of the flattened (C, H, W) image" if normalization.get("shape") is not None
           else "per channel c")
    return (f"raw values x (pixels 0..max_value, {' x '.join(map(str, shape))}) become "
            f"(x / max_value - mean) / std, {per}, with 'normalization''s max_value, mean and std")


def _describe(fmt, path: Path, exported: Exported, *, task: str, classes: list[str], input_dtype: str, names: list[str], outputs: list[tuple[int, ...]], free: bool,
              normalization: dict | None, vocabulary: dict | None, meta: dict) -> dict[str, Any]:
    """The JSON written beside the file (everything but the check, which the caller adds)."""
    from .. import __version__

    input_name = exported.input_name
    batch = "batch" if free else 1
    if task == "detection":
        out_shapes = [["detections", *s[1:]] for s in outputs]
        notes = [("one image per call (batch axis 1) of exactly the input's height and width: the anchors are "
                 "constants of this image size; resize images to it and scale the boxes back")]
    else:
        out_shapes = [[batch, *s[1:]] for s in outputs]
        notes = ["every axis but the batch axis is fixed at the input shape: "
                 + ("reviews of exactly T word ids" if input_dtype == "long" else
                    "sequences of exactly T steps" if len(exported.input_shape) == 3 else "images of exactly H x W")]
    notes.append("inference path: eval mode (dropout off, batch normalisation on its running statistics)")
    if isinstance(fmt, TorchScriptFormat):
        notes.append("TorchScript (torch.jit.trace): torch 2.13 marks torch.jit deprecated in favour of "
                     "torch.export; the file loads with torch.jit.load in Python and torch::jit::load in libtorch")
    info = {
        "format": fmt.name,
        "file": path.name,
        "task": task,
        "classes": classes,
        "input": {"name": input_name, "shape": exported.input_shape,
                  "dtype": {"float": "float32", "long": "int64"}[input_dtype]},
        "outputs": [{"name": n, "shape": s, "meaning": MEANINGS[n if task == "detection" else task]}
                    for n, s in zip(names, out_shapes)],
        "normalization": normalization,
        "preprocess": _preprocess(tuple(exported.input_shape[1:]), input_dtype, normalization),
        "usage": fmt.usage(path.name, input_name, names),
        "notes": notes,
        "versions": {"classicnets": __version__, "torch": torch.__version__, **exported.facts},
        "model": meta,
    }
    if vocabulary is not None:
        info["vocabulary"] = vocabulary
    return info
