"""Issue 23 item 16: a COCO file nested deeper than the JSON reader follows is one sentence."""
import pytest

from classicnets.detection.annotations import read_coco
from classicnets.errors import UserError


def test_deeply_nested_coco_json_is_one_sentence_naming_the_file(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"images": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(UserError, match=r"deep\.json nests .* deeper than") as e:
        read_coco(path)
    assert "\n" not in str(e.value)
