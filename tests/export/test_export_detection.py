"""Exporting a detector: Faster R-CNN's inference path as ONNX and TorchScript, checked on `digit_boxes`
images, and the detectors whose proposals cannot be part of a graph, refused with the reason.

The detectors are built with seed 0 and their heads redrawn wider (`sweep.spread_heads`: at their
N(0, 0.01) start all scores are nearly equal and rounding would decide NMS's ranking).
"""
import pytest
import torch
from sweep import digit_boxes_images, spread_heads

from classicnets.data.core import Normalization
from classicnets.detection.ops import nms
from classicnets.errors import UserError
from classicnets.export import TOLERANCE, export_model, relative_difference
from classicnets.export.detection import DetectorGraph, nms_loop, scripted_nms_loop
from classicnets.zoo import create

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.* is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def data():
    x, norm, classes = digit_boxes_images(6)
    return x, Normalization.from_dict(norm), classes


@pytest.fixture(scope="module")
def faster():
    return spread_heads(create("faster_rcnn", seed=0))


def detections(model, x):
    with torch.no_grad():
        d = model(x)[0]
    return d["boxes"], d["labels"], d["scores"]


def assert_same_detections(got, expected):
    assert len(expected[0]) > 10  # something to compare: the spread heads detect plenty
    assert got[0].shape == expected[0].shape and torch.equal(got[1], expected[1])
    assert relative_difference(got[0], expected[0]) <= TOLERANCE
    assert relative_difference(got[2], expected[2]) <= TOLERANCE


def test_the_graph_computes_the_models_detections_in_python(faster, data):
    """Before any export: the exportable rewrite (RoIAlign for one image, NMS as one operator, the
    detection filter with -inf scores instead of boolean indexing) gives the model's own numbers."""
    x, _, _ = data
    graph = DetectorGraph(faster, (1, 64, 64), torchscript=True)
    for i in range(3):
        with torch.no_grad():
            got = graph(x[i:i + 1])
        expected = detections(faster, x[i:i + 1])
        assert_same_detections(got, expected)
        assert all(torch.equal(a, b) for a, b in zip(got, expected))  # same operations: bit for bit


def test_scripted_nms_keeps_what_ops_nms_keeps():
    g = torch.Generator().manual_seed(3)
    xy = torch.rand(300, 2, generator=g) * 50
    boxes = torch.cat([xy, xy + 4 + torch.rand(300, 2, generator=g) * 20], 1)
    scores = torch.rand(300, generator=g)
    scores[:20] = scores[20:40]  # ties: input order decides, as in ops.nms
    for threshold in (0.3, 0.5, 0.7):
        assert torch.equal(nms_loop(boxes, scores, threshold, 1000), nms(boxes, scores, threshold))
        assert torch.equal(nms_loop(boxes, scores, threshold, 7), nms(boxes, scores, threshold)[:7])
        assert torch.equal(scripted_nms_loop()(boxes, scores, threshold, 1000), nms(boxes, scores, threshold))
    dropped = scores.clone()
    dropped[::2] = float("-inf")  # -inf takes no part
    assert torch.equal(nms_loop(boxes, dropped, 0.5, 1000), nms(boxes[1::2], scores[1::2], 0.5) * 2 + 1)


def test_torchscript_faster_rcnn_gives_the_models_detections(tmp_path, faster, data):
    x, norm, classes = data
    result = export_model(faster, tmp_path / "faster.pt", format="torchscript", input_shape=(1, 64, 64),
                          task="detection", classes=classes, normalization=norm.to_dict(), check_inputs=x[:3])
    assert result.batch_sizes == (1,) and result.max_relative_difference <= TOLERANCE
    loaded = torch.jit.load(str(result.path))
    for i in range(3, len(x)):  # images the check did not see
        with torch.no_grad():
            got = loaded(x[i:i + 1])
        assert_same_detections(got, detections(faster, x[i:i + 1]))


def test_onnx_faster_rcnn_gives_the_models_detections(tmp_path, faster, data):
    ort = pytest.importorskip("onnxruntime")
    x, norm, classes = data
    result = export_model(faster, tmp_path / "faster.onnx", format="onnx", input_shape=(1, 64, 64),
                          task="detection", classes=classes, normalization=norm.to_dict(), check_inputs=x[:3])
    info = result.info
    assert info["input"] == {"name": "images", "shape": [1, 1, 64, 64], "dtype": "float32"}
    assert [(o["name"], o["shape"]) for o in info["outputs"]] == [
        ("boxes", ["detections", 4]), ("labels", ["detections"]), ("scores", ["detections"])]
    assert info["classes"] == classes and "one image per call" in info["notes"][0]
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    for i in range(3, len(x)):
        got = [torch.from_numpy(a) for a in session.run(None, {"images": x[i:i + 1].numpy()})]
        assert_same_detections(got, detections(faster, x[i:i + 1]))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_an_image_without_detections_gives_empty_outputs(tmp_path, data, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    x, _, classes = data
    model = spread_heads(create("faster_rcnn", seed=0))
    model.roi_heads.config.score_threshold = 0.999  # no class probability gets there: no detection
    assert len(detections(model, x[:1])[0]) == 0
    result = export_model(model, tmp_path / f"none.{fmt}", format=fmt, input_shape=(1, 64, 64), task="detection",
                          classes=classes, check_inputs=x[:2])  # the check compares the empty outputs
    assert result.max_relative_difference == 0.0


@pytest.mark.parametrize("name, reason", [
    ("fast_rcnn", "its proposals come from selective search"),
    ("rcnn", "its proposals come from selective search"),
])
def test_detectors_on_selective_search_are_refused_with_the_reason(tmp_path, name, reason):
    with pytest.raises(UserError, match=reason):
        export_model(create(name), tmp_path / "m.pt", format="torchscript", input_shape=(1, 64, 64),
                     task="detection")
    assert not any(tmp_path.iterdir())


def test_roi_max_pooling_is_refused_with_the_reason(tmp_path):
    model = create("faster_rcnn", pool="pool")
    with pytest.raises(UserError, match=r"RoI max pooling \(pool='pool'\) cannot be exported: each bin's extent"):
        export_model(model, tmp_path / "m.pt", format="torchscript", input_shape=(1, 64, 64), task="detection")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_mask_rcnn_exports_with_its_masks(tmp_path, data, fmt):
    """TorchScript: the model's numbers. ONNX: boxes, labels and scores within 1e-5, masks within 1e-4: a
    pasted mask moves with its box, and onnxruntime's boxes differ from PyTorch's by ~2e-5 pixels (4e-7
    relative), which shifts each mask's bilinear samples and so its probabilities on the mask's edges
    (measured 0.6-1.7e-5 on these images)."""
    if fmt == "onnx":
        ort = pytest.importorskip("onnxruntime")
    x, _, classes = data
    model = spread_heads(create("mask_rcnn", seed=0))
    result = export_model(model, tmp_path / f"mask.{fmt}", format=fmt, input_shape=(1, 64, 64), task="detection",
                          classes=classes, check_inputs=x[:3], tolerance=TOLERANCE if fmt == "torchscript" else 1e-4)
    assert [o["name"] for o in result.info["outputs"]] == ["boxes", "labels", "scores", "masks"]
    if fmt == "torchscript":
        return
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    for i in range(3, len(x)):
        got = [torch.from_numpy(a) for a in session.run(None, {"images": x[i:i + 1].numpy()})]
        with torch.no_grad():
            expected = model(x[i:i + 1])[0]
        assert_same_detections(got[:3], (expected["boxes"], expected["labels"], expected["scores"]))
        assert relative_difference(got[3], expected["masks"]) <= 1e-4
