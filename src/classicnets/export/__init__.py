"""Export a trained model to ONNX or TorchScript, checked against PyTorch, with its preprocessing beside it.

    from classicnets.export import export_model
    result = export_model(model, "model.onnx", format="onnx", input_shape=(3, 32, 32), classes=classes,
                          normalization=card.normalization)
    print(result.summary())

`export_model` (api) writes the file and `<file>.json`; `formats` holds the two writers and their
runtimes (onnxruntime, torch.jit.load); `check` the parity measure; `detection` the detectors'
inference path in exportable form. ONNX needs the optional extra `classicnets[export]`.
"""
from .._lazy import lazy_exports

__all__ = ["TOLERANCE", "ExportResult", "export_model", "relative_difference", "sidecar_path"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "ExportResult": ".api", "export_model": ".api", "sidecar_path": ".api",
    "TOLERANCE": ".check", "relative_difference": ".check",
})
