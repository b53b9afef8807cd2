"""The two file formats: how a network becomes bytes, and how those bytes are run back for the check.

- ONNX: `torch.export.export` (non-strict) captures the network as an ExportedProgram, with the batch
  axis symbolic when asked, then `torch.onnx.export` translates it (onnxscript's function library; the
  TorchScript-based exporter is deprecated since torch 2.9). The file is one self-contained protobuf
  (weights inside: every zoo model is far below protobuf's 2 GB); it is run back in onnxruntime's CPU
  provider with its default graph optimisations, as a user's session would run it.
- TorchScript: `torch.jit.trace`. In eval mode every classifier of the zoo runs one fixed path (no
  branch depends on values), so a trace records it exactly; `torch.jit.script` would need every
  family's Python to be TorchScript's subset (the recurrent layers' Literal options, the zoo's
  keyword-only builders). The detector's data-dependent NMS is a scripted function the trace calls
  (`detection.nms_loop`), which keeps its loop. Run back with `torch.jit.load`. (torch 2.13 marks
  torch.jit deprecated in favour of torch.export; the format still loads in libtorch and in Python.)

Each `Format` writes bytes in memory, so nothing reaches the disk before the check has passed.
"""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import UserError

EXTRA = "pip install 'classicnets[export]'"
Runner = Callable[[torch.Tensor], tuple[torch.Tensor, ...]]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the exporters' chatter for the length of one export: torch.onnx logs a warning for each
    torchvision operator it cannot register (no torchvision here, none needed), torch.jit warns that
    it is deprecated and that tensor-to-bool conversions in shape checks may not generalise. What
    matters, whether the file computes what the model computes, is measured by the check afterwards."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def require_onnx() -> None:
    """`UserError` naming the extra when a package the ONNX export needs is missing: onnx (the file
    format), onnxscript (torch.onnx's translator since torch 2.9) and onnxruntime (the check)."""
    missing = []
    for name in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise UserError(f"ONNX export needs the onnx, onnxscript and onnxruntime packages ({', '.join(missing)} "
                        f"missing); install them with {EXTRA}")


@dataclass(frozen=True)
class Exported:
    data: bytes                 # the file's content
    facts: dict[str, Any]       # versions and settings for the JSON beside it
    input_name: str             # the file's input
    input_shape: list           # its shape, "batch" where the axis is free


class OnnxFormat:
    name, suffix = "onnx", ".onnx"

    def write(self, net: nn.Module, example: torch.Tensor, *, dynamic_batch: bool, input_name: str,
              output_names: Sequence[str], translations: dict | None = None) -> Exported:
        require_onnx()
        import onnx

        dims = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
        with quiet(), torch.no_grad():
            program = torch.export.export(net, (example,), dynamic_shapes=dims, strict=False)
            onnx_program = torch.onnx.export(program, (example,), dynamo=True, external_data=False, verbose=False,
                                             input_names=[input_name], output_names=list(output_names),
                                             custom_translation_table=translations)
        proto = onnx_program.model_proto
        if dynamic_batch:
            _rename_dim(proto, proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param, "batch")
        opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
        shape = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
        return Exported(proto.SerializeToString(), {"onnx_opset": opset, "onnx": onnx.__version__}, input_name, shape)

    def runner(self, data: bytes) -> tuple[Runner, dict[str, Any]]:
        import onnxruntime

        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def run(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return tuple(torch.from_numpy(y) for y in session.run(None, {name: x.numpy()}))
        return run, {"checked_with": f"onnxruntime {onnxruntime.__version__} (CPUExecutionProvider)"}

    @staticmethod
    def usage(file: str, input_name: str, output_names: Sequence[str]) -> str:
        outs = ", ".join(output_names)
        return (f"import onnxruntime; session = onnxruntime.InferenceSession('{file}'); "
                f"[{outs}] = session.run(None, {{'{input_name}': x}})  # x: a numpy array of 'input'")


def _rename_dim(proto, old: str, new: str) -> None:
    """Call torch.export's symbol for the batch axis ("s77") by its name wherever the graph declares
    shapes, so a runtime shows the input as ("batch", 3, 32, 32)."""
    graph = proto.graph
    for value in (*graph.input, *graph.output, *graph.value_info):
        for d in value.type.tensor_type.shape.dim:
            if d.dim_param == old:
                d.dim_param = new


class TorchScriptFormat:
    name, suffix = "torchscript", ".pt"

    def write(self, net: nn.Module, example: torch.Tensor, *, dynamic_batch: bool, input_name: str,
              output_names: Sequence[str], translations: dict | None = None) -> Exported:
        with quiet(), torch.no_grad():
            traced = torch.jit.trace(net, (example,), check_trace=False)
            buf = io.BytesIO()
            torch.jit.save(traced, buf)
        shape = ["batch", *example.shape[1:]] if dynamic_batch else list(example.shape)
        return Exported(buf.getvalue(), {"torchscript": "torch.jit.trace"}, input_name, shape)

    def runner(self, data: bytes) -> tuple[Runner, dict[str, Any]]:
        with quiet():
            module = torch.jit.load(io.BytesIO(data), map_location="cpu")

        def run(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            with torch.no_grad(), quiet():
                out = module(x)
            return tuple(out) if isinstance(out, (tuple, list)) else (out,)
        return run, {"checked_with": f"torch.jit.load, torch {torch.__version__}"}

    @staticmethod
    def usage(file: str, input_name: str, output_names: Sequence[str]) -> str:
        outs = ", ".join(output_names)
        return f"import torch; model = torch.jit.load('{file}'); {outs} = model(x)  # x: a torch tensor of 'input'"


FORMATS = {f.name: f for f in (OnnxFormat(), TorchScriptFormat())}


def get_format(name: str) -> OnnxFormat | TorchScriptFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise UserError(f"unknown export format {name!r}; choose {' or '.join(FORMATS)}") from None
