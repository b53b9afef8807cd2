"""ONNX and TorchScript export (classicnets.export): files that compute what the model computes.

Fast tests, a few models at small inputs: a conv net on the real `digits` images (ONNX with a dynamic
batch, TorchScript), a bidirectional LSTM on word ids, the JSON beside the file and what its
preprocessing means, and the refusals (existing files, a missing optional dependency, a file that
does not match the model). The detector: tests/export/test_export_detection.py; every classifier family:
tests/export/test_export_sweep.py (slow).
"""
import json
import math
import sys

import numpy as np
import pytest
import torch
from torch import nn

from classicnets.data import load_dataset
from classicnets.errors import UserError
from classicnets.export import TOLERANCE, export_model, relative_difference, sidecar_path
from classicnets.train.evaluation import predict
from classicnets.zoo import create

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.* is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def ort():
    return pytest.importorskip("onnxruntime", reason="ONNX export needs the extra: pip install 'classicnets[export]'")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def lenet():
    """LeNet (8x8 digits) trained for nothing: random weights are a function like any other."""
    return create("lenet", seed=0).eval()


@pytest.fixture(scope="module")
def lenet_onnx(tmp_path_factory, ort, lenet, digits):
    """lenet exported to ONNX with a dynamic batch, checked on real normalised digits."""
    norm = digits.normalization()
    path = tmp_path_factory.mktemp("onnx") / "lenet.onnx"
    result = export_model(lenet, path, format="onnx", input_shape=(1, 8, 8), classes=digits.classes,
                          normalization=norm.to_dict(), dynamic_batch=True,
                          check_inputs=norm(digits.test.x[:4]), meta={"name": "lenet"})
    return result, norm


def test_onnx_file_computes_the_models_logits_at_any_batch_size(ort, lenet_onnx, lenet, digits):
    result, norm = lenet_onnx
    assert result.path.exists() and result.format == "onnx"
    assert result.batch_sizes == (1, 4) and result.max_relative_difference <= TOLERANCE
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", 1, 8, 8]  # the axis is symbolic, and named
    assert session.get_outputs()[0].shape == ["batch", 10]
    for n in (1, 7, 33):  # batch sizes the check did not run
        x = norm(digits.test.x[10:10 + n])
        [logits] = session.run(None, {"input": x.numpy()})
        with torch.no_grad():
            expected = lenet(x)
        assert logits.shape == (n, 10)
        assert relative_difference(torch.from_numpy(logits), expected) <= TOLERANCE


def test_sidecar_says_how_to_feed_the_file_raw_pixels(ort, lenet_onnx, lenet, digits):
    """The JSON's normalisation, applied by hand to raw pixels as its 'preprocess' says, gives the
    file inputs on which its softmax equals classicnets' own `predict` on the raw pixels."""
    result, norm = lenet_onnx
    info = json.loads(sidecar_path(result.path).read_text())
    assert info == result.info
    assert info["format"] == "onnx" and info["file"] == "lenet.onnx" and info["task"] == "multiclass"
    assert info["classes"] == digits.classes
    assert info["input"] == {"name": "input", "shape": ["batch", 1, 8, 8], "dtype": "float32"}
    assert info["outputs"][0]["name"] == "logits" and info["outputs"][0]["shape"] == ["batch", 10]
    assert info["normalization"] == norm.to_dict()
    assert info["versions"]["torch"] == torch.__version__ and info["versions"]["onnx_opset"] >= 18
    assert info["check"]["max_relative_difference"] == result.max_relative_difference
    assert info["check"]["batch_sizes"] == [1, 4] and info["model"] == {"name": "lenet"}
    assert "onnxruntime.InferenceSession('lenet.onnx')" in info["usage"]
    assert result.summary().endswith(f"at batch sizes 1 and 4: max relative difference "
                                     f"{result.max_relative_difference:.1e} (allowed 1e-05)")

    raw = digits.test.x[:50].numpy().astype(np.float32)                 # (N, 1, 8, 8), 0..16
    n = info["normalization"]
    mean = np.array(n["mean"], np.float32)[None, :, None, None]
    std = np.array(n["std"], np.float32)[None, :, None, None]
    x = (raw / n["max_value"] - mean) / std
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    [logits] = session.run(None, {info["input"]["name"]: x})
    probs = torch.softmax(torch.from_numpy(logits), 1)
    expected = predict(lenet, digits.test.x[:50], normalization=norm)
    assert torch.allclose(probs, expected, atol=1e-5)


def test_torchscript_of_a_recurrent_model_on_word_ids(tmp_path):
    model = create("imdb_bilstm", num_words=200, seed=0)
    result = export_model(model, tmp_path / "bilstm.pt", format="torchscript", input_shape=(24,))
    assert result.batch_sizes == (1, 3) and result.max_relative_difference <= TOLERANCE
    info = result.info
    assert info["input"] == {"name": "input", "shape": ["batch", 24], "dtype": "int64"}
    assert info["normalization"] is None and "word ids" in info["preprocess"]
    assert "exactly T word ids" in info["notes"][0]
    loaded = torch.jit.load(str(result.path))
    ids = torch.randint(0, 200, (5, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(loaded(ids), model.eval()(ids))


def test_onnx_of_a_recurrent_model_on_word_ids(ort, tmp_path):
    model = create("imdb_bilstm", num_words=200, seed=0)
    result = export_model(model, tmp_path / "bilstm.onnx", format="onnx", input_shape=(24,),
                          task="binary", classes=["negative", "positive"])
    assert result.batch_sizes == (1,) and result.max_relative_difference <= TOLERANCE
    assert result.info["input"]["shape"] == [1, 24] and "sigmoid" in result.info["outputs"][0]["meaning"]


def test_export_runs_the_inference_path_and_leaves_the_models_mode_alone(tmp_path):
    """Dropout is off in the file (a trained model exported while in training mode still gives its
    eval-mode outputs), and the model is handed back in the mode it came in."""
    model = create("cifar_dropout_convnet", num_classes=3, seed=0).train()
    result = export_model(model, tmp_path / "m.pt", format="torchscript", input_shape=(3, 32, 32))
    assert model.training and all(m.training for m in model.modules())
    x = torch.randn(2, 3, 32, 32)
    loaded = torch.jit.load(str(result.path))
    with torch.no_grad():
        assert torch.equal(loaded(x), loaded(x))
        assert torch.equal(loaded(x), model.eval()(x))


def test_an_existing_file_is_refused_and_kept(tmp_path, lenet):
    for existing in ("m.onnx", "m.onnx.json"):
        d = tmp_path / existing.replace(".", "_")
        d.mkdir()
        (d / existing).write_text("mine")
        with pytest.raises(UserError, match="already exists; export to another file, or replace it with "
                                            "--overwrite") as e:
            export_model(lenet, d / "m.onnx", format="onnx", input_shape=(1, 8, 8))
        assert "\n" not in str(e.value)
        assert (d / existing).read_text() == "mine" and sorted(p.name for p in d.iterdir()) == [existing]


def test_overwrite_replaces_both_files(tmp_path, lenet):
    (tmp_path / "m.pt").write_text("old")
    (tmp_path / "m.pt.json").write_text("old")
    export_model(lenet, tmp_path / "m.pt", format="torchscript", input_shape=(1, 8, 8), overwrite=True)
    assert json.loads((tmp_path / "m.pt.json").read_text())["format"] == "torchscript"
    assert torch.jit.load(str(tmp_path / "m.pt"))(torch.zeros(1, 1, 8, 8)).shape == (1, 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.pt.json"]  # no temporary file left


@pytest.mark.parametrize("module", ["onnx", "onnxscript", "onnxruntime"])
def test_a_missing_optional_dependency_names_the_extra(tmp_path, lenet, monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    with pytest.raises(UserError, match=rf"\(.*\b{module} .*missing\); install them with "
                                        r"pip install 'classicnets\[export\]'$"):
        export_model(lenet, tmp_path / "m.onnx", format="onnx", input_shape=(1, 8, 8))
    assert not any(tmp_path.iterdir())


class SignBranch(nn.Module):
    """Branches on a value of the whole batch: a trace records only the branch its example took."""

    def forward(self, x):
        return x * 2 if bool(x.sum() > 0) else x * -3


def test_a_file_that_does_not_compute_what_the_model_computes_is_refused(tmp_path):
    # traced on the first two rows (sum > 0: x * 2); the batch of all four sums below 0 (x * -3)
    x = torch.tensor([[1.0] * 4, [1.0] * 4, [-5.0] * 4, [-5.0] * 4])
    with pytest.raises(UserError, match=r"^the exported torchscript file does not compute what the model "
                                        r"computes: its 'outputs' output differs .* above the 1e-05 allowed; nothing was "
                                        r"written$"):
        export_model(SignBranch(), tmp_path / "m.pt", format="torchscript", input_shape=(4,), input_dtype="float",
                     task="regression", check_inputs=x)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("kwargs, message", [
    ({"format": "keras"}, "unknown export format 'keras'; choose onnx or torchscript"),
    ({"input_dtype": "int8"}, "input dtype must be 'float' or 'long'"),
    ({"input_shape": (0, 8, 8)}, "input shape must be 1 to 3 positive whole numbers"),
    ({"task": "detection", "dynamic_batch": True}, "an exported detector takes one image per call"),
    ({"check_inputs": torch.zeros(2, 1, 9, 9)}, r"check inputs must be \(N, 1, 8, 8\); got \(2, 1, 9, 9\)"),
    ({"tolerance": 0.0}, "--tolerance must be greater than 0 and less than 1"),
])
def test_impossible_requests_get_one_sentence(tmp_path, lenet, kwargs, message):
    args = {"format": "torchscript", "input_shape": (1, 8, 8), **kwargs}
    with pytest.raises(UserError, match=message):
        export_model(lenet, tmp_path / "m.pt", **args)
    assert not any(tmp_path.iterdir())


class Cancels(nn.Module):
    """(x + 0.3) - x at x near 1e4: float32 keeps 0.3 to about 1e-3 of itself, float64 to 1e-12."""

    def __init__(self):
        super().__init__()
        self.shift = nn.Parameter(torch.tensor(0.3))

    def forward(self, x):
        return (x + self.shift) - x


def test_a_refusal_says_when_the_model_itself_amplifies_rounding():
    from classicnets.export.api import _rounding_hint

    x = 1e4 + torch.rand(8, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        noise = relative_difference(Cancels()(x), Cancels().double()(x.double()))
    assert 1e-4 < noise < 1e-2
    hint = _rounding_hint(Cancels(), [x], 1.5 * noise)  # a file as far from PyTorch as float32 rounding goes
    assert f"the model's own float32 outputs are {noise:.1e} from a float64 copy of it" in hint
    assert "--tolerance 1e-02 would accept" in hint or "--tolerance 1e-03 would accept" in hint
    assert _rounding_hint(Cancels(), [x], 0.5) == ""  # far beyond rounding: a wrong file, no hint


def test_word_ids_need_an_embedding(tmp_path):
    with pytest.raises(UserError, match="has no embedding layer, so it cannot take word ids"):
        export_model(nn.Linear(5, 1), tmp_path / "m.pt", format="torchscript", input_shape=(5,))


def test_relative_difference_is_scaled_by_the_largest_reference_value():
    b = torch.tensor([100.0, 0.0, -1.0])
    assert relative_difference(b + torch.tensor([0.0, 1e-3, 0.0]), b) == pytest.approx(1e-5)
    assert relative_difference(torch.zeros(3), torch.zeros(3)) == 0.0
    assert relative_difference(torch.full((3,), 1e-12), torch.zeros(3)) == pytest.approx(1e-6)  # floor 1e-6
    assert relative_difference(torch.zeros(2), torch.zeros(3)) == math.inf
    assert relative_difference(torch.tensor([1, 2]), torch.tensor([1, 3])) == math.inf       # integers: equal or not
    assert math.isnan(relative_difference(torch.tensor([math.nan]), torch.tensor([1.0])))
