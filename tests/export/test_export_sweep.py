"""Every classifier of the zoo, exported to ONNX and TorchScript at a small input, computes what the
PyTorch model computes: max relative difference <= 1e-5 (slow: about 20 minutes on a 2-core CPU).
`python tests/export/sweep.py` prints the same measurements as the table of docs/guide.md (Export)."""
import pytest
from sweep import FORMATS, build, classifiers, input_dependence, parity

from classicnets.export import TOLERANCE
from classicnets.zoo import model_info

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:`torch.jit.* is deprecated:DeprecationWarning")]
NAMES = classifiers()


def test_the_sweep_covers_every_classifier_family():
    from classicnets.zoo.registry import FAMILIES
    assert {model_info(n).family for n in NAMES} == set(FAMILIES)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", NAMES)
def test_every_classifier_exports_within_tolerance(tmp_path, name, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    built = build(name)
    assert input_dependence(*built) > 0.01  # the check compares outputs that change with the input
    result = parity(name, fmt, tmp_path, built=built)
    assert result.max_relative_difference <= TOLERANCE
    assert result.batch_sizes == ((1, 3) if fmt == "torchscript" else (1,))


FIRST_OF_EACH_FAMILY = sorted({model_info(n).family: n for n in reversed(NAMES)}.values())


@pytest.mark.parametrize("name", FIRST_OF_EACH_FAMILY)
def test_a_dynamic_batch_onnx_file_of_each_family(tmp_path, name):
    pytest.importorskip("onnxruntime")
    result = parity(name, "onnx", tmp_path, dynamic_batch=True)
    assert result.batch_sizes == (1, 3) and result.info["input"]["shape"][0] == "batch"
    assert result.max_relative_difference <= TOLERANCE
