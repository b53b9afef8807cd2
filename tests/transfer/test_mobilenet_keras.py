"""The zoo's MobileNet computes what Keras's `applications.MobileNet` computes, given the same weights.

Two references, neither needing Keras or TensorFlow here:

1. tests/fixtures/keras_mobilenet.json, made once with real Keras by
   tests/fixtures/make_keras_mobilenet.py (its docstring has the commands: Keras 3.15.1 installed
   beside the project, run on its PyTorch backend, so no TensorFlow). It holds Keras's outputs for
   MobileNet alpha 0.25 with 10 classes, every weight set from tests/fixtures/formula.py by its Keras
   name and shape, on two formula images scaled to [-1, 1): logits at 64x64 and at an odd 67x67, and
   the base's (2, 2, 2, 256) feature map at 64x64; and the layout of the HDF5 file Keras's own writer
   made of those weights (layer names, weight names and shapes).
2. `keras_forward` below: Keras's forward pass written again in NumPy, layer by layer from
   keras/src/applications/mobilenet.py, channels last, with Keras's kernel layouts (Conv2D
   (kh, kw, in, out), DepthwiseConv2D (kh, kw, in, 1)): Conv2D 'same' (TensorFlow's padding: the odd
   pixel at the bottom and right), ZeroPadding2D(((0, 1), (0, 1))) before each stride-2 depthwise
   convolution ('valid'), BatchNormalization(epsilon=1e-3), ReLU(6.), global average pooling and the
   1x1 `conv_preds`. It is checked against (1), and the zoo against both, to float32 precision.

The zoo's MobileNet used to pad its stride-2 convolutions on both sides (PyTorch's padding=1), which
shifts every feature map after the first convolution by a pixel: `test_symmetric_padding_is_not_keras`
shows what that did to the outputs.
"""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from classicnets.zoo import create

FIXTURES = Path(__file__).parents[1] / "fixtures"
_spec = importlib.util.spec_from_file_location("formula", FIXTURES / "formula.py")
formula = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(formula)

REFERENCE = json.loads((FIXTURES / "keras_mobilenet.json").read_text())
ALPHA, CLASSES = REFERENCE["alpha"], REFERENCE["classes"]
STRIDES = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]  # conv_dw_1 .. conv_dw_13 (Keras's MobileNet)


def keras_weights(include_top: bool = True) -> dict[str, list[np.ndarray]]:
    """{Keras layer name: its weights}, Keras layouts, as the fixture's Keras model held them."""
    layout = REFERENCE["h5_layout"]["weights"]
    return {layer: formula.keras_layer(layer, [tuple(s) for _, s in ws]) for layer, ws in layout.items()
            if include_top or layer != "conv_preds"}


# ---- Keras's forward pass in NumPy (float64), channels last -------------------------------------

def _tf_same(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """TensorFlow's padding='same': ceil(n / s) outputs, the extra pixel of padding after."""
    pads = []
    for n in x.shape[1:3]:
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, [(0, 0), *pads, (0, 0)])


def _windows(x: np.ndarray, k: int, s: int) -> np.ndarray:
    return sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s]  # (N, H', W', C, k, k)


def conv2d(x, kernel, s):  # Keras Conv2D, 'valid', kernel (kh, kw, in, out)
    return np.tensordot(_windows(x, kernel.shape[0], s), kernel, axes=([3, 4, 5], [2, 0, 1]))


def depthwise(x, kernel, s):  # Keras DepthwiseConv2D, 'valid', kernel (kh, kw, in, 1)
    return np.einsum("nhwcij,ijc->nhwc", _windows(x, kernel.shape[0], s), kernel[..., 0])


def bn_relu6(x, w):  # BatchNormalization(epsilon=1e-3) in inference, then ReLU(6.)
    gamma, beta, mean, var = w
    return np.clip((x - mean) / np.sqrt(var + 1e-3) * gamma + beta, 0.0, 6.0)


def keras_forward(w, x, include_top: bool, symmetric: bool = False) -> np.ndarray:
    """MobileNet's outputs for channels-last `x` with Keras weights `w`; `symmetric=True` pads
    every 3x3 convolution by one pixel on all sides instead (what PyTorch's padding=1 does)."""
    def pad(x, s):
        if symmetric:
            return np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
        return _tf_same(x, 3, 1) if s == 1 else np.pad(x, [(0, 0), (0, 1), (0, 1), (0, 0)])  # conv_pad_N

    x = x.astype(np.float64)
    first = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)]) if symmetric else _tf_same(x, 3, 2)
    x = bn_relu6(conv2d(first, w["conv1"][0], 2), w["conv1_bn"])                          # conv1: 'same', /2
    for i, s in enumerate(STRIDES, 1):
        x = bn_relu6(depthwise(pad(x, s), w[f"conv_dw_{i}"][0], s), w[f"conv_dw_{i}_bn"])
        x = bn_relu6(conv2d(x, w[f"conv_pw_{i}"][0], 1), w[f"conv_pw_{i}_bn"])           # 1x1
    if not include_top:
        return x                                                                           # (N, H/32, W/32, C)
    x = x.mean(axis=(1, 2))                     # GlobalAveragePooling2D; Dropout is the identity in inference
    kernel, bias = w["conv_preds"]
    return x @ kernel[0, 0] + bias              # conv_preds (1x1), logits (classifier_activation=None)


# ---- the zoo's model with the same weights ------------------------------------------------------

def zoo_mobilenet(w, include_top: bool) -> torch.nn.Module:
    """The zoo's MobileNet with Keras weights `w`, mapped here by hand (not by transfer.weights)."""
    model = create("mobilenet", alpha=ALPHA, num_classes=CLASSES, include_top=include_top).eval()
    state = model.state_dict()

    def put(key, a):
        t = torch.from_numpy(np.ascontiguousarray(a))
        assert state[key].shape == t.shape, key
        state[key] = t

    def bn(prefix, ws):
        for name, a in zip(("weight", "bias", "running_mean", "running_var"), ws):
            put(f"{prefix}.{name}", a)

    put("features.0.0.weight", w["conv1"][0].transpose(3, 2, 0, 1))
    bn("features.0.1", w["conv1_bn"])
    for i in range(1, 14):
        put(f"features.{i}.depthwise.0.weight", w[f"conv_dw_{i}"][0].transpose(2, 3, 0, 1))
        bn(f"features.{i}.depthwise.1", w[f"conv_dw_{i}_bn"])
        put(f"features.{i}.pointwise.0.weight", w[f"conv_pw_{i}"][0].transpose(3, 2, 0, 1))
        bn(f"features.{i}.pointwise.1", w[f"conv_pw_{i}_bn"])
    if include_top:
        put("head.3.weight", w["conv_preds"][0][0, 0].T)
        put("head.3.bias", w["conv_preds"][1])
    model.load_state_dict(state)
    return model


def run_zoo(model, x_nhwc: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = model(torch.from_numpy(x_nhwc).permute(0, 3, 1, 2)).numpy()
    return out if out.ndim == 2 else out.transpose(0, 2, 3, 1)  # feature maps back to channels last


def rel_error(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


CASES = [pytest.param(c, id=f"{c['size']}px-{'top' if c['include_top'] else 'no_top'}") for c in REFERENCE["cases"]]


@pytest.mark.parametrize("case", CASES)
def test_numpy_reference_is_keras(case):
    keras = np.array(case["output"], np.float32).reshape(case["shape"])
    ours = keras_forward(keras_weights(), formula.keras_inputs(case["size"]), case["include_top"])
    assert ours.shape == keras.shape
    assert rel_error(ours, keras) < 1e-5


@pytest.mark.parametrize("case", CASES)
def test_zoo_mobilenet_computes_what_keras_computes(case):
    keras = np.array(case["output"], np.float32).reshape(case["shape"])
    x = formula.keras_inputs(case["size"])
    out = run_zoo(zoo_mobilenet(keras_weights(), case["include_top"]), x)
    assert out.shape == keras.shape
    assert rel_error(out, keras) < 1e-5
    assert rel_error(out, keras_forward(keras_weights(), x, case["include_top"])) < 1e-5


@pytest.mark.parametrize("size", [32, 33, 96, 97])
def test_zoo_matches_the_numpy_reference_at_even_and_odd_sizes(size):
    x = formula.image(f"mobilenet-size-{size}", (1, size, size, 3)) * 2 - 1
    w = keras_weights(include_top=False)
    ref = keras_forward(w, x, include_top=False)
    out = run_zoo(zoo_mobilenet(w, include_top=False), x)
    side = math.ceil(size / 2) // 16  # conv1 'same' gives ceil(n / 2); each padded 'valid' 3x3/2, floor(m / 2)
    assert out.shape == ref.shape == (1, side, side, 256)
    assert rel_error(out, ref) < 1e-5


def test_symmetric_padding_is_not_keras():
    """The old zoo model (padding=1 on both sides of every 3x3 convolution) was off by a pixel from
    the first stride-2 layer on: Keras's outputs differ from it by the order of their own size."""
    case = REFERENCE["cases"][0]
    keras = np.array(case["output"], np.float32).reshape(case["shape"])
    old = keras_forward(keras_weights(), formula.keras_inputs(case["size"]), True, symmetric=True)
    assert rel_error(old, keras) > 0.05
